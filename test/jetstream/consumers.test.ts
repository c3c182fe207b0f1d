import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { findHeader, headerStatus } from "../../src/protocol/headers.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startJetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { api, pub, TestBus, text } from "./helpers.ts";

// Every consumer deadline (ack wait, backoff, nak delay, pull expiry, heartbeats, replay pacing) runs on the
// engine's injected ManualClock: time passes only through passTime(), and what a step causes is awaited with
// settle() (the bus delivers in microtasks). No test here sleeps.

type J = Record<string, unknown>;
const err = (r: J) => r.error as { code: number; err_code: number; description: string } | undefined;
const MS = 1_000_000;

interface Env {
  bus: TestBus;
  clock: ManualClock;
  js: { stop(): void };
}

function startEngine(): Env {
  const clock = new ManualClock();
  const bus = new TestBus();
  return { bus, clock, js: startJetStream(bus, { server_name: "test", clock }, new MemoryStorage()) };
}

/** Runs what is queued (microtasks, then callbacks due now on the clock) until nothing is left for now. */
async function settle(clock: ManualClock): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    await new Promise<void>((r) => setTimeout(r, 0));
    const next = clock.nextAt();
    if (next === undefined || next > clock.now()) return;
    clock.advance(0);
  }
  throw new Error("the engine keeps scheduling work for now");
}

/** Moves the clock `ms` forward, one due callback at a time, settling what each one causes. */
async function passTime(clock: ManualClock, ms: number): Promise<void> {
  const end = clock.now() + ms;
  await settle(clock);
  for (let next = clock.nextAt(); next !== undefined && next <= end; next = clock.nextAt()) {
    clock.advance(Math.max(0, next - clock.now()));
    await settle(clock);
  }
  clock.advance(end - clock.now());
  await settle(clock);
}

/** Sends a pull request whose inbox gathers what arrives until `close()`. */
function pullOpen({ bus }: Env, stream: string, consumer: string, req: unknown): { got: BusMsg[]; close(): void } {
  const inbox = `_INBOX.pull.${Math.random().toString(36).slice(2)}`;
  const got: BusMsg[] = [];
  const sid = bus.subscribe(inbox, (m) => got.push(m));
  bus.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, new TextEncoder().encode(typeof req === "string" ? req : JSON.stringify(req)), { reply: inbox });
  return { got, close: () => bus.unsubscribe(sid) };
}

/** Sends a pull request and gathers what arrives on its inbox at once and while `passMs` of clock time pass. */
async function pull(e: Env, stream: string, consumer: string, req: unknown, passMs = 0): Promise<BusMsg[]> {
  const p = pullOpen(e, stream, consumer, req);
  await passTime(e.clock, passMs);
  p.close();
  return p.got;
}
const data = (ms: BusMsg[]) => ms.filter((m) => !m.headers || headerStatus(m.headers) === 0).map(text);
const statuses = (ms: BusMsg[]) => ms.map((m) => (m.headers ? headerStatus(m.headers) : 0)).filter((c) => c > 0);

async function ack(bus: TestBus, m: BusMsg, body = "+ACK"): Promise<void> {
  await bus.request(m.reply ?? "", body);
}

async function setup(bus: TestBus, n = 5, cfg: J = {}): Promise<void> {
  await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"], ...cfg });
  for (let i = 1; i <= n; i++) await pub(bus, `s.${i % 2 ? "odd" : "even"}`, `m${i}`);
}

describe("consumers", () => {
  it("validates configs with nats-server's errors", async () => {
    const { bus, js } = startEngine();
    try {
      await setup(bus, 1);
      const c = (cfg: J, subj = "$JS.API.CONSUMER.CREATE.S") => api(bus, subj, { stream_name: "S", config: cfg });
      assert.equal(err(await c({ durable_name: "d" }, "$JS.API.CONSUMER.CREATE.NOPE"))?.err_code, 10056);
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.CREATE.NOPE", { stream_name: "NOPE", config: {} }))?.err_code, 10059);
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S" })), undefined); // as nats-server
      assert.equal(err(await c({ idle_heartbeat: 1000 * MS }))?.err_code, 10088);
      assert.equal(err(await c({ flow_control: true }))?.err_code, 10089);
      assert.equal(err(await c({ deliver_subject: "dx", idle_heartbeat: MS }))?.err_code, 10083);
      assert.equal(err(await c({ deliver_subject: "dx", max_ack_pending: 5 }))?.err_code, 10082);
      assert.equal(err(await c({ max_waiting: -1 }))?.err_code, 10087);
      assert.equal(err(await c({ durable_name: "d" }))?.err_code, 10020);
      assert.equal(err(await c({ durable_name: "x" }, "$JS.API.CONSUMER.DURABLE.CREATE.S.d"))?.err_code, 10017);
      assert.equal(err(await c({ durable_name: "a.b" }, "$JS.API.CONSUMER.DURABLE.CREATE.S.a.b"))?.code, 400);
      assert.equal(err(await c({ deliver_policy: "by_start_sequence" }))?.err_code, 10094);
      assert.equal(err(await c({ filter_subject: "other.x" }))?.err_code, 10093);
      assert.equal(err(await c({ ack_policy: "bogus" }))?.err_code, 10025);
      assert.equal(err(await c({ max_deliver: 2, backoff: [1, 2, 3] }))?.err_code, 10116);
      const ok = await c({ durable_name: "d", ack_policy: "explicit" }, "$JS.API.CONSUMER.DURABLE.CREATE.S.d");
      assert.equal(ok.type, "io.nats.jetstream.api.v1.consumer_create_response");
      assert.equal(ok.name, "d");
      const eph = await c({ ack_policy: "none" });
      assert.equal(typeof eph.name, "string");
      const named = await c({ name: "n1", ack_policy: "explicit" }, "$JS.API.CONSUMER.CREATE.S.n1");
      assert.equal(named.name, "n1");
      const names = await api(bus, "$JS.API.CONSUMER.NAMES.S", {});
      assert.equal(names.total, 4);
      const list = await api(bus, "$JS.API.CONSUMER.LIST.S", {});
      assert.equal((list.consumers as J[]).length, 4);
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.INFO.S.zzz"))?.err_code, 10014);
      assert.equal((await api(bus, "$JS.API.CONSUMER.DELETE.S.n1")).success, true);
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.DELETE.S.n1"))?.err_code, 10014);
    } finally {
      js.stop();
    }
  });

  it("answers pull requests with messages and 404/408/409 statuses", async () => {
    const e = startEngine();
    const { bus, clock, js } = e;
    try {
      await setup(bus, 5);
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.p", { stream_name: "S", config: { durable_name: "p", ack_policy: "explicit", max_batch: 10 } });
      let got = await pull(e, "S", "p", { batch: 2 });
      assert.deepEqual(data(got), ["m1", "m2"]);
      const parts = (got[0].reply ?? "").split(".");
      assert.equal(parts.length, 9);
      assert.equal(parts[5], "1"); // stream seq
      assert.equal(parts[8], "4"); // pending after m1
      got = await pull(e, "S", "p", "3");
      assert.deepEqual(data(got), ["m3", "m4", "m5"]);
      got = await pull(e, "S", "p", { batch: 1, no_wait: true });
      assert.deepEqual(statuses(got), [404]);
      const expiring = pullOpen(e, "S", "p", { batch: 5, expires: 50 * MS });
      await passTime(clock, 49);
      assert.deepEqual(statuses(expiring.got), [], "not before it expires");
      await passTime(clock, 1);
      expiring.close();
      got = expiring.got;
      assert.deepEqual(statuses(got), [408]);
      assert.equal(findHeader(got[0].headers ?? new Uint8Array(), "Nats-Pending-Messages"), "5");
      got = await pull(e, "S", "p", { batch: 50 });
      assert.deepEqual(statuses(got), [409]);
      got = await pull(e, "S", "p", { batch: 1, expires: 100 * MS, idle_heartbeat: 30 * MS }, 150);
      assert.deepEqual(statuses(got), [100, 100, 100, 408], "a heartbeat every 30 ms until it expires");
      // A waiting request gets the next publish.
      const inbox = "_INBOX.wait";
      const waiting: BusMsg[] = [];
      bus.subscribe(inbox, (m) => waiting.push(m));
      bus.publish("$JS.API.CONSUMER.MSG.NEXT.S.p", new TextEncoder().encode(JSON.stringify({ batch: 1, expires: 1000 * MS })), { reply: inbox });
      await settle(clock);
      await pub(bus, "s.odd", "late");
      await settle(clock);
      assert.deepEqual(data(waiting), ["late"]);
      const info = await api(bus, "$JS.API.CONSUMER.INFO.S.p");
      assert.equal(info.num_ack_pending, 6);
      assert.equal(info.num_pending, 0);
      // Deleting the consumer tells waiting requests.
      const w2: BusMsg[] = [];
      bus.subscribe("_INBOX.w2", (m) => w2.push(m));
      bus.publish("$JS.API.CONSUMER.MSG.NEXT.S.p", new TextEncoder().encode(JSON.stringify({ batch: 1, expires: 1000 * MS })), { reply: "_INBOX.w2" });
      await settle(clock);
      await api(bus, "$JS.API.CONSUMER.DELETE.S.p");
      await settle(clock);
      assert.deepEqual(statuses(w2), [409]);
    } finally {
      js.stop();
    }
  });

  it("tracks acks, naks, redelivery, max_deliver, term and ack all", async () => {
    const e = startEngine();
    const { bus, clock, js } = e;
    try {
      await setup(bus, 4);
      const advisories: BusMsg[] = [];
      bus.subscribe("$JS.EVENT.ADVISORY.>", (m) => advisories.push(m));
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.e", { stream_name: "S", config: { durable_name: "e", ack_policy: "explicit", ack_wait: 60 * MS, max_deliver: 2 } });
      let got = await pull(e, "S", "e", { batch: 4 });
      assert.deepEqual(data(got), ["m1", "m2", "m3", "m4"]);
      await ack(bus, got[0]);
      await ack(bus, got[1], "-NAK");
      await ack(bus, got[2], "+TERM");
      await ack(bus, got[3], "+WPI");
      let info = await api(bus, "$JS.API.CONSUMER.INFO.S.e");
      assert.equal(info.num_ack_pending, 2);
      assert.deepEqual(info.ack_floor, { consumer_seq: 1, stream_seq: 1 });
      got = await pull(e, "S", "e", { batch: 1 });
      assert.deepEqual(data(got), ["m2"]);
      assert.equal((got[0].reply ?? "").split(".")[4], "2"); // delivery count
      // m4 and m2 expire after ack_wait and m4 comes back once more; max_deliver=2 stops the rest.
      await passTime(clock, 200);
      got = await pull(e, "S", "e", { batch: 5, expires: 300 * MS }, 400);
      assert.deepEqual(data(got), ["m4"]);
      await passTime(clock, 200);
      got = await pull(e, "S", "e", { batch: 5, no_wait: true });
      assert.deepEqual(data(got), []);
      info = await api(bus, "$JS.API.CONSUMER.INFO.S.e");
      assert.equal(info.num_ack_pending, 0);
      const kinds = advisories.map((m) => m.subject.split(".").slice(3, 5).join("."));
      assert.ok(kinds.includes("CONSUMER.CREATED"));
      assert.ok(kinds.includes("CONSUMER.MSG_TERMINATED"));
      assert.ok(kinds.includes("CONSUMER.MAX_DELIVERIES"));
      const md = JSON.parse(text(advisories.find((m) => m.subject.includes("MAX_DELIVERIES")) as BusMsg));
      assert.equal(md.type, "io.nats.jetstream.advisory.v1.max_deliver");
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.all", { stream_name: "S", config: { durable_name: "all", ack_policy: "all" } });
      got = await pull(e, "S", "all", { batch: 3 });
      await ack(bus, got[2]);
      info = await api(bus, "$JS.API.CONSUMER.INFO.S.all");
      assert.equal(info.num_ack_pending, 0);
      assert.deepEqual(info.ack_floor, { consumer_seq: 3, stream_seq: 3 });
      // -NAK with a delay holds the redelivery back.
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.nd", { stream_name: "S", config: { durable_name: "nd", ack_policy: "explicit", ack_wait: 5000 * MS } });
      got = await pull(e, "S", "nd", { batch: 1 });
      await ack(bus, got[0], `-NAK {"delay": ${100 * MS}}`);
      assert.deepEqual(data(await pull(e, "S", "nd", { batch: 1, no_wait: true })), ["m2"]);
      await passTime(clock, 99);
      // A redelivery goes before new messages: m3 first shows m1 is still held back.
      assert.deepEqual(data(await pull(e, "S", "nd", { batch: 1, no_wait: true })), ["m3"], "m1 held back until the delay passes");
      await passTime(clock, 1);
      assert.deepEqual(data(await pull(e, "S", "nd", { batch: 1, no_wait: true })), ["m1"]);
    } finally {
      js.stop();
    }
  });

  it("follows backoff for redeliveries and serves +NXT", async () => {
    // The backoff steps run on an injected clock: only `clock.advance` moves the consumer's deadlines, so a slow
    // machine cannot make the second step fall due before the no_wait pull below.
    const e = startEngine();
    const { bus, clock, js } = e;
    try {
      await setup(bus, 3);
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.bo", {
        stream_name: "S",
        config: { durable_name: "bo", ack_policy: "explicit", backoff: [50 * MS, 400 * MS], max_deliver: 3 },
      });
      const first = await pull(e, "S", "bo", { batch: 1 });
      assert.deepEqual(data(first), ["m1"]);
      // First redelivery after 50ms (it goes before m2), the next one only after the second backoff step.
      await passTime(clock, 50);
      const second = await pull(e, "S", "bo", { batch: 1, expires: 300 * MS });
      assert.deepEqual(data(second), ["m1"]);
      await passTime(clock, 399);
      const early = await pull(e, "S", "bo", { batch: 1, no_wait: true });
      assert.deepEqual(data(early), ["m2"]);
      // +NXT acks m2 and asks for the next message on the same reply.
      const nxt = await bus.request(early[0].reply ?? "", "+NXT");
      assert.equal(text(nxt), "m3");
      const info = await api(bus, "$JS.API.CONSUMER.INFO.S.bo");
      assert.equal(info.num_ack_pending, 2); // m1 and m3
      assert.equal(info.num_redelivered, 1);
    } finally {
      js.stop();
    }
  });

  it("starts where the deliver policy says and filters subjects", async () => {
    const e = startEngine();
    const { bus, js } = e;
    try {
      await setup(bus, 6);
      const mk = async (name: string, cfg: J) => {
        const r = await api(bus, `$JS.API.CONSUMER.CREATE.S.${name}`, { stream_name: "S", config: { name, ack_policy: "none", ...cfg } });
        assert.equal(err(r), undefined);
        return data(await pull(e, "S", name, { batch: 10, no_wait: true }));
      };
      assert.deepEqual(await mk("all", {}), ["m1", "m2", "m3", "m4", "m5", "m6"]);
      assert.deepEqual(await mk("last", { deliver_policy: "last" }), ["m6"]);
      assert.deepEqual(await mk("new", { deliver_policy: "new" }), []);
      assert.deepEqual(await mk("seq", { deliver_policy: "by_start_sequence", opt_start_seq: 5 }), ["m5", "m6"]);
      assert.deepEqual(await mk("time", { deliver_policy: "by_start_time", opt_start_time: new Date(Date.now() + 60_000).toISOString() }), []);
      assert.deepEqual(await mk("lps", { deliver_policy: "last_per_subject", filter_subject: "s.*" }), ["m5", "m6"]);
      assert.deepEqual(await mk("odd", { filter_subject: "s.odd" }), ["m1", "m3", "m5"]);
      assert.deepEqual(await mk("multi", { filter_subjects: ["s.odd", "s.even"], deliver_policy: "last" }), ["m6"]);
      const hdr = await pull(e, "S", "all", { batch: 1, no_wait: true });
      assert.deepEqual(statuses(hdr), [404]);
      await api(bus, "$JS.API.CONSUMER.CREATE.S.ho", { stream_name: "S", config: { name: "ho", ack_policy: "none", headers_only: true } });
      const ho = await pull(e, "S", "ho", { batch: 1 });
      assert.equal(ho[0].payload.length, 0);
      assert.equal(findHeader(ho[0].headers ?? new Uint8Array(), "Nats-Msg-Size"), "2");
    } finally {
      js.stop();
    }
  });

  it("ends a pull request at max_bytes and shares a push consumer across a deliver group", async () => {
    const e = startEngine();
    const { bus, clock, js } = e;
    try {
      await setup(bus, 4);
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.b", { stream_name: "S", config: { durable_name: "b", ack_policy: "none" } });
      const got = await pull(e, "S", "b", { batch: 4, max_bytes: 60, expires: 500 * MS });
      // Sizes count subject + ack reply (39 bytes here) + payload: 5 + 39 + 2 = 46; the next (47) does not fit in 60
      assert.deepEqual(data(got), ["m1"]);
      assert.deepEqual(statuses(got), [409]);
      const a: string[] = [];
      const b: string[] = [];
      bus.subscribe("grp", (m) => a.push(text(m)), { queue: "q" });
      bus.subscribe("grp", (m) => b.push(text(m)), { queue: "q" });
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.g", { stream_name: "S", config: { durable_name: "g", deliver_subject: "grp", deliver_group: "q", ack_policy: "none" } });
      await settle(clock);
      assert.equal(a.length + b.length, 4);
    } finally {
      js.stop();
    }
  });

  it("stalls a flow-controlled push consumer until the subscriber answers", async () => {
    const { bus, clock, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.F", { name: "F", subjects: ["f"] });
      const big = "x".repeat(100_000);
      for (let i = 0; i < 15; i++) await pub(bus, "f", big);
      const got: BusMsg[] = [];
      bus.subscribe("fc.in", (m) => got.push(m));
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.F.f", {
        stream_name: "F",
        config: { durable_name: "f", deliver_subject: "fc.in", ack_policy: "none", flow_control: true, idle_heartbeat: 100 * MS },
      });
      await settle(clock);
      const fc = got.find((m) => m.headers && headerStatus(m.headers) === 100 && m.reply?.startsWith("$JS.FC."));
      assert.ok(fc, "no flow control request");
      const before = data(got).length;
      assert.ok(before < 15, `delivered ${before} without waiting for flow control`);
      await passTime(clock, 300);
      assert.equal(data(got).length, before, "no time passing ends the stall (heartbeats still go out)");
      bus.publish(fc.reply ?? "", new Uint8Array(0));
      await settle(clock);
      assert.equal(data(got).length, 15);
    } finally {
      js.stop();
    }
  });

  it("replays at the original pace with replay_policy original", async () => {
    const { bus, clock, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.RO", { name: "RO", subjects: ["ro"] });
      for (let i = 0; i < 3; i++) {
        await pub(bus, "ro", `r${i}`);
        await passTime(clock, 80);
      }
      const times: number[] = [];
      bus.subscribe("ro.out", () => times.push(clock.now()));
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.RO.r", {
        stream_name: "RO",
        config: { durable_name: "r", deliver_subject: "ro.out", ack_policy: "none", replay_policy: "original" },
      });
      await passTime(clock, 159);
      assert.equal(times.length, 2, "the third is not replayed before its original gap");
      await passTime(clock, 1);
      assert.equal(times.length, 3);
      assert.deepEqual([times[1] - times[0], times[2] - times[0]], [80, 160], "stored 80 ms apart, replayed 80 ms apart");
    } finally {
      js.stop();
    }
  });

  it("limits outstanding acks with max_ack_pending", async () => {
    const e = startEngine();
    const { bus, js } = e;
    try {
      await setup(bus, 5);
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.m", { stream_name: "S", config: { durable_name: "m", ack_policy: "explicit", max_ack_pending: 2 } });
      const got = await pull(e, "S", "m", { batch: 5, expires: 100 * MS }, 200);
      assert.deepEqual(data(got), ["m1", "m2"]);
      await ack(bus, got[0]);
      assert.deepEqual(data(await pull(e, "S", "m", { batch: 5, expires: 100 * MS }, 200)), ["m3"]);
    } finally {
      js.stop();
    }
  });

  it("keeps interest-retention messages until every consumer acked", async () => {
    const e = startEngine();
    const { bus, js } = e;
    try {
      await api(bus, "$JS.API.STREAM.CREATE.I", { name: "I", subjects: ["i"], retention: "interest" });
      await pub(bus, "i", "dropped"); // nobody interested yet
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.I.a", { stream_name: "I", config: { durable_name: "a", ack_policy: "explicit" } });
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.I.b", { stream_name: "I", config: { durable_name: "b", ack_policy: "explicit" } });
      await pub(bus, "i", "kept");
      const st = async () => ((await api(bus, "$JS.API.STREAM.INFO.I")).state as J).messages;
      assert.equal(await st(), 1);
      const a = await pull(e, "I", "a", { batch: 1 });
      await ack(bus, a[0]);
      assert.equal(await st(), 1);
      const b = await pull(e, "I", "b", { batch: 1 });
      await ack(bus, b[0]);
      assert.equal(await st(), 0);
    } finally {
      js.stop();
    }
  });

  it("pushes to a deliver subject with heartbeats and flow control settings", async () => {
    const { bus, clock, js } = startEngine();
    try {
      await setup(bus, 3);
      const got: BusMsg[] = [];
      bus.subscribe("deliver.x", (m) => got.push(m));
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.push", {
        stream_name: "S",
        config: { durable_name: "push", deliver_subject: "deliver.x", ack_policy: "explicit", flow_control: true, idle_heartbeat: 100 * MS },
      });
      await settle(clock);
      assert.deepEqual(data(got), ["m1", "m2", "m3"]);
      assert.equal(got[0].subject, "s.odd");
      assert.equal(got.filter((m) => m.headers && headerStatus(m.headers) === 100).length, 0, "no heartbeat while busy");
      await passTime(clock, 400);
      const hb = got.find((m) => m.headers && headerStatus(m.headers) === 100);
      assert.ok(hb);
      assert.equal(findHeader(hb.headers ?? new Uint8Array(), "Nats-Last-Stream"), "3");
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { deliver_subject: "x.*" } }))?.err_code, 10079);
      assert.equal(err(await api(bus, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { deliver_subject: "x", flow_control: true } }))?.err_code, 10108);
    } finally {
      js.stop();
    }
  });
});
