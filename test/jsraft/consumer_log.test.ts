// The consumer group's log entries (src/jetstream/cluster/consumer_log.ts): the leader's bookkeeping changes
// round-trip through their bytes, a replica applying them ends with exactly the leader's state, a delivery entry
// stays a few bytes however much is pending, snapshots carry the whole state, and applying an entry twice or
// out of order throws.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as acks from "../../src/jetstream/acks.ts";
import {
  applyEvent,
  assertForward,
  bookMarks,
  type ConsumerCmd,
  decodeConsumerCmd,
  decodeConsumerSnapshot,
  DeltaWriter,
  encodeConsumerCmd,
  encodeConsumerSnapshot,
  replicated,
  snapshotOf,
} from "../../src/jetstream/cluster/consumer_log.ts";

const T0 = 1_700_000_000_000;
const none = () => {};

/** Applies an entry's bytes to a replica's copy, as ConsumerReplica.apply does. */
function applyBytes(r: ReturnType<typeof replicated>, b: Uint8Array): void {
  const cmd = decodeConsumerCmd(b);
  if (cmd instanceof Error) throw cmd;
  assert.equal(cmd.op, "delta");
  const before = bookMarks(r.book);
  if (cmd.op === "delta") for (const e of cmd.events) applyEvent(r, e, none, "test");
  assertForward("test", before, bookMarks(r.book));
}

describe("consumer log entries", () => {
  it("a replica applying the leader's entries holds the leader's state", () => {
    const leader = acks.newAckState(0);
    const w = new DeltaWriter();
    leader.journal = w;
    const replica = replicated(snapshotOf({ book: acks.newAckState(0), cursor: 1 }));
    const entries: Uint8Array[] = [];
    // 1000 deliveries, most acked, some timed out and redelivered, +WPI, a delayed nak, a max-deliver drop, a
    // removal from the stream.
    let now = T0;
    for (let seq = 1; seq <= 1000; seq++) {
      acks.recordDelivery(leader, seq, false, true, now);
      if (seq % 10 !== 0) acks.ack(leader, seq, false, none);
      if (seq % 50 === 0) entries.push(w.take());
      now += 1.5;
    }
    acks.inProgress(leader, 20, now);
    acks.nak(leader, 30, 250, 30_000_000_000, now);
    acks.queueExpired(leader, 30_000_000_000, undefined, now + 60_000);
    const stored = { has: (s: number) => s !== 40 };
    const again: number[] = [];
    for (let s = acks.nextRedelivery(leader, 2, stored, none); s !== undefined; s = acks.nextRedelivery(leader, 2, stored, none)) {
      acks.recordDelivery(leader, s, true, true, now + 60_000);
      again.push(s);
    }
    // Redelivered once already, 70 is nak'ed and reaches max deliveries: given up.
    assert.ok(acks.nak(leader, 70, 0, 30_000_000_000, now));
    let maxed = 0;
    assert.equal(acks.nextRedelivery(leader, 2, stored, () => maxed++), undefined);
    assert.equal(maxed, 1);
    acks.forgetRemoved(leader, [50]);
    acks.ack(leader, 60, false, none);
    entries.push(w.take());
    for (const b of entries) applyBytes(replica, b);
    const want = snapshotOf({ book: leader, cursor: 1001 });
    const got = snapshotOf(replica);
    // The leader's own book says nothing of a message dropped for leaving the stream until its next floor update;
    // compare pending and marks.
    assert.deepEqual(new Map(got.pending.map((p) => [p[0], p])), new Map(want.pending.map((p) => [p[0], [p[0], p[1], Math.round(p[2]), p[3]]])));
    assert.deepEqual(got.delivered, want.delivered);
    assert.deepEqual(got.ack_floor, want.ack_floor);
    assert.equal(got.num_redelivered, want.num_redelivered);
    assert.equal(got.cursor, 1001);
    assert.ok(again.length > 90 && got.pending.length > 90, `${again.length} redelivered, ${got.pending.length} pending`);
  });

  it("a delivery and an ack cost a few bytes, however much is pending", () => {
    const book = acks.newAckState(0);
    const w = new DeltaWriter();
    for (let seq = 1; seq <= 10_000; seq++) acks.recordDelivery(book, seq, false, true, T0);
    book.journal = w;
    // An entry's first event carries whole numbers (time, sequences), the rest differences.
    acks.recordDelivery(book, 10_001, false, true, T0 + 3);
    const one = w.take();
    assert.ok(one.length <= 16, `one delivery with 10,000 pending: ${one.length} bytes`);
    // A pull batch delivered in one pass, then acked in order: runs.
    for (let seq = 10_002; seq <= 10_101; seq++) acks.recordDelivery(book, seq, false, true, T0 + 4);
    const batch = w.take();
    assert.ok(batch.length <= 16 + 3, `100 deliveries in one pass: ${batch.length} bytes`);
    for (let seq = 1; seq <= 100; seq++) acks.ack(book, seq, false, none);
    const inOrder = w.take();
    assert.ok(inOrder.length <= 1 + 1 + 4 + 3, `100 acks in order: ${inOrder.length} bytes`);
    for (let seq = 200; seq > 100; seq--) acks.ack(book, seq, false, none);
    const reverse = w.take();
    assert.ok(reverse.length <= 1 + 1 + 4 + 2 * 100, `100 acks in reverse order: ${reverse.length} bytes`);
    // What the runs say, expanded.
    const cmd = decodeConsumerCmd(batch);
    assert.ok(!(cmd instanceof Error) && cmd.op === "delta");
    const want = Array.from({ length: 100 }, (_, i) => [10_002 + i, 10_002 + i, 1, T0 + 4, true]);
    assert.deepEqual(cmd.events.map((e) => e.k === "d" && [e.sseq, e.dseq, e.dc, e.ts, e.awaitAck]), want);
  });

  it("round-trips every event and a whole state", () => {
    const cmd: ConsumerCmd = {
      op: "delta",
      events: [
        { k: "d", sseq: 7, dseq: 3, dc: 1, ts: T0, redelivery: false, awaitAck: true },
        { k: "d", sseq: 2, dseq: 4, dc: 3, ts: T0 - 5, redelivery: true, awaitAck: true },
        { k: "d", sseq: 2 ** 40, dseq: 5, dc: 1, ts: T0 + 9, redelivery: false, awaitAck: false },
        { k: "a", sseq: 7 },
        { k: "x", sseq: 2 },
        { k: "t", sseq: 9, ts: T0 + 100 },
        // Runs: deliveries one seq further at the same time, acks in order; a redelivery breaks a run.
        { k: "d", sseq: 10, dseq: 6, dc: 1, ts: T0 + 100, redelivery: false, awaitAck: true },
        { k: "d", sseq: 11, dseq: 7, dc: 1, ts: T0 + 100, redelivery: false, awaitAck: true },
        { k: "d", sseq: 12, dseq: 8, dc: 1, ts: T0 + 100, redelivery: false, awaitAck: true },
        { k: "d", sseq: 13, dseq: 9, dc: 2, ts: T0 + 100, redelivery: true, awaitAck: true },
        { k: "d", sseq: 14, dseq: 10, dc: 1, ts: T0 + 100, redelivery: false, awaitAck: false },
        { k: "d", sseq: 15, dseq: 11, dc: 1, ts: T0 + 100, redelivery: false, awaitAck: false },
        { k: "a", sseq: 10 },
        { k: "a", sseq: 11 },
        { k: "a", sseq: 12 },
        { k: "d", sseq: 16, dseq: 12, dc: 1, ts: T0 + 101, redelivery: false, awaitAck: true },
      ],
    };
    assert.deepEqual(decodeConsumerCmd(encodeConsumerCmd(cmd)), cmd);
    const state = { cursor: 12, delivered: { consumer_seq: 9, stream_seq: 11 }, ack_floor: { consumer_seq: 2, stream_seq: 3 }, pending: [[5, 4, T0, 1], [4, 3, T0 + 1, 2]] as Array<[number, number, number, number]>, num_redelivered: 1 };
    assert.deepEqual(decodeConsumerCmd(encodeConsumerCmd({ op: "state", state })), { op: "state", state: { ...state, pending: [state.pending[1], state.pending[0]] } });
    assert.deepEqual(decodeConsumerSnapshot(encodeConsumerSnapshot(state)), { ...state, pending: [state.pending[1], state.pending[0]] });
    assert.equal(decodeConsumerSnapshot(encodeConsumerSnapshot(undefined)), undefined);
    // Logs and snapshots written before entries were deltas (JSON) still read.
    assert.deepEqual(decodeConsumerCmd(new TextEncoder().encode(JSON.stringify({ op: "state", state }))), { op: "state", state });
    assert.deepEqual(decodeConsumerSnapshot(new TextEncoder().encode(JSON.stringify(state))), state);
    assert.ok(decodeConsumerCmd(new Uint8Array([1, 0, 0x50, 0x80])) instanceof Error, "a truncated entry is an error");
    assert.ok(decodeConsumerCmd(new Uint8Array([9])) instanceof Error);
  });

  it("applying a delivery twice, or an older one, throws", () => {
    const r = replicated({ cursor: 1, delivered: { consumer_seq: 0, stream_seq: 0 }, ack_floor: { consumer_seq: 0, stream_seq: 0 }, pending: [], num_redelivered: 0 });
    const e = encodeConsumerCmd({ op: "delta", events: [{ k: "d", sseq: 1, dseq: 1, dc: 1, ts: T0, redelivery: false, awaitAck: true }] });
    applyBytes(r, e);
    assert.throws(() => applyBytes(r, e), /delivered consumer seq went backwards \(1 -> 1\)/);
    assert.throws(() => assertForward("x", { floorS: 5, floorD: 5, dseq: 5 }, { floorS: 4, floorD: 5, dseq: 5 }), /ack floor stream seq went backwards/);
  });
});
