import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./harness.ts";
import { RaftHost } from "../../src/raft/host.ts";
import { MemoryRaftNetwork } from "../../src/raft/memory_network.ts";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import { seededRandom } from "../../src/raft/prng.ts";
import { runHost } from "../../src/raft/driver.ts";

const IDS = ["s1", "s2", "s3"];
const ALL = { voters: IDS, observers: [] };

test("host: many groups share one link per peer and elect leaders", () => {
  const c = new Cluster(IDS);
  for (let i = 0; i < 200; i++) c.addGroup(`g${i}`, ALL);
  for (let i = 0; i < 200; i++) c.elect(`g${i}`);
  c.tick(30);
  for (let i = 0; i < 200; i += 37) {
    c.propose(`g${i}`, `hello-${i}`);
    c.tick(3);
    for (const id of IDS) assert.deepEqual(c.applied(id, `g${i}`), [`hello-${i}`]);
  }
});

test("host: heartbeats of idle groups are coalesced into one batch per peer per tick", () => {
  const c = new Cluster(IDS);
  for (let i = 0; i < 300; i++) c.addGroup(`g${i}`, ALL);
  for (let i = 0; i < 300; i++) c.elect(`g${i}`);
  c.tick(30);
  const before = c.net.batches;
  c.tick(10);
  const perTick = (c.net.batches - before) / 10;
  // Each host sends at most one batch of beats and one of beat acks to each of its two peers.
  assert.ok(perTick <= 12, `${perTick} batches per tick for 300 groups`);
  for (let i = 0; i < 300; i++) assert.ok(c.leaderOf(`g${i}`) !== null);
});

test("host: a leader cut off from its peers steps down and the rest elect a new one", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const old = c.elect("g");
  c.propose("g", "a");
  c.tick(5);
  for (const id of IDS) if (id !== old) c.net.cut(old, id);
  c.tick(60);
  assert.equal(c.group(old, "g").isLeader(), false, "isolated leader kept leading");
  const now = c.leaderOf("g");
  assert.ok(now !== null && now !== old);
  c.propose("g", "b");
  c.net.heal();
  c.tick(10);
  for (const id of IDS) assert.deepEqual(c.applied(id, "g"), ["a", "b"]);
});

test("driver: hosts on real timers elect a leader and commit, then stop", async () => {
  const net = new MemoryRaftNetwork();
  const applied = new Map<string, string[]>();
  const hosts = IDS.map((id, i) => {
    let h: RaftHost | null = null;
    const transport = net.attach(id, (b) => h?.receive(b));
    h = new RaftHost({ id, transport, random: seededRandom(i + 11) });
    const log: string[] = [];
    applied.set(id, log);
    h.addGroup({
      group: "g",
      storage: new MemoryStorage(),
      initial: ALL,
      handlers: { apply: (e) => void (e.kind === "cmd" && log.push(new TextDecoder().decode(e.data))), restore: () => {} },
    });
    return h;
  });
  const stops = hosts.map((h) => runHost(h, 5));
  try {
    const deadline = Date.now() + 5000;
    let leader = hosts.find((h) => h.groups.get("g")?.isLeader());
    while (!leader && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      leader = hosts.find((h) => h.groups.get("g")?.isLeader());
    }
    assert.ok(leader, "no leader on real timers");
    assert.equal(leader.groups.get("g")?.propose(new TextEncoder().encode("real")).ok, true);
    while (IDS.some((id) => applied.get(id)?.length !== 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const id of IDS) assert.deepEqual(applied.get(id), ["real"]);
  } finally {
    for (const stop of stops) stop();
  }
});
