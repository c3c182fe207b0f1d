import { test } from "node:test";
import assert from "node:assert/strict";
import { judgeTerm } from "../../src/raft/term_gate.ts";

test("term gate: a newer term is adopted, from the sender when it leads", () => {
  assert.deepEqual(judgeTerm({ type: "heartbeat", term: 5, commit: 0 }, 4, false), { kind: "adopt", fromLeader: true });
  assert.deepEqual(judgeTerm({ type: "voteResp", term: 5, granted: false }, 4, true), { kind: "adopt", fromLeader: false });
});

test("term gate: pre-votes never move terms; vote requests respect a live lease unless transferring", () => {
  const pre = { type: "preVote" as const, term: 5, lastIndex: 0, lastTerm: 0 };
  assert.deepEqual(judgeTerm(pre, 4, false), { kind: "handle" });
  assert.deepEqual(judgeTerm(pre, 4, true), { kind: "drop" });
  assert.deepEqual(judgeTerm({ type: "preVoteResp", term: 5, granted: true }, 4, false), { kind: "handle" });
  assert.deepEqual(judgeTerm({ type: "preVoteResp", term: 5, granted: false }, 4, false), { kind: "adopt", fromLeader: false });
  const vote = { type: "vote" as const, term: 5, lastIndex: 0, lastTerm: 0, transfer: false };
  assert.deepEqual(judgeTerm(vote, 4, true), { kind: "drop" });
  assert.deepEqual(judgeTerm({ ...vote, transfer: true }, 4, true), { kind: "adopt", fromLeader: false });
});

test("term gate: an older term is answered with ours, then dropped", () => {
  assert.deepEqual(judgeTerm({ type: "append", term: 3, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 }, 4, false), {
    kind: "stale",
    reply: { type: "heartbeatResp", term: 4 },
  });
  assert.deepEqual(judgeTerm({ type: "vote", term: 3, lastIndex: 0, lastTerm: 0, transfer: false }, 4, false), {
    kind: "stale",
    reply: { type: "voteResp", term: 4, granted: false },
  });
  assert.deepEqual(judgeTerm({ type: "appendResp", term: 3, success: true, index: 1, hint: 0 }, 4, false), {
    kind: "stale",
    reply: null,
  });
  assert.deepEqual(judgeTerm({ type: "heartbeatResp", term: 4 }, 4, false), { kind: "handle" });
});
