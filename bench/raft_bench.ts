/**
 * Raft benchmark: a 3-node group on one process over the in-memory network (batches go through the binary
 * codec), 128-byte entries. Measures committed entries per second and commit latency (propose -> applied on
 * the leader) for a single sequential proposer and for a batched, pipelined proposer.
 *
 *   bun run bench/raft_bench.ts [--storage memory|file|sqlite] [--seconds 3]
 *   deno run -A bench/raft_bench.ts ...
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftHost, type RaftGroup } from "../src/raft/host.ts";
import { MemoryRaftNetwork } from "../src/raft/memory_network.ts";
import { MemoryStorage } from "../src/raft/memory_storage.ts";
import { seededRandom } from "../src/raft/prng.ts";
import type { RaftStorage } from "../src/raft/storage.ts";
import { FileStorage } from "../adapters/raft/file_storage.ts";
import { openSqliteStorage } from "../adapters/raft/sqlite.ts";

function args(): string[] {
  const g = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
  return g.Deno ? g.Deno.args : (g.process?.argv.slice(2) ?? []);
}
const argv = args();
const opt = (name: string, def: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const storageKind = opt("--storage", "memory");
const seconds = Number(opt("--seconds", "3"));
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

const IDS = ["n1", "n2", "n3"];
const dir = mkdtempSync(join(tmpdir(), "petrel-raft-bench-"));

async function makeStorage(id: string): Promise<RaftStorage> {
  if (storageKind === "file") return new FileStorage(join(dir, id));
  if (storageKind === "sqlite") return await openSqliteStorage(join(dir, `${id}.db`));
  return new MemoryStorage();
}

interface Waiter {
  resolve: () => void;
}

async function setup() {
  const net = new MemoryRaftNetwork();
  const hosts: RaftHost[] = [];
  const waiting = new Map<number, Waiter>();
  let appliedOnLeader = 0;
  const groups: RaftGroup[] = [];
  for (const [i, id] of IDS.entries()) {
    let host: RaftHost | null = null;
    const transport = net.attach(id, (b) => host?.receive(b));
    host = new RaftHost({ id, transport, random: seededRandom(i + 1) });
    hosts.push(host);
    const h = host;
    const g = host.addGroup({
      group: "bench",
      storage: await makeStorage(id),
      initial: { voters: IDS, observers: [] },
      maxBatch: 4096,
      maxInflight: 256,
      handlers: {
        apply: (e) => {
          // Compact as a real state machine would, so the log does not grow without bound.
          if (e.index % 65536 === 0) queueMicrotask(() => h.groups.get("bench")?.compact(e.index, new Uint8Array(0)));
          if (!h.groups.get("bench")?.isLeader()) return;
          appliedOnLeader = e.index;
          const w = waiting.get(e.index);
          if (w) {
            waiting.delete(e.index);
            w.resolve();
          }
        },
        restore: () => {},
      },
    });
    groups.push(g);
  }
  // Elect a leader on virtual ticks.
  for (let t = 0; t < 500 && !groups.some((g) => g.isLeader()); t++) {
    for (const h of hosts) h.tick();
    await new Promise((r) => setTimeout(r, 0));
  }
  const leader = groups.find((g) => g.isLeader());
  if (!leader) throw new Error("no leader");
  // Let the no-op commit.
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  const timer = setInterval(() => hosts.forEach((h) => h.tick()), 50);
  return {
    leader,
    waiting,
    applied: () => appliedOnLeader,
    net,
    close: () => {
      clearInterval(timer);
      for (const h of hosts) for (const g of h.groups.keys()) h.removeGroup(g);
    },
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function payload(): Uint8Array {
  const b = new Uint8Array(128);
  crypto.getRandomValues(b);
  return b;
}

async function single() {
  const s = await setup();
  const data = payload();
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    const start = performance.now();
    const r = s.leader.propose(data);
    if (!r.ok) throw new Error(r.error);
    await new Promise<void>((resolve) => s.waiting.set(r.index, { resolve }));
    lat.push(performance.now() - start);
    n++;
  }
  const elapsed = (performance.now() - t0) / 1000;
  s.close();
  lat.sort((a, b) => a - b);
  return { rate: n / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), n };
}

async function batched(batch: number, window: number) {
  const s = await setup();
  const data = payload();
  const batchData = Array.from({ length: batch }, () => data);
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const first = s.applied() + 1;
  let inflight = 0;
  let last = 0;
  await new Promise<void>((done) => {
    const pump = () => {
      while (inflight < window && performance.now() < end) {
        const start = performance.now();
        const r = s.leader.proposeBatch(batchData);
        if (!r.ok) throw new Error(r.error);
        inflight += batch;
        last = r.index;
        s.waiting.set(r.index, {
          resolve: () => {
            // The whole batch commits together: every entry in it saw this latency.
            const l = performance.now() - start;
            for (let i = 0; i < batch; i++) lat.push(l);
            inflight -= batch;
            if (performance.now() < end) pump();
            else if (inflight === 0) done();
          },
        });
      }
    };
    pump();
  });
  const elapsed = (performance.now() - t0) / 1000;
  const committed = last - first + 1;
  const wire = s.net.bytes;
  s.close();
  lat.sort((a, b) => a - b);
  return { rate: committed / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), n: committed, wire };
}

const fmt = (r: { rate: number; p50: number; p99: number; n: number; wire?: number }) =>
  `${Math.round(r.rate).toLocaleString("en-US")} commits/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms ` +
  `(${r.n} entries${r.wire ? `, ${Math.round(r.wire / 2 ** 20)} MiB encoded on the wire` : ""})`;

try {
  console.log(`raft bench: ${runtime}, 3 nodes in-process, ${storageKind} storage, 128-byte entries, ${seconds}s per case`);
  console.log(`single proposer:           ${fmt(await single())}`);
  console.log(`batched 64 x 16 in flight: ${fmt(await batched(64, 1024))}`);
  console.log(`batched 256 x 16 in flight: ${fmt(await batched(256, 4096))}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
