// The delivery state machine of a STAN channel, driven by an injected clock: max_inflight, acks, redelivery after
// ack_wait with a growing count, queue members handing over their messages, durables parked and resumed, and a
// message taken by a limit before its redelivery. No network, no timers: time moves when the test says.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { Stream } from "../../src/jetstream/stream.ts";
import { Channel, type ChannelEntry, type Sub } from "../../src/stan/channel.ts";

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
  const sub = (g: { key: string; durable?: string; qgroup?: string }, inbox: string, maxInflight = 100, ackWait = 1000) =>
    ch.join(g.key, g.durable, g.qgroup, ch.groups.get(g.key)?.lastSent ?? 0, {
      clientID: "c",
      inbox,
      ackInbox: `ack.${inbox}`,
      maxInflight,
      ackWait,
    });
  return { clock, ch, stream, publish, take, sub };
}

describe("STAN channel delivery (injected clock)", () => {
  test("max_inflight, acks and redelivery after ack_wait", () => {
    const { clock, ch, publish, take, sub } = setup();
    publish(2);
    const s = sub({ key: "sub:1" }, "a", 2, 1000);
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
    const g = { key: "q:w", qgroup: "w" };
    const a = sub(g, "a");
    const b = sub(g, "b");
    publish(4);
    assert.deepEqual(take(), ["a:1", "b:2", "a:3", "b:4"]);
    ch.ack(b, 2);
    ch.leave(a, true);
    assert.deepEqual(take(), ["b:1r1", "b:3r1"]);
    ch.leave(b, true);
    assert.equal(ch.groups.size, 0, "a non-durable group goes with its last member");
  });

  test("a closed durable keeps its cursor and unacknowledged messages; unsubscribed, it is gone", () => {
    const { ch, publish, take, sub } = setup();
    const g = { key: "dur:c:d", durable: "d" };
    const s1 = sub(g, "a");
    publish(3);
    assert.deepEqual(take(), ["a:1", "a:2", "a:3"]);
    ch.ack(s1, 2);
    ch.leave(s1, true);
    assert.deepEqual(ch.groups.get(g.key)?.parked, [1, 3]);
    publish(1);
    assert.deepEqual(take(), [], "nobody attached: nothing sent");
    const s2 = sub(g, "b");
    assert.deepEqual(take(), ["b:1r1", "b:3r1", "b:4"]);
    ch.leave(s2, false);
    assert.equal(ch.groups.has(g.key), false);
  });

  test("a message taken by a limit is not redelivered; the cursor skips what is gone and never goes back", () => {
    const { clock, publish, take, sub } = setup(2);
    const s = sub({ key: "sub:1" }, "a", 1, 1000);
    const g = s.group;
    publish(1);
    assert.deepEqual(take(), ["a:1"]);
    publish(3); // max_msgs 2: 1 and 2 are gone, 3 and 4 stay
    clock.advance(1000);
    // 1 is gone: dropped from pending, the next slot takes 3 (2 was removed before it was sent).
    assert.deepEqual(take(), ["a:3"]);
    assert.equal(g.lastSent, 3);
    assert.throws(() => (g.lastSent = 2), /lastSent 2 < 3/);
  });

  test("one door: replaying the applied entries on another channel gives the same subscription state", () => {
    const entries: ChannelEntry[] = [];
    const { clock, ch, publish, sub } = setup();
    const apply = ch.apply.bind(ch);
    ch.apply = (e: ChannelEntry) => {
      entries.push(structuredClone(e));
      return apply(e);
    };
    const q = { key: "q:w", qgroup: "w" };
    const a = sub(q, "a", 2);
    const b = sub(q, "b", 2);
    const d = sub({ key: "dur:c:d", durable: "d" }, "d", 3);
    publish(6);
    ch.ack(a, 1);
    ch.ack(d, 2);
    clock.advance(1000);
    ch.leave(b, true);
    ch.leave(d, true);
    publish(1);

    const replica = setup();
    replica.publish(7);
    for (const e of entries) replica.ch.apply(e);
    const view = (c: Channel) =>
      [...c.groups.values()].map((g) => ({
        key: g.key,
        lastSent: g.lastSent,
        parked: g.parked,
        members: g.members.map((m: Sub) => [m.ackInbox, [...m.pending].map(([seq, p]) => [seq, p.deadline, p.count])]),
      }));
    assert.deepEqual(view(replica.ch), view(ch));
    assert.ok(entries.some((e) => e.op === "redeliver") && entries.some((e) => e.op === "leave"));
  });
});
