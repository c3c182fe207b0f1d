// Trimming the log in memory ahead of the durable snapshot (RaftNode.trim / persistSnapshot): what a trim drops
// is still in storage and replayed after a restart; a follower that needs trimmed entries gets the snapshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./harness.ts";
import { RaftNode } from "../../src/raft/node.ts";

const IDS = ["s1", "s2", "s3"];
const ALL = { voters: IDS, observers: [] };
const enc = (s: string) => new TextEncoder().encode(s);
const state = (c: Cluster, id: string) => enc(c.applied(id, "g").join(","));

test("trim drops applied entries from memory only; persistSnapshot compacts storage; a restart replays from the persisted one", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const leader = c.elect("g");
  for (let i = 0; i < 10; i++) c.propose("g", `v${i}`);
  c.tick(2);
  const g = c.group(leader, "g");
  const at4 = g.snapshotAt(g.node.log.snapIndex + 5, enc("v0,v1,v2,v3"));
  assert.ok(at4 !== null);
  const at8 = g.snapshotAt(g.node.applied, state(c, leader));
  assert.ok(at8 !== null);
  assert.equal(g.trim(at8), true);
  assert.equal(g.node.log.entries.length, 0, "everything applied is out of memory");
  assert.equal(g.trim(at4), false, "a trim never goes back");
  assert.throws(() => g.snapshotAt(at4.meta.index, enc("")) ?? assert.fail("null"), /null/, "a trimmed index has no snapshot any more");
  // Storage still holds the whole log: nothing was persisted.
  assert.equal(c.replicas.get(leader)?.storages.get("g")?.load().snapshot, null);
  assert.equal(g.persistSnapshot(at4), true, "an older snapshot than memory's can be persisted");
  assert.equal(g.persistSnapshot(at4), false, "not twice");
  c.drain();
  const stored = c.replicas.get(leader)?.storages.get("g")?.load();
  assert.equal(stored?.snapshot?.meta.index, at4.meta.index);
  assert.equal(stored?.entries[0].index, at4.meta.index + 1, "storage keeps what follows the persisted snapshot");
  // A restart from that storage replays the entries after it.
  const again = new RaftNode({ id: leader, initial: ALL, random: () => 0.5 }, stored ?? assert.fail());
  assert.equal(again.log.snapIndex, at4.meta.index);
  assert.equal(again.log.lastIndex(), g.node.log.lastIndex());
  assert.equal(again.persistedIndex, at4.meta.index);
});

test("a follower behind the leader's trimmed log gets the trimmed-to snapshot and goes on from there", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const leader = c.elect("g");
  const lagging = IDS.find((id) => id !== leader) as string;
  for (const id of IDS) if (id !== lagging) c.net.cut(lagging, id);
  for (let i = 0; i < 10; i++) c.propose("g", `v${i}`);
  c.tick(2);
  const g = c.group(leader, "g");
  const snap = g.snapshotAt(g.node.applied, state(c, leader));
  assert.ok(snap !== null && g.trim(snap));
  c.net.heal();
  c.tick(5);
  assert.deepEqual(c.applied(lagging, "g"), c.applied(leader, "g"));
  assert.equal(c.replicas.get(lagging)?.storages.get("g")?.load().snapshot?.meta.index, snap.meta.index, "installed the trimmed-to snapshot");
  c.propose("g", "after");
  c.tick(2);
  assert.equal(c.applied(lagging, "g").at(-1), "after");
});
