import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeWireBatch, encodeWireBatch } from "../../src/raft/codec.ts";
import { crc32 } from "../../src/raft/crc32.ts";
import type { WireBatch } from "../../src/raft/types.ts";
import { KvStateMachine, encodeKvCommand } from "../../src/raft/kv/state_machine.ts";

test("codec: a wire batch with every message type round-trips", () => {
  const m = { voters: ["a", "b"], observers: ["c"] };
  const batch: WireBatch = {
    from: "a",
    to: "b",
    envelopes: [
      { group: "S1", from: "a", to: "b", msg: { type: "preVote", term: 3, lastIndex: 9, lastTerm: 2 } },
      { group: "S1", from: "a", to: "b", msg: { type: "preVoteResp", term: 3, granted: true } },
      { group: "S2", from: "a", to: "b", msg: { type: "vote", term: 3, lastIndex: 9, lastTerm: 2, transfer: true } },
      { group: "S2", from: "a", to: "b", msg: { type: "voteResp", term: 3, granted: false } },
      {
        group: "$G",
        from: "a",
        to: "b",
        msg: {
          type: "append",
          term: 3,
          prevIndex: 8,
          prevTerm: 2,
          commit: 7,
          entries: [
            { index: 9, term: 3, kind: "cmd", data: new Uint8Array([1, 2, 3]) },
            { index: 10, term: 3, kind: "conf", data: new Uint8Array(0), conf: m },
            { index: 11, term: 3, kind: "noop", data: new Uint8Array(0) },
          ],
        },
      },
      { group: "$G", from: "a", to: "b", msg: { type: "appendResp", term: 3, success: false, index: 8, hint: 5 } },
      { group: "$G", from: "a", to: "b", msg: { type: "heartbeat", term: 3, commit: 7 } },
      { group: "$G", from: "a", to: "b", msg: { type: "heartbeatResp", term: 3 } },
      {
        group: "$G",
        from: "a",
        to: "b",
        msg: { type: "snapshot", term: 3, snapshot: { meta: { index: 5, term: 2, membership: m }, data: new Uint8Array([9]) } },
      },
      { group: "$G", from: "a", to: "b", msg: { type: "timeoutNow", term: 3 } },
    ],
    beats: [{ group: "S1", term: 3, commit: 2 ** 40 }],
    beatAcks: [{ group: "S2", term: 1 }],
  };
  assert.deepEqual(decodeWireBatch(encodeWireBatch(batch)), batch);
});

test("codec: names in any script round-trip; a batch is encoded at its exact size", () => {
  const m = { voters: ["nœud-1", "узел"], observers: ["\u{1F426}", "lone \ud800 surrogate"] };
  const batch: WireBatch = {
    from: "café",
    to: "東京",
    envelopes: [{
      group: "S-ö",
      from: "café",
      to: "東京",
      msg: {
        type: "append",
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 1, term: 1, kind: "conf", data: new Uint8Array(0), conf: m }],
      },
    }],
    beats: [{ group: "G-\u{1F600}", term: 1, commit: 0 }],
    beatAcks: [],
  };
  const bytes = encodeWireBatch(batch);
  assert.equal(bytes.length, bytes.buffer.byteLength);
  const back = decodeWireBatch(bytes, true);
  assert.ok(!(back instanceof Error));
  // A lone surrogate is not valid UTF-16: it comes back as U+FFFD, as TextEncoder writes it.
  const seen = { voters: m.voters, observers: [m.observers[0], "lone \ufffd surrogate"] };
  const env = batch.envelopes[0];
  const msg = { ...env.msg, entries: [{ index: 1, term: 1, kind: "conf", data: new Uint8Array(0), conf: seen }] };
  assert.deepEqual(back, { ...batch, envelopes: [{ ...env, msg }] });
});

test("codec: truncated or padded input is an error value", () => {
  const bytes = encodeWireBatch({ from: "a", to: "b", envelopes: [], beats: [{ group: "g", term: 1, commit: 1 }], beatAcks: [] });
  assert.ok(decodeWireBatch(bytes.subarray(0, bytes.length - 1)) instanceof Error);
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes);
  assert.ok(decodeWireBatch(padded) instanceof Error);
});

test("crc32 matches the IEEE check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("crc32 four bytes at a time equals the bitwise definition on any range", () => {
  const bitwise = (d: Uint8Array, start: number, end: number) => {
    let c = 0xffffffff;
    for (let i = start; i < end; i++) {
      c ^= d[i];
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  const data = new Uint8Array(300);
  let x = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  for (let start = 0; start < 9; start++) {
    for (const end of [start, start + 1, start + 3, start + 4, start + 7, 100, 299, 300]) {
      assert.equal(crc32(data, start, end), bitwise(data, start, end), `range ${start}..${end}`);
    }
  }
});

test("kv state machine: put, get, cas, snapshot and restore", () => {
  const kv = new KvStateMachine();
  const e = (index: number, cmd: Parameters<typeof encodeKvCommand>[0]) => ({ index, term: 1, kind: "cmd" as const, data: encodeKvCommand(cmd) });
  assert.deepEqual(kv.apply(e(1, { id: "1", op: "put", key: "k", value: "v" })), { id: "1", value: "v", ok: true });
  assert.deepEqual(kv.apply(e(2, { id: "2", op: "cas", key: "k", expect: "x", value: "w" })), { id: "2", value: "v", ok: false });
  assert.deepEqual(kv.apply(e(3, { id: "3", op: "cas", key: "k", expect: "v", value: "w" })), { id: "3", value: "w", ok: true });
  const copy = new KvStateMachine();
  copy.restore(kv.snapshot(), 3);
  assert.deepEqual(copy.apply(e(4, { id: "4", op: "get", key: "k" })), { id: "4", value: "w", ok: true });
  assert.equal(copy.applied, 4);
});
