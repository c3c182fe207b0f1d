import { test } from "node:test";
import assert from "node:assert/strict";
import { grantsVote, majority, quorumActive, randomTimeout, tally, voteRequests } from "../../src/raft/election.ts";
import { RaftLog } from "../../src/raft/log.ts";
import { Progress } from "../../src/raft/progress.ts";
import type { Entry } from "../../src/raft/types.ts";

const E = new Uint8Array(0);
const logOf = (terms: number[]): RaftLog =>
  RaftLog.restore(null, terms.map((term, i): Entry => ({ index: i + 1, term, kind: "noop", data: E })), {
    voters: ["a", "b", "c"],
    observers: [],
  });
const NO_BUGS = { doubleVote: false, voteIgnoresLog: false };

test("election: majority and randomized timeout bounds", () => {
  assert.deepEqual([1, 2, 3, 4, 5].map(majority), [1, 2, 2, 3, 3]);
  assert.equal(randomTimeout(10, () => 0), 10);
  assert.equal(randomTimeout(10, () => 0.999), 19);
});

test("election: a vote goes once per term and only to an up-to-date log", () => {
  const log = logOf([1, 2]);
  const vote = (lastIndex: number, lastTerm: number) => ({ type: "vote" as const, term: 3, lastIndex, lastTerm, transfer: false });
  const fresh = { term: 3, vote: null, leader: null, log };
  assert.equal(grantsVote(fresh, "b", vote(2, 2), NO_BUGS), true);
  assert.equal(grantsVote(fresh, "b", vote(1, 2), NO_BUGS), false, "shorter log");
  assert.equal(grantsVote(fresh, "b", vote(5, 1), NO_BUGS), false, "older last term");
  assert.equal(grantsVote({ ...fresh, vote: "c" }, "b", vote(2, 2), NO_BUGS), false, "already voted");
  assert.equal(grantsVote({ ...fresh, vote: "b" }, "b", vote(2, 2), NO_BUGS), true, "same candidate again");
  assert.equal(grantsVote({ ...fresh, leader: "c" }, "b", vote(2, 2), NO_BUGS), false, "hears a leader");
  assert.equal(grantsVote({ ...fresh, vote: "c" }, "b", vote(2, 2), { ...NO_BUGS, doubleVote: true }), true);
  assert.equal(grantsVote(fresh, "b", vote(1, 1), { ...NO_BUGS, voteIgnoresLog: true }), true);
  const pre = { type: "preVote" as const, term: 4, lastIndex: 2, lastTerm: 2 };
  assert.equal(grantsVote({ ...fresh, vote: "c", leader: "c" }, "b", pre, NO_BUGS), true, "pre-vote for a later term");
});

test("election: tally counts only current voters; a majority either way decides", () => {
  const voters = ["a", "b", "c"];
  assert.equal(tally(voters, new Map([["a", true]])), "pending");
  assert.equal(tally(voters, new Map([["a", true], ["x", true]])), "pending");
  assert.equal(tally(voters, new Map([["a", true], ["b", true]])), "won");
  assert.equal(tally(voters, new Map([["a", true], ["b", false], ["c", false]])), "lost");
});

test("election: check-quorum counts self and recently active voters", () => {
  const progress = new Map([["b", new Progress(1)], ["c", new Progress(1)]]);
  for (const pr of progress.values()) pr.recentActive = false;
  assert.equal(quorumActive(["a", "b", "c"], "a", progress), false);
  (progress.get("c") as Progress).recentActive = true;
  assert.equal(quorumActive(["a", "b", "c"], "a", progress), true);
});

test("election: vote requests go to every other voter with our last entry", () => {
  const log = logOf([1, 2]);
  assert.deepEqual(voteRequests("pre", 3, "a", ["a", "b", "c"], log), [
    { to: "b", msg: { type: "preVote", term: 3, lastIndex: 2, lastTerm: 2 } },
    { to: "c", msg: { type: "preVote", term: 3, lastIndex: 2, lastTerm: 2 } },
  ]);
  assert.deepEqual(voteRequests("transfer", 3, "a", ["b", "a"], log), [
    { to: "b", msg: { type: "vote", term: 3, lastIndex: 2, lastTerm: 2, transfer: true } },
  ]);
});
