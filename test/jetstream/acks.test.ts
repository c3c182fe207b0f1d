import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as acks from "../../src/jetstream/acks.ts";
import * as push from "../../src/jetstream/push.ts";
import { endNoWait, expireRequests, parsePullRequest, type PullRequest } from "../../src/jetstream/pull.ts";
import { consumerConfigSchema } from "../../src/jetstream/config_schema.ts";
import type { JsBus, PublishOpts } from "../../src/jetstream/types.ts";

const NS = 1_000_000;
const dec = new TextDecoder();

function deliver(st: acks.AckState, seqs: number[], now: number): void {
  for (const s of seqs) acks.recordDelivery(st, s, false, true, now);
}

function recorder(): { bus: JsBus; sent: Array<{ subject: string; status: string }> } {
  const sent: Array<{ subject: string; status: string }> = [];
  const bus: JsBus = {
    subscribe: () => 0,
    unsubscribe: () => {},
    publish: (subject: string, _p: Uint8Array, opts?: PublishOpts) => {
      sent.push({ subject, status: dec.decode(opts?.headers ?? new Uint8Array()).split("\r\n")[0] });
    },
  };
  return { bus, sent };
}

describe("ack bookkeeping", () => {
  it("moves the ack floor as acks arrive, singly or all-below", () => {
    const st = acks.newAckState(0);
    deliver(st, [1, 2, 3, 4], 100);
    assert.equal(st.dseq, 4);
    assert.equal(st.pending.size, 4);
    const released: number[] = [];
    acks.ack(st, 2, false, (s) => released.push(s));
    assert.deepEqual(st.ackFloor, { consumer_seq: 0, stream_seq: 0 });
    acks.ack(st, 3, true, (s) => released.push(s));
    assert.deepEqual(released, [2, 1, 3]);
    assert.deepEqual(st.ackFloor, { consumer_seq: 3, stream_seq: 3 });
    acks.ack(st, 4, false, () => {});
    assert.deepEqual(st.ackFloor, { consumer_seq: 4, stream_seq: 4 });
  });

  it("without acks a delivery counts as acked at once", () => {
    const st = acks.newAckState(0);
    assert.equal(acks.recordDelivery(st, 7, false, false, 1), 1);
    assert.equal(st.pending.size, 0);
    assert.deepEqual(st.ackFloor, { consumer_seq: 1, stream_seq: 7 });
  });

  it("queues expired deliveries by ack wait, then by backoff step", () => {
    const st = acks.newAckState(0);
    deliver(st, [1, 2], 0);
    assert.equal(acks.queueExpired(st, 1000 * NS, undefined, 999), false);
    assert.equal(acks.queueExpired(st, 1000 * NS, undefined, 1000), true);
    assert.deepEqual(st.redeliverQ, [1, 2]);
    assert.equal(acks.queueExpired(st, 1000 * NS, undefined, 5000), false, "already queued");
    const seen: number[] = [];
    assert.equal(acks.nextRedelivery(st, 2, { has: (s) => s !== 1 }, () => seen.push(-1)), 2);
    assert.equal(st.pending.has(1), false, "gone from the stream");
    assert.equal(acks.recordDelivery(st, 2, true, true, 6000), 2);
    assert.equal(st.numRedelivered, 1);
    assert.equal(acks.redeliveredPending(st), 1);
    // Second delivery waits the second backoff step.
    assert.equal(acks.queueExpired(st, 1000 * NS, [10 * NS, 50 * NS], 6049), false);
    assert.equal(acks.queueExpired(st, 1000 * NS, [10 * NS, 50 * NS], 6050), true);
    const maxed: Array<[number, number]> = [];
    assert.equal(acks.nextRedelivery(st, 2, { has: () => true }, (s, n) => maxed.push([s, n])), undefined);
    assert.deepEqual(maxed, [[2, 2]]);
    assert.deepEqual(st.ackFloor, { consumer_seq: 3, stream_seq: 2 });
  });

  it("naks: plain ones queue, delayed ones re-arm; +WPI restarts the wait", () => {
    const st = acks.newAckState(0);
    deliver(st, [5], 0);
    assert.equal(acks.nakDelay(' {"delay": 2000000000}'), 2000);
    assert.equal(acks.nakDelay(" {bad"), 0);
    assert.equal(acks.nakDelay(" 300ms"), 300);
    assert.equal(acks.nakDelay(" 1.5s"), 1500);
    assert.equal(acks.nakDelay(" junk"), 0);
    assert.equal(acks.nakDelay(""), 0);
    assert.equal(acks.nak(st, 5, 2000, 30_000 * NS, 100), false);
    assert.equal(st.pending.get(5)?.time, 100 - 30_000 + 2000);
    acks.inProgress(st, 5, 200);
    assert.equal(st.pending.get(5)?.time, 200);
    assert.equal(acks.nak(st, 5, 0, 30_000 * NS, 300), true);
    assert.equal(acks.nak(st, 5, 0, 30_000 * NS, 300), false, "queued once");
    assert.equal(acks.nak(st, 9, 0, 30_000 * NS, 300), false, "not pending");
  });

  it("survives a snapshot round trip and forgets removed messages", () => {
    const st = acks.newAckState(0);
    deliver(st, [1, 2, 3], 50);
    acks.recordDelivery(st, 2, true, true, 60);
    const back = acks.restoreAckState({
      delivered: { consumer_seq: st.dseq, stream_seq: st.lastDeliveredSseq },
      ack_floor: st.ackFloor,
      pending: acks.pendingSnapshot(st),
      num_redelivered: st.numRedelivered,
    });
    assert.deepEqual(acks.pendingSnapshot(back), [[1, 1, 50, 1], [2, 4, 60, 2], [3, 3, 50, 1]]);
    acks.forgetRemoved(back, [1]);
    assert.deepEqual(back.ackFloor, { consumer_seq: 2, stream_seq: 1 });
  });
});

describe("push flow control", () => {
  it("asks once per window, stalls after two, resumes on the right answer", () => {
    const f = push.newFlowControl();
    assert.equal(push.countDelivered(f, push.FC_WINDOW - 1, "S", "C"), undefined);
    const ask = push.countDelivered(f, 1, "S", "C");
    assert.equal(ask, "$JS.FC.S.C.1");
    assert.equal(push.countDelivered(f, push.FC_WINDOW, "S", "C"), undefined);
    assert.equal(push.stalled(f), true);
    assert.match(dec.decode(push.idleHeartbeat(3, 9, f)), /Nats-Consumer-Stalled: \$JS\.FC\.S\.C\.1/);
    assert.equal(push.answered(f, "$JS.FC.S.C.0"), false);
    assert.equal(push.answered(f, ask ?? ""), true);
    assert.equal(push.stalled(f), false);
    assert.doesNotMatch(dec.decode(push.idleHeartbeat(3, 9, f)), /Stalled/);
  });
});

describe("pull waiting list", () => {
  it("expires requests and ends no_wait ones with 404 or 408", () => {
    const cfg = consumerConfigSchema.parse({ max_waiting: 10 });
    const req = (body: string): PullRequest => {
      const r = parsePullRequest(`R.${body.length}`, new TextEncoder().encode(body), cfg, 0, 1000);
      assert.ok(!(r instanceof Uint8Array));
      return r;
    };
    const waiting = [req('{"batch":2,"expires":5000000}'), req('{"batch":3,"no_wait":true}'), req('{"no_wait":true}')];
    waiting[1].delivered = 1;
    const { bus, sent } = recorder();
    const last = { dseq: 0, lastDeliveredSseq: 0 };
    expireRequests(waiting, 1004, bus, last);
    assert.equal(waiting.length, 3);
    expireRequests(waiting, 1005, bus, last);
    assert.equal(waiting.length, 2);
    endNoWait(waiting, bus);
    assert.equal(waiting.length, 0);
    assert.deepEqual(sent.map((s) => s.status), [
      "NATS/1.0 408 Request Timeout",
      "NATS/1.0 408 Request Timeout",
      "NATS/1.0 404 No Messages",
    ]);
  });

  it("sends a heartbeat owed before the expiry ahead of the 408 when the timer ran late", () => {
    const cfg = consumerConfigSchema.parse({ max_waiting: 10 });
    // expires 100 ms, a heartbeat every 30 ms; made at t=1000.
    const body = new TextEncoder().encode(`{"batch":2,"expires":${100 * NS},"idle_heartbeat":${30 * NS}}`);
    const late = parsePullRequest("R.late", body, cfg, 0, 1000);
    const fresh = parsePullRequest("R.fresh", body, cfg, 0, 1000);
    assert.ok(!(late instanceof Uint8Array) && !(fresh instanceof Uint8Array));
    fresh.lastSent = 1080; // its last heartbeat went out at 1080: the next (1110) falls after its expiry (1100)
    const { bus, sent } = recorder();
    // The loop was held from t=1000 to t=1150: every deadline of both requests passed at once.
    expireRequests([late, fresh], 1150, bus, { dseq: 3, lastDeliveredSseq: 7 });
    assert.deepEqual(sent.map((s) => `${s.subject} ${s.status}`), [
      "R.late NATS/1.0 100 Idle Heartbeat",
      "R.late NATS/1.0 408 Request Timeout",
      "R.fresh NATS/1.0 408 Request Timeout",
    ]);
  });
});
