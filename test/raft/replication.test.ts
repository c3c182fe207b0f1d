import { test } from "node:test";
import assert from "node:assert/strict";
import { appendsFor, batch, heartbeatCommit, nextCommit, syncProgress } from "../../src/raft/replication.ts";
import { RaftLog } from "../../src/raft/log.ts";
import { Progress } from "../../src/raft/progress.ts";
import type { Entry } from "../../src/raft/types.ts";

const M = { voters: ["a", "b", "c"], observers: [] };
const entry = (index: number, term: number, size = 0): Entry => ({ index, term, kind: "cmd", data: new Uint8Array(size) });
const logOf = (terms: number[], size = 0): RaftLog => RaftLog.restore(null, terms.map((t, i) => entry(i + 1, t, size)), M);
const LIMITS = { maxBatch: 2, maxBatchBytes: 1 << 20, maxInflight: 2, maxInflightBytes: 1 << 20 };

test("replication: one Progress per other member, new ones after the last index", () => {
  const progress = new Map([["gone", new Progress(1)], ["b", new Progress(3)]]);
  syncProgress(progress, { voters: ["a", "b"], observers: ["o"] }, "a", 7);
  assert.deepEqual([...progress.keys()].sort(), ["b", "o"]);
  assert.equal(progress.get("b")?.next, 3, "existing progress kept");
  assert.equal(progress.get("o")?.next, 8);
});

test("replication: batches are capped in count and, past the first entry, in bytes", () => {
  const log = logOf([1, 1, 1, 1], 10);
  assert.equal(batch(log, 1, 4, LIMITS).length, 2);
  assert.equal(batch(log, 1, 4, { ...LIMITS, maxBatch: 10, maxBatchBytes: 25 }).length, 2);
  assert.equal(batch(log, 1, 4, { ...LIMITS, maxBatch: 10, maxBatchBytes: 5 }).length, 1, "never empty");
});

test("replication: probe sends one append, replicate pipelines up to the window", () => {
  const log = logOf([1, 1, 1, 1, 1]);
  const pr = new Progress(1);
  const probe = appendsFor(pr, log, 1, 0, LIMITS, false);
  assert.equal(probe.length, 1);
  assert.deepEqual(probe[0], { type: "append", term: 1, prevIndex: 0, prevTerm: 0, entries: log.slice(1, 2), commit: 0 });
  assert.equal(appendsFor(pr, log, 1, 0, LIMITS, false).length, 0, "paused until answered");
  pr.acked(2);
  const piped = appendsFor(pr, log, 1, 2, LIMITS, false);
  assert.deepEqual(piped.map((m) => m.type === "append" ? m.prevIndex : -1), [2, 4]);
  assert.equal(appendsFor(new Progress(6), log, 1, 0, LIMITS, true).length, 1, "empty probe when allowed");
  assert.equal(appendsFor(new Progress(6), log, 1, 0, LIMITS, false).length, 0);
});

test("replication: what is in flight to a follower is bounded in bytes too, and freed by its answers", () => {
  const log = logOf([1, 1, 1, 1, 1, 1], 10);
  const limits = { maxBatch: 1, maxBatchBytes: 1 << 20, maxInflight: 64, maxInflightBytes: 25 };
  const pr = new Progress(1);
  pr.acked(0);
  // 10 bytes per append: the third one reaches 30 >= 25, and nothing more goes until an answer.
  assert.deepEqual(appendsFor(pr, log, 1, 0, limits, false).map((m) => m.type === "append" ? m.prevIndex : -1), [0, 1, 2]);
  assert.equal(pr.bytesInFlight, 30);
  assert.equal(appendsFor(pr, log, 1, 0, limits, false).length, 0, "held at the byte bound");
  pr.acked(2);
  assert.equal(pr.bytesInFlight, 10);
  assert.deepEqual(appendsFor(pr, log, 1, 0, limits, false).map((m) => m.type === "append" ? m.prevIndex : -1), [3, 4]);
  // A rejection starts over with nothing counted in flight.
  assert.equal(pr.rejected(4, 3), true);
  assert.equal(pr.bytesInFlight, 0);
});

test("replication: a follower behind the snapshot gets the snapshot", () => {
  const log = logOf([1, 1, 1]);
  const snap = { meta: { index: 2, term: 1, membership: M }, data: new Uint8Array([7]) };
  log.compact(snap);
  const pr = new Progress(1);
  assert.deepEqual(appendsFor(pr, log, 2, 2, LIMITS, false), [{ type: "snapshot", term: 2, snapshot: snap }]);
  assert.equal(pr.state, "snapshot");
});

test("replication: commit needs a majority and an entry of the current term", () => {
  const log = logOf([1, 2, 2]);
  const progress = new Map([["b", new Progress(1)], ["c", new Progress(1)]]);
  (progress.get("b") as Progress).acked(2);
  assert.equal(nextCommit(M.voters, "a", log, progress, 0, 2, false), 2);
  assert.equal(nextCommit(M.voters, "a", log, progress, 2, 2, false), null, "no progress");
  assert.equal(nextCommit(M.voters, "a", log, progress, 0, 3, false), null, "old term");
  assert.equal(nextCommit(M.voters, "a", log, progress, 0, 3, true), 2);
  assert.equal(nextCommit([], "a", log, progress, 0, 2, false), null);
  const pr = progress.get("b") as Progress;
  assert.equal(heartbeatCommit(pr, 3, false), 2);
  assert.equal(heartbeatCommit(pr, 3, true), 3);
});
