import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./harness.ts";
import { RaftNode } from "../../src/raft/node.ts";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import { seededRandom } from "../../src/raft/prng.ts";

const IDS = ["s1", "s2", "s3"];
const ALL = { voters: IDS, observers: [] };
const enc = (s: string) => new TextEncoder().encode(s);

test("node: leadership transfer hands over to the named voter", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const old = c.elect("g");
  c.propose("g", "x");
  c.tick(3);
  const target = IDS.find((id) => id !== old) as string;
  const term = c.group(old, "g").node.term;
  assert.equal(c.group(old, "g").transferLeadership(target).ok, true);
  assert.equal(c.group(old, "g").propose(enc("refused")).ok, false, "proposals pause during a transfer");
  c.drain();
  c.tick(3);
  assert.equal(c.leaderOf("g"), target);
  assert.equal(c.group(target, "g").node.term, term + 1);
  assert.equal(c.group(target, "g").node.transferredFrom, old, "the successor knows whose hand-off it took over");
  c.propose("g", "y");
  c.tick(3);
  for (const id of IDS) assert.deepEqual(c.applied(id, "g"), ["x", "y"]);
});

test("node: step down on request; the group elects again and keeps its log", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const old = c.elect("g");
  c.propose("g", "a");
  c.group(old, "g").stepDown();
  c.drain();
  assert.equal(c.group(old, "g").isLeader(), false);
  const next = c.elect("g");
  assert.equal(c.group(next, "g").node.transferredFrom, null, "an ordinary election is no hand-off");
  c.propose("g", "b");
  c.tick(3);
  for (const id of IDS) assert.deepEqual(c.applied(id, "g"), ["a", "b"]);
});

test("node: pre-vote keeps a rejoining partitioned follower from disrupting the term", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const leader = c.elect("g");
  c.tick(5);
  const lonely = IDS.find((id) => id !== leader) as string;
  for (const id of IDS) if (id !== lonely) c.net.cut(lonely, id);
  const term = c.group(leader, "g").node.term;
  c.tick(100);
  assert.equal(c.group(lonely, "g").node.term, term, "a pre-candidate must not bump its term");
  c.net.heal();
  c.tick(5);
  assert.equal(c.leaderOf("g"), leader);
  assert.equal(c.group(leader, "g").node.term, term);
});

test("node: observer catches up from a snapshot, is promoted, and the old leader is removed", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const first = c.elect("g");
  for (let i = 0; i < 20; i++) c.propose("g", `v${i}`);
  c.tick(3);
  // Compact every replica so a newcomer can only catch up by snapshot.
  for (const id of IDS) {
    const g = c.group(id, "g");
    assert.equal(g.compact(g.node.applied, enc(c.applied(id, "g").join(","))), true);
  }
  c.drain();
  c.addHost("s4");
  c.addGroup("g", { voters: [], observers: [] }, ["s4"]);
  assert.equal(c.group(first, "g").proposeMembership({ op: "addObserver", peer: "s4" }).ok, true);
  c.drain();
  c.tick(10);
  assert.deepEqual(c.applied("s4", "g"), Array.from({ length: 20 }, (_, i) => `v${i}`));
  assert.ok(c.replicas.get("s4")?.storages.get("g")?.load().snapshot, "s4 caught up by snapshot");
  assert.equal(c.group("s4", "g").node.isVoter(), false);
  assert.deepEqual(c.group("s4", "g").node.membership().observers, ["s4"]);

  assert.equal(c.group(first, "g").proposeMembership({ op: "addVoter", peer: "s4" }).ok, true);
  assert.equal(
    c.group(first, "g").proposeMembership({ op: "remove", peer: "s2" }).ok,
    false,
    "only one change at a time",
  );
  c.drain();
  c.tick(3);
  assert.equal(c.group("s4", "g").node.isVoter(), true);
  assert.equal(c.group(first, "g").proposeMembership({ op: "remove", peer: first }).ok, true);
  c.drain();
  c.tick(3);
  assert.equal(c.group(first, "g").isLeader(), false, "a removed leader steps down once the change commits");
  const next = c.elect("g");
  assert.notEqual(next, first);
  assert.deepEqual([...c.group(next, "g").node.membership().voters].sort(), IDS.filter((x) => x !== first).concat("s4").sort());
  c.propose("g", "after");
  c.tick(3);
  assert.equal(c.applied("s4", "g").at(-1), "after");
});

test("node: votes and entries are synced before the messages that depend on them", () => {
  const storage = new MemoryStorage();
  const n = new RaftNode({ id: "a", initial: { voters: ["a", "b", "c"], observers: [] }, random: seededRandom(7) }, storage.load());
  n.step("b", { type: "vote", term: 4, lastIndex: 0, lastTerm: 0, transfer: false });
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 4, vote: "b" });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messages, [{ to: "b", msg: { type: "voteResp", term: 4, granted: true } }]);
  // The same node refuses a second candidate in the same term.
  n.step("c", { type: "vote", term: 4, lastIndex: 9, lastTerm: 3, transfer: false });
  assert.deepEqual(n.ready().messages, [{ to: "c", msg: { type: "voteResp", term: 4, granted: false } }]);
});

test("node: the core is deterministic for a seed", () => {
  const run = () => {
    const c = new Cluster(IDS);
    c.addGroup("g", ALL);
    const l = c.elect("g");
    c.propose("g", "z");
    c.tick(20);
    return [l, c.group(l, "g").node.term, c.net.batches];
  };
  assert.deepEqual(run(), run());
});
