import { test } from "node:test";
import assert from "node:assert/strict";
import { checkKey, checkLinearizable, type HistoryOp } from "../../src/raft/kv/linearizability.ts";

const put = (key: string, value: string, call: number, ret: number): HistoryOp => ({
  key,
  op: { kind: "put", value },
  call,
  ret,
  output: ret === Infinity ? null : { value, ok: true },
});
const get = (key: string, value: string | null, call: number, ret: number): HistoryOp => ({
  key,
  op: { kind: "get" },
  call,
  ret,
  output: { value, ok: true },
});

test("linearizability: sequential and overlapping histories that are linearizable pass", () => {
  assert.deepEqual(checkLinearizable([put("a", "1", 0, 10), get("a", "1", 11, 20)]), { ok: true });
  // Overlapping put and get: either order is fine.
  assert.deepEqual(checkLinearizable([put("a", "1", 0, 10), get("a", null, 5, 15)]), { ok: true });
  assert.deepEqual(checkLinearizable([put("a", "1", 0, 10), get("a", "1", 5, 15)]), { ok: true });
});

test("linearizability: a stale read after a completed write fails", () => {
  const r = checkLinearizable([put("a", "1", 0, 10), get("a", null, 11, 20)]);
  assert.equal(r.ok, false);
});

test("linearizability: an operation with unknown outcome may or may not have happened", () => {
  assert.equal(checkKey([put("a", "1", 0, Infinity), get("a", "1", 20, 30)]), true);
  assert.equal(checkKey([put("a", "1", 0, Infinity), get("a", null, 20, 30)]), true);
  // ... but once seen, it cannot be unseen.
  assert.equal(checkKey([put("a", "1", 0, Infinity), get("a", "1", 20, 30), get("a", null, 40, 50)]), false);
});

test("linearizability: cas outcomes are checked, keys are independent", () => {
  const cas = (key: string, expect: string | null, value: string, ok: boolean, after: string | null, call: number, ret: number): HistoryOp => ({
    key,
    op: { kind: "cas", expect, value },
    call,
    ret,
    output: { value: after, ok },
  });
  assert.equal(checkLinearizable([put("k", "1", 0, 5), cas("k", "1", "2", true, "2", 6, 9), get("x", null, 0, 100)]).ok, true);
  assert.equal(checkLinearizable([put("k", "1", 0, 5), cas("k", null, "2", true, "2", 6, 9)]).ok, false);
});

test("linearizability: a long concurrent history is checked quickly thanks to memoization", () => {
  const ops: HistoryOp[] = [];
  for (let i = 0; i < 60; i++) {
    ops.push(put("a", `v${i}`, i * 10, i * 10 + 25));
    ops.push(get("a", `v${i}`, i * 10 + 26, i * 10 + 27));
  }
  const t0 = performance.now();
  assert.equal(checkKey(ops), true);
  assert.ok(performance.now() - t0 < 5000);
});
