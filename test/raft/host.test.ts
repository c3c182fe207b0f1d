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

test("host: with deferApply a flush sends first and applies in a later job, in log order", () => {
  const queue: Array<() => void> = [];
  const jobs: Array<() => void> = [];
  const events: string[] = [];
  const hosts = new Map<string, RaftHost>();
  const ids = ["s1", "s2"];
  for (const [i, id] of ids.entries()) {
    const h = new RaftHost({
      id,
      transport: {
        send: (b) => {
          for (const e of b.envelopes) if (e.msg.type === "appendResp") events.push(`${id} acks ${e.msg.index}`);
          queue.push(() => hosts.get(b.to)?.receive(b));
        },
      },
      random: seededRandom(i + 3),
      schedule: (fn) => queue.push(fn),
      deferApply: (fn) => jobs.push(fn),
    });
    h.addGroup({
      group: "g",
      storage: new MemoryStorage(),
      initial: { voters: ids, observers: [] },
      handlers: {
        apply: (e) => void (e.kind === "cmd" && events.push(`${id} applies ${e.index}`)),
        restore: () => {},
      },
    });
    hosts.set(id, h);
  }
  const settle = () => {
    for (let n = 0; n < 1000 && (queue.length > 0 || jobs.length > 0); n++) {
      // Messages and flushes first; a job only when nothing else is queued (as after the transport's writes).
      if (queue.length > 0) queue.shift()!();
      else jobs.shift()!();
    }
  };
  for (let t = 0; t < 60 && ![...hosts.values()].some((h) => h.groups.get("g")!.isLeader()); t++) {
    for (const h of hosts.values()) h.tick();
    settle();
  }
  const leader = [...hosts.values()].find((h) => h.groups.get("g")!.isLeader())!;
  assert.ok(leader, "no leader");
  const follower = ids.find((id) => id !== leader.id)!;
  settle();
  events.length = 0;
  const r1 = leader.groups.get("g")!.propose(new Uint8Array([1]));
  const r2 = leader.groups.get("g")!.propose(new Uint8Array([2]));
  assert.ok(r1.ok && r2.ok);
  // Messages and flushes only: the entries replicate and commit everywhere, but nothing is applied yet.
  const drain = () => {
    for (let n = 0; n < 1000 && queue.length > 0; n++) queue.shift()!();
  };
  drain();
  for (const h of hosts.values()) h.tick(); // the commit reaches the follower
  drain();
  assert.ok(events.includes(`${follower} acks ${r2.index}`), `${events}`);
  assert.ok(!events.some((e) => e.includes("applies")), `applied inside a flush: ${events}`);
  assert.ok(jobs.length > 0);
  settle();
  for (const id of ids) {
    const order = events.filter((e) => e.startsWith(`${id} applies`));
    assert.deepEqual(order, [`${id} applies ${r1.index}`, `${id} applies ${r2.index}`]);
  }
});
