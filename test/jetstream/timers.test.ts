// Redelivery deadlines (backoff steps, delayed naks, ack wait) fire at their deadline: on an injected clock
// exactly, and on the wire against nats-server and Petrel alike within a few ms.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startJetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";
import { startServer } from "../helpers/servers.ts";
import { api, pub, TestBus } from "./helpers.ts";

const MS = 1_000_000;
const enc = new TextEncoder();

/** Lets queued microtasks and zero-delay callbacks run (the bus delivers asynchronously); no time passes. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));
/** Delivery count: the 5th token of `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>...`. */
const dc = (m: { reply?: string }) => Number((m.reply ?? "").split(".")[4]);

describe("redelivery deadlines on an injected clock", () => {
  it("backoff steps, a delayed nak and ack wait fire exactly at their deadline", async () => {
    const clock = new ManualClock();
    const bus = new TestBus();
    const js = startJetStream(bus, { server_name: "t", clock }, new MemoryStorage());
    try {
      await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"] });
      await pub(bus, "s.a", "one");
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.b", {
        stream_name: "S",
        config: { durable_name: "b", ack_policy: "explicit", backoff: [250 * MS, 1000 * MS], max_deliver: 5 },
      });
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.w", {
        stream_name: "S",
        config: { durable_name: "w", ack_policy: "explicit", ack_wait: 2000 * MS },
      });
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.n", {
        stream_name: "S",
        config: { durable_name: "n", ack_policy: "explicit", ack_wait: 30_000 * MS },
      });
      const got: Record<string, BusMsg[]> = { b: [], w: [], n: [] };
      for (const c of ["b", "w", "n"]) {
        bus.subscribe(`in.${c}`, (m) => got[c].push(m));
        bus.publish(`$JS.API.CONSUMER.MSG.NEXT.S.${c}`, enc.encode('{"batch":10}'), { reply: `in.${c}` });
      }
      await settle();
      assert.deepEqual([got.b.length, got.w.length, got.n.length], [1, 1, 1]);

      // backoff[0] = 250 ms
      clock.advance(249);
      await settle();
      assert.equal(got.b.length, 1, "not before the first backoff step");
      clock.advance(1);
      await settle();
      assert.deepEqual(got.b.map(dc), [1, 2]);
      // backoff[1] = 1 s
      clock.advance(999);
      await settle();
      assert.equal(got.b.length, 2, "not before the second backoff step");
      clock.advance(1);
      await settle();
      assert.deepEqual(got.b.map(dc), [1, 2, 3]);
      // -NAK with a 700 ms delay, sent at 1250 ms (other deadlines run meanwhile: ack wait of "w" at 2000 ms)
      bus.publish(got.n[0].reply ?? "", enc.encode('-NAK {"delay": 700000000}'));
      await settle();
      clock.advance(699);
      await settle();
      assert.equal(got.n.length, 1, "not before the nak delay");
      clock.advance(1);
      await settle();
      assert.deepEqual(got.n.map(dc), [1, 2]);
      assert.equal(got.b.length, 3, "next backoff step still 1 s away");
      assert.equal(got.w.length, 1, "ack wait 2 s not yet over (1950 ms)");
      clock.advance(49);
      await settle();
      assert.equal(got.w.length, 1);
      clock.advance(1);
      await settle();
      assert.deepEqual(got.w.map(dc), [1, 2]);
    } finally {
      js.stop();
    }
  });

  it("an ack before the deadline cancels the redelivery; timers stop with the consumer", async () => {
    const clock = new ManualClock();
    const bus = new TestBus();
    const js = startJetStream(bus, { server_name: "t", clock }, new MemoryStorage());
    try {
      await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"] });
      await pub(bus, "s.a", "one");
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.c", {
        stream_name: "S",
        config: { durable_name: "c", ack_policy: "explicit", ack_wait: 1000 * MS },
      });
      const got: BusMsg[] = [];
      bus.subscribe("in", (m) => got.push(m));
      bus.publish("$JS.API.CONSUMER.MSG.NEXT.S.c", enc.encode('{"batch":10}'), { reply: "in" });
      await settle();
      assert.equal(got.length, 1);
      bus.publish(got[0].reply ?? "", enc.encode("+ACK"));
      await settle();
      clock.advance(5000);
      await settle();
      assert.equal(got.length, 1, "acked: never redelivered");
      await api(bus, "$JS.API.CONSUMER.DELETE.S.c");
      await api(bus, "$JS.API.STREAM.DELETE.S");
      assert.equal(clock.pending, 0, "nothing left scheduled");
    } finally {
      js.stop();
    }
  });
});

interface Side {
  name: string;
  nc: NatsConnection;
  stop(): Promise<void>;
}

async function call(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const r = (await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json<Record<string, unknown>>();
  assert.equal(r.error, undefined, `${subject}: ${JSON.stringify(r.error)}`);
  return r;
}

/** Pulls `n` deliveries (redeliveries included) of one message, noting when each arrived. */
async function timedDeliveries(
  nc: NatsConnection,
  consumer: string,
  n: number,
  onDelivery: (m: Msg, i: number) => void = () => {},
): Promise<number[]> {
  const inbox = `in.${consumer}`;
  const times: number[] = [];
  const sub = nc.subscribe(inbox);
  // Index 0: when the pull went out, before the server could deliver anything (an anchor no lateness of this
  // process can move earlier); the deliveries follow.
  times.push(performance.now());
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.T.${consumer}`, JSON.stringify({ batch: n, expires: 10_000 * MS }), {
    reply: inbox,
  });
  for await (const m of sub) {
    if (m.headers?.hasError || (m.headers && m.data.length === 0 && m.headers.code)) {
      throw new Error(`status ${m.headers.code} ${m.headers.description}`);
    }
    times.push(performance.now());
    onDelivery(m, times.length - 2);
    if (times.length === n + 1) break;
  }
  return times;
}

describe("redelivery deadlines: nats-server vs Petrel", () => {
  const sides: Side[] = [];
  before(async () => {
    const n = await startServer("nats-server", { jetstream: true });
    sides.push({ name: "nats-server", nc: await connect({ servers: n.url }), stop: () => n.stop() });
    // A process of its own, as nats-server is: timing is not at the mercy of the test runner's event loop.
    const p = await startServer("petrel", { jetstream: true });
    sides.push({ name: "petrel", nc: await connect({ servers: p.url }), stop: () => p.stop() });
  });
  after(async () => {
    for (const s of sides) {
      await s.nc.close();
      await s.stop();
    }
  });

  /** One measurement on both sides, on consumers of their own (`round` names them): the gaps and the offsets. */
  async function measure(round: number): Promise<{ gaps: Record<string, number[]>; early: Record<string, number[]> }> {
    const gaps: Record<string, number[]> = {};
    const early: Record<string, number[]> = {};
    for (const s of sides) {
      if (round === 0) {
        await call(s.nc, "$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.*"] });
        await s.nc.request("t.a", "x", { timeout: 5000 });
      }
      const [bo, nk, nt] = ["bo", "nk", "nt"].map((n) => `${n}${round}`);
      await call(s.nc, `$JS.API.CONSUMER.DURABLE.CREATE.T.${bo}`, {
        stream_name: "T",
        config: { durable_name: bo, ack_policy: "explicit", backoff: [250 * MS, 500 * MS], max_deliver: 4 },
      });
      await call(s.nc, `$JS.API.CONSUMER.DURABLE.CREATE.T.${nk}`, {
        stream_name: "T",
        config: { durable_name: nk, ack_policy: "explicit", ack_wait: 30_000 * MS },
      });
      const boT = await timedDeliveries(s.nc, bo, 3);
      let nakAt = 0;
      const nkT = await timedDeliveries(s.nc, nk, 2, (m, i) => {
        if (i === 0) {
          nakAt = performance.now();
          m.respond('-NAK {"delay": 300000000}');
        }
      });
      await call(s.nc, `$JS.API.CONSUMER.DURABLE.CREATE.T.${nt}`, {
        stream_name: "T",
        config: { durable_name: nt, ack_policy: "explicit", ack_wait: 30_000 * MS },
      });
      let textNakAt = 0;
      const ntT = await timedDeliveries(s.nc, nt, 2, (m, i) => {
        if (i === 0) {
          textNakAt = performance.now();
          m.respond("-NAK 300ms"); // a Go duration works as well as {"delay": ns}
        }
      });
      gaps[s.name] = [boT[2] - boT[1], boT[3] - boT[2], nkT[2] - nakAt, ntT[2] - textNakAt];
      // Not early: measured from the pull request, so a delivery this process read late cannot shorten the next
      // gap (a late read of the first redelivery once made nats-server's second step look 85 ms early).
      early[s.name] = [boT[2] - boT[0], boT[3] - boT[0], nkT[2] - nakAt, ntT[2] - textNakAt];
    }
    return { gaps, early };
  }

  it("a 250 ms / 500 ms backoff and 300 ms nak delays are kept within a few ms", { timeout: 30_000 }, async () => {
    const targets = [250, 500, 300, 300];
    const fromStart = [250, 750, 300, 300];
    const show = (r: Record<string, number[]>) =>
      Object.entries(r).map(([n, g]) => `${n}: ${g.map((x) => x.toFixed(1)).join(", ")} ms`).join("; ");
    // Early is never excused. Late is measured again once: under a full suite on 2 loaded cores the Petrel child
    // process was once starved ~200 ms on one step while nats-server was not; a timer that is really late (a
    // polling tick) is late in both rounds.
    let tries = "";
    for (let round = 0; round < 2; round++) {
      const { gaps, early } = await measure(round);
      const msg = `gaps ${show(gaps)}; from the request ${show(early)}${tries}`;
      let late = false;
      for (const [i, target] of targets.entries()) {
        const ref = gaps["nats-server"][i];
        const ours = gaps["petrel"][i];
        // Not early (a few ms of slack for timer granularity; the injected-clock test above checks the deadlines
        // exactly).
        assert.ok(early["nats-server"][i] >= fromStart[i] - 5 && early["petrel"][i] >= fromStart[i] - 5, msg);
        // On time: within 80 ms of the deadline, plus whatever lateness the loaded machine imposed on nats-server
        // itself for the same event; a polling tick (the old 250 ms backoff came after ~495 ms) does not fit.
        if (!(ours < target + 80 + Math.max(0, ref - target))) late = true;
      }
      if (!late) return;
      tries += ` (round ${round + 1} late: ${msg})`;
    }
    assert.fail(`late twice:${tries}`);
  });
});
