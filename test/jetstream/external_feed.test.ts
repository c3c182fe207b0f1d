// A mirror's or source's feed (external.ts) against a real origin engine on an in-process bus, on an injected
// clock: it must not wait for ever on an origin consumer that heartbeats but will not deliver.
// - A consumer created by a clustered stream leader is paused until its group runs it; if that never happens
//   (its assignment lost with the leadership), it heartbeated anyway, and the feed, hearing it, never asked for
//   another (jsraft/mirror: a feed stopped after a leader change). A paused consumer now stays silent, and the
//   feed's silence check asks for a new consumer.
// - A flow control answer that is lost leaves the consumer stalled; its heartbeats name the request
//   (`Nats-Consumer-Stalled`), which the feed now answers, as nats-server's mirror does.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { type JetStream, startJetStream } from "../../src/jetstream/engine.ts";
import { ExternalFeed } from "../../src/jetstream/external.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StoredMsg } from "../../src/jetstream/store/types.ts";
import type { JsBus } from "../../src/jetstream/types.ts";
import { api, pub, TestBus } from "./helpers.ts";

/** Waits, microtask by microtask (no time passes), until `cond` holds; bounded, naming what it waited for. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => queueMicrotask(r));
  }
  throw new Error(`never happened: ${what}`);
}

/** An origin stream O on its own engine, and a mirror feed of it whose stored messages the test reads. */
async function origin(feedBus?: (bus: TestBus) => JsBus) {
  const clock = new ManualClock();
  const bus = new TestBus();
  const js: JetStream = startJetStream(bus, { server_name: "origin", clock }, new MemoryStorage());
  await api(bus, "$JS.API.STREAM.CREATE.O", { name: "O", subjects: ["o.>"] });
  const stored: StoredMsg[] = [];
  const creates: string[] = [];
  bus.subscribe("$JS.API.CONSUMER.CREATE.O", (m) => creates.push(m.reply ?? ""));
  const feed = new ExternalFeed({
    bus: feedBus ? feedBus(bus) : bus,
    clock,
    resumeAfter: () => stored.at(-1)?.seq ?? 0,
    store: (m) => void stored.push(m),
  }, { name: "O" }, true);
  /** Moves the clock on by `ms` in 100 ms steps, the bus delivering everything after each (no time passes). */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      await bus.settled();
    }
  };
  const consumers = () => [...(js.consumers.get("O")?.values() ?? [])];
  return { clock, bus, js, feed, stored, creates, advance, consumers };
}

describe("a mirror's feed and an origin consumer that does not deliver", () => {
  it("asks for a new consumer when the one it got stays paused (its group never runs it)", async () => {
    const o = await origin();
    try {
      o.feed.start();
      await until("the feed's consumer created at the origin", () => o.consumers().length > 0);
      await o.bus.settled();
      assert.equal(o.creates.length, 1);
      const [first] = o.consumers();
      assert.ok(first, "the feed's consumer exists at the origin");
      // What a clustered stream leader leaves behind when the consumer's assignment is lost with its leadership:
      // created and answered, paused until a group that will never run it does.
      first.paused = true;
      for (let i = 1; i <= 3; i++) await pub(o.bus, "o.x", `m${i}`);
      // Four heartbeat intervals: on the old code the paused consumer heartbeated each second, the feed heard it
      // and waited for ever (nothing stored, one create).
      await o.advance(4_500);
      assert.ok(o.creates.length >= 2, `asked again (${o.creates.length} creates)`);
      assert.deepEqual(o.stored.map((m) => m.seq), [1, 2, 3]);
      // The feed knew the paused one's name from the create answer: deleted as it moved on.
      assert.equal(o.consumers().includes(first), false);
      assert.equal(o.consumers().length, 1);
    } finally {
      o.feed.close();
      o.js.stop();
    }
  });

  it("answers the flow control request a stalled consumer's heartbeat names when the first answer was lost", async () => {
    let dropped = 0;
    // The feed's first flow control answer is lost on the way to the origin.
    const o = await origin((bus) => ({
      subscribe: bus.subscribe.bind(bus),
      unsubscribe: bus.unsubscribe.bind(bus),
      hasInterest: bus.hasInterest.bind(bus),
      publish: (subject, payload, opts) => {
        if (subject.startsWith("$JS.FC.") && dropped++ === 0) return;
        bus.publish(subject, payload, opts);
      },
    }));
    try {
      // 48 x 32 KiB: three flow control windows of 512 KiB; the consumer stalls after two unanswered.
      const payload = "x".repeat(32 * 1024);
      for (let i = 0; i < 48; i++) await pub(o.bus, "o.x", payload);
      o.feed.start();
      await until("a flow control request", () => dropped > 0);
      await o.bus.settled();
      assert.equal(dropped, 1, "a flow control request came and its answer was dropped");
      assert.ok(o.stored.length > 0 && o.stored.length < 48, `stalled part way (${o.stored.length} stored)`);
      // On the old code the heartbeats said the consumer was stalled, the feed had every delivery and did
      // nothing: stuck for ever with one create.
      await o.advance(2_500);
      assert.equal(o.stored.length, 48);
      assert.deepEqual(o.stored.map((m) => m.seq), Array.from({ length: 48 }, (_, i) => i + 1));
      assert.equal(o.creates.length, 1, "the same consumer went on");
    } finally {
      o.feed.close();
      o.js.stop();
    }
  });
});
