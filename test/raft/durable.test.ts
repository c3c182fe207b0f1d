import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftNode, type Ready } from "../../src/raft/node.ts";
import { persistReady } from "../../src/raft/persist.ts";
import { seededRandom } from "../../src/raft/prng.ts";
import type { RaftStorage } from "../../src/raft/storage.ts";
import type { Message, PeerId } from "../../src/raft/types.ts";
import { FileStorage } from "../../adapters/raft/file_storage.ts";
import { openSqliteStorage } from "../../adapters/raft/sqlite.ts";

const root = mkdtempSync(join(tmpdir(), "petrel-raft-durable-"));
after(() => rmSync(root, { recursive: true, force: true }));
const IDS = ["a", "b", "c"];

/** A three-node group driven by hand over durable storage; nodes can be restarted from disk. */
async function scenario(open: (id: PeerId) => Promise<RaftStorage> | RaftStorage) {
  const storages = new Map<PeerId, RaftStorage>();
  const nodes = new Map<PeerId, RaftNode>();
  const applied = new Map<PeerId, string[]>();
  const queue: { from: PeerId; to: PeerId; msg: Message }[] = [];
  let seed = 1;
  const boot = async (id: PeerId) => {
    const s = await open(id);
    storages.set(id, s);
    applied.set(id, []);
    nodes.set(id, new RaftNode({ id, initial: { voters: IDS, observers: [] }, random: seededRandom(seed++) }, s.load()));
  };
  const handle = (id: PeerId, rd: Ready) => {
    persistReady(storages.get(id) as RaftStorage, rd);
    for (const m of rd.messages) queue.push({ from: id, to: m.to, msg: m.msg });
    for (const e of rd.committed) if (e.kind === "cmd") applied.get(id)?.push(new TextDecoder().decode(e.data));
  };
  const settle = () => {
    for (let guard = 0; guard < 10_000; guard++) {
      for (const [id, n] of nodes) while (n.hasReady()) handle(id, n.ready());
      const m = queue.shift();
      if (!m) return;
      nodes.get(m.to)?.step(m.from, m.msg);
    }
  };
  const tickAll = (n: number) => {
    for (let i = 0; i < n; i++) {
      for (const node of nodes.values()) node.tick();
      settle();
    }
  };
  for (const id of IDS) await boot(id);
  tickAll(40);
  const leader = [...nodes.values()].find((n) => n.role === "leader");
  assert.ok(leader);
  for (let i = 0; i < 10; i++) assert.equal(leader.propose(new TextEncoder().encode(`m${i}`)).ok, true);
  settle();
  tickAll(3);
  const term = leader.term;
  // Restart every node from disk: terms, votes and the committed log survive, and are re-applied.
  for (const id of IDS) {
    storages.get(id)?.close();
    nodes.delete(id);
  }
  for (const id of IDS) await boot(id);
  for (const n of nodes.values()) assert.ok(n.term >= term);
  tickAll(60);
  const expected = Array.from({ length: 10 }, (_, i) => `m${i}`);
  for (const id of IDS) assert.deepEqual(applied.get(id), expected, `node ${id} after restart`);
  for (const s of storages.values()) s.close();
}

test("durable: a group on file storage restarts from disk with its log", async () => {
  await scenario((id) => new FileStorage(join(root, `file-${id}`)));
});

test("durable: a group on sqlite storage restarts from disk with its log", async () => {
  await scenario((id) => openSqliteStorage(join(root, `sqlite-${id}.db`)));
});
