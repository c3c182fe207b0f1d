import { test } from "node:test";
import assert from "node:assert/strict";
import { acceptAppend, type AppendMsg, acceptSnapshot } from "../../src/raft/follower.ts";
import { RaftLog } from "../../src/raft/log.ts";
import type { Entry } from "../../src/raft/types.ts";

const M = { voters: ["a", "b", "c"], observers: [] };
const E = new Uint8Array(0);
const entry = (index: number, term: number): Entry => ({ index, term, kind: "noop", data: E });
const logOf = (terms: number[]): RaftLog => RaftLog.restore(null, terms.map((t, i) => entry(i + 1, t)), M);
const append = (prevIndex: number, prevTerm: number, terms: number[], commit: number): AppendMsg => ({
  type: "append",
  term: 3,
  prevIndex,
  prevTerm,
  entries: terms.map((t, i) => entry(prevIndex + 1 + i, t)),
  commit,
});
const NO_BUGS = { skipPrevCheck: false, commitBeyondMatch: false };

test("follower: a matching append merges and commits up to the last new entry", () => {
  const log = logOf([1, 1, 2]);
  const out = acceptAppend(log, 0, append(1, 1, [3], 9), NO_BUGS);
  assert.deepEqual(out, { commit: 2, answer: { success: true, index: 2, hint: 0 }, confChanged: false });
  assert.deepEqual(log.entries.map((e) => e.term), [1, 3], "conflicting suffix replaced");
});

test("follower: a mismatched previous entry is rejected with our last index", () => {
  const log = logOf([1, 1]);
  assert.deepEqual(acceptAppend(log, 0, append(4, 2, [2], 0), NO_BUGS).answer, { success: false, index: 4, hint: 2 });
  assert.deepEqual(acceptAppend(log, 0, append(2, 2, [2], 0), NO_BUGS).answer, { success: false, index: 2, hint: 1 });
  assert.equal(acceptAppend(log, 0, append(2, 2, [2], 0), { ...NO_BUGS, skipPrevCheck: true }).answer.success, true);
});

test("follower: entries up to our commit are settled and only acknowledged", () => {
  const log = logOf([1, 1, 1]);
  assert.deepEqual(acceptAppend(log, 3, append(1, 1, [1, 1], 3), NO_BUGS).answer, { success: true, index: 3, hint: 0 });
  const out = acceptAppend(log, 3, append(1, 1, [1, 1, 2], 4), NO_BUGS);
  assert.deepEqual(out.answer, { success: true, index: 4, hint: 0 });
  assert.equal(out.commit, 4);
});

test("follower: a configuration entry is reported", () => {
  const log = logOf([1]);
  const conf: Entry = { index: 2, term: 1, kind: "conf", data: E, conf: { voters: ["a"], observers: [] } };
  const out = acceptAppend(log, 0, { ...append(1, 1, [], 0), entries: [conf] }, NO_BUGS);
  assert.equal(out.confChanged, true);
  assert.deepEqual(log.membership().voters, ["a"]);
});

test("follower: snapshots are stale, matched or installed", () => {
  const snap = (index: number, term: number) => ({ meta: { index, term, membership: M }, data: E });
  const log = logOf([1, 1, 1]);
  assert.deepEqual(acceptSnapshot(log, 2, snap(2, 1)), { kind: "stale", commit: 2 });
  assert.deepEqual(acceptSnapshot(log, 0, snap(3, 1)), { kind: "matched", commit: 3 });
  assert.equal(log.lastIndex(), 3);
  assert.deepEqual(acceptSnapshot(log, 0, snap(5, 2)), { kind: "installed", commit: 5 });
  assert.equal(log.snapIndex, 5);
  assert.equal(log.entries.length, 0);
});
