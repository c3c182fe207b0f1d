import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChange } from "../../src/raft/membership.ts";

const M = { voters: ["a", "b"], observers: ["o"] };

test("membership: add, promote, demote and remove one peer at a time", () => {
  assert.deepEqual(applyChange(M, { op: "addVoter", peer: "c" }), { voters: ["a", "b", "c"], observers: ["o"] });
  assert.deepEqual(applyChange(M, { op: "addVoter", peer: "o" }), { voters: ["a", "b", "o"], observers: [] });
  assert.deepEqual(applyChange(M, { op: "addObserver", peer: "b" }), { voters: ["a"], observers: ["o", "b"] });
  assert.deepEqual(applyChange(M, { op: "remove", peer: "a" }), { voters: ["b"], observers: ["o"] });
  assert.deepEqual(M, { voters: ["a", "b"], observers: ["o"] }, "input untouched");
});

test("membership: a change that leaves no voter is refused", () => {
  assert.equal(applyChange({ voters: ["a"], observers: [] }, { op: "remove", peer: "a" }), null);
  assert.equal(applyChange({ voters: ["a"], observers: [] }, { op: "addObserver", peer: "a" }), null);
});
