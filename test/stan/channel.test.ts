// The delivery state machine of a STAN channel, driven by an injected clock: max_inflight, acks, redelivery after
// ack_wait with a growing count, queue members handing over their messages, durables parked and resumed, and a
// message taken by a limit before its redelivery. No network, no timers: time moves when the test says.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { streamConfigSchema } from "../../src/jetstream/config.ts";
import { Stream } from "../../src/jetstream/stream.ts";
import { Channel, Group, Sub } from "../../src/stan/channel.ts";

const enc = new TextEncoder();

function setup(maxMsgs = -1) {
  const clock = new ManualClock();
  const storage = new MemoryStorage();
  const cfg = streamConfigSchema.parse({ name: "ch", subjects: ["ch"], storage: "memory", max_msgs: maxMsgs });
  const stream = new Stream(cfg, new Date(clock.now()).toISOString(), storage, () => clock.now());
  const sent: Array<{ to: string; seq: number; redelivered: boolean; count: number }> = [];
  const ch = new Channel("ch", stream, storage, { max_msgs: 0, max_bytes: 0, max_age: 0, max_subs: 0, max_inactivity: 0 }, {
    clock,
    send: (sub, m, redelivered, count) => sent.push({ to: sub.inbox, seq: m.seq, redelivered, count }),
  });
  const publish = (n: number) => {
    for (let i = 0; i < n; i++) stream.publish("ch", undefined, enc.encode(`m${i}`));
    ch.pumpAll();
  };
  const take = () => sent.splice(0, sent.length).map((s) => `${s.to}:${s.seq}${s.redelivered ? `r${s.count}` : ""}`);
  const sub = (g: Group, inbox: string, maxInflight = 100, ackWait = 1000) => {
    if (!ch.groups.has(g.key)) ch.groups.set(g.key, g);
    const s = new Sub("c", inbox, `ack.${inbox}`, g, maxInflight, ackWait);
    ch.attach(s);
    return s;
  };
  return { clock, ch, stream, publish, take, sub };
}

describe("STAN channel delivery (injected clock)", () => {
  test("max_inflight, acks and redelivery after ack_wait", () => {
    const { clock, ch, publish, take, sub } = setup();
    publish(2);
    const s = sub(new Group("ch", "sub:1", undefined, undefined, "c", 0), "a", 2, 1000);
    publish(2);
    assert.deepEqual(take(), ["a:1", "a:2"]);
    clock.advance(999);
    assert.deepEqual(take(), []);
    clock.advance(1);
    assert.deepEqual(take(), ["a:1r1", "a:2r1"]);
    ch.ack(s, 1);
    assert.deepEqual(take(), ["a:3"]);
    clock.advance(1000);
    // 2 was redelivered at t=1000, 3 sent at t=1000: both due at t=2000.
    assert.deepEqual(take(), ["a:2r2", "a:3r1"]);
    ch.ack(s, 2);
    ch.ack(s, 3);
    assert.deepEqual(take(), ["a:4"]);
    ch.ack(s, 4);
    clock.advance(10_000);
    assert.deepEqual(take(), []);
    assert.equal(s.pending.size, 0);
  });

  test("queue members share one cursor; a leaving member's messages go to the others, flagged", () => {
    const { ch, publish, take, sub } = setup();
    const g = new Group("ch", "q:w", undefined, "w", "c", 0);
    const a = sub(g, "a");
    const b = sub(g, "b");
    publish(4);
    assert.deepEqual(take(), ["a:1", "b:2", "a:3", "b:4"]);
    ch.ack(b, 2);
    assert.equal(ch.detach(a, true), false);
    assert.deepEqual(take(), ["b:1r1", "b:3r1"]);
    assert.equal(ch.detach(b, true), true, "a non-durable group goes with its last member");
    assert.equal(ch.groups.size, 0);
  });

  test("a closed durable keeps its cursor and unacknowledged messages; unsubscribed, it is gone", () => {
    const { ch, publish, take, sub } = setup();
    const g = new Group("ch", "dur:c:d", "d", undefined, "c", 0);
    const s1 = sub(g, "a");
    publish(3);
    assert.deepEqual(take(), ["a:1", "a:2", "a:3"]);
    ch.ack(s1, 2);
    assert.equal(ch.detach(s1, true), false);
    assert.deepEqual(g.parked, [1, 3]);
    publish(1);
    assert.deepEqual(take(), [], "nobody attached: nothing sent");
    const s2 = sub(g, "b");
    assert.deepEqual(take(), ["b:1r1", "b:3r1", "b:4"]);
    assert.equal(ch.detach(s2, false), true);
    assert.equal(ch.groups.has(g.key), false);
  });

  test("a message taken by a limit is not redelivered; the cursor skips what is gone and never goes back", () => {
    const { clock, publish, take, sub } = setup(2);
    const g = new Group("ch", "sub:1", undefined, undefined, "c", 0);
    sub(g, "a", 1, 1000);
    publish(1);
    assert.deepEqual(take(), ["a:1"]);
    publish(3); // max_msgs 2: 1 and 2 are gone, 3 and 4 stay
    clock.advance(1000);
    // 1 is gone: dropped from pending, the next slot takes 3 (2 was removed before it was sent).
    assert.deepEqual(take(), ["a:3"]);
    assert.equal(g.lastSent, 3);
    assert.throws(() => (g.lastSent = 2), /lastSent 2 < 3/);
  });
});
