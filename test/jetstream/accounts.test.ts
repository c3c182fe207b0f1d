// JetStream per account, at the engine level: one engine per account (each on its own bus, as each account has
// its own subject space), limits and their errors, the "not enabled for account" responder, /jsz per account,
// and the per-account store layout (file and SQLite), including stores written before accounts existed.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type AccountBus, JetStreamAccounts, planAccounts } from "../../src/jetstream/accounts.ts";
import { disabledResponse } from "../../src/jetstream/disabled.ts";
import { ackInfo, apiHash } from "../../src/jetstream/external.ts";
import { startJetStream } from "../../src/jetstream/engine.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { jsz, jszQuery } from "../../src/jetstream/jsz.ts";
import { type AccountLimits, limitsFromConfig, UNLIMITED } from "../../src/jetstream/limits.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StorageKind, StorageProvider } from "../../src/jetstream/store/types.ts";
import { openAccountStores, openStorage } from "../../adapters/storage/index.ts";
import { api, TestBus } from "./bus.ts";

type J = Record<string, unknown>;
const err = (r: J) => r.error as { code: number; err_code: number; description: string } | undefined;
const enc = new TextEncoder();
const dec = new TextDecoder();

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-jsacc-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** One TestBus per account: what an internal client bound to the account gives the engine. */
class Host {
  readonly buses = new Map<string, TestBus>();
  constructor(readonly storage: (account: string) => StorageProvider = () => new MemoryStorage()) {}
  busFor(account: string): AccountBus {
    const bus = this.buses.get(account) ?? new TestBus();
    this.buses.set(account, bus);
    return Object.assign(bus, { close: () => {} });
  }
  storageFor(account: string): StorageProvider {
    return this.storage(account);
  }
  bus(account: string): TestBus {
    const b = this.buses.get(account);
    assert.ok(b, `no bus for ${account}`);
    return b;
  }
}

async function pub(bus: TestBus, subject: string, data: string): Promise<J> {
  const m = await bus.request(subject, enc.encode(data));
  return JSON.parse(dec.decode(m.payload)) as J;
}

function start(accounts: Record<string, AccountLimits>, disabled: string[] = [], host = new Host()) {
  const all = new JetStreamAccounts(host, { server_name: "test", max_memory_store: -1, max_file_store: -1 });
  all.startAll({ enabled: new Map(Object.entries(accounts)), disabled });
  return { all, host };
}

describe("JetStream per account (engine)", () => {
  it("keeps same-named streams, messages and consumers apart per account", async () => {
    const { all, host } = start({ A: UNLIMITED, B: UNLIMITED });
    try {
      const a = host.bus("A");
      const b = host.bus("B");
      for (const bus of [a, b]) {
        assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.>"] })), undefined);
      }
      assert.equal((await pub(a, "orders.1", "a1")).seq, 1);
      assert.equal((await pub(a, "orders.2", "a2")).seq, 2);
      assert.equal((await pub(b, "orders.1", "b1")).seq, 1);
      const ia = await api(a, "$JS.API.STREAM.INFO.ORDERS");
      const ib = await api(b, "$JS.API.STREAM.INFO.ORDERS");
      assert.equal((ia.state as J).messages, 2);
      assert.equal((ib.state as J).messages, 1);
      const got = await api(b, "$JS.API.STREAM.MSG.GET.ORDERS", { seq: 1 });
      assert.equal(atob((got.message as J).data as string), "b1");
      assert.equal(err(await api(a, "$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.C", { stream_name: "ORDERS", config: { durable_name: "C", ack_policy: "explicit" } })), undefined);
      assert.equal(err(await api(b, "$JS.API.CONSUMER.INFO.ORDERS.C"))?.err_code, 10014);
      // A KV bucket is a stream: same bucket name, separate keys.
      for (const bus of [a, b]) {
        const r = await api(bus, "$JS.API.STREAM.CREATE.KV_cfg", { name: "KV_cfg", subjects: ["$KV.cfg.>"], max_msgs_per_subject: 1, allow_rollup_hdrs: true, deny_delete: true, allow_direct: true });
        assert.equal(err(r), undefined);
      }
      await pub(a, "$KV.cfg.color", "red");
      const last = await api(b, "$JS.API.STREAM.MSG.GET.KV_cfg", { last_by_subj: "$KV.cfg.color" });
      assert.equal(err(last)?.err_code, 10037);
      assert.deepEqual((await api(a, "$JS.API.STREAM.NAMES")).streams, ["KV_cfg", "ORDERS"]);
      const infoA = await api(a, "$JS.API.INFO");
      const infoB = await api(b, "$JS.API.INFO");
      assert.equal(infoA.consumers, 1);
      assert.equal(infoB.consumers, 0);
      assert.equal(all.get("A")?.account, "A");
    } finally {
      all.stop();
    }
  });

  it("enforces account limits with nats-server's errors and reports them in account info", async () => {
    const limits = limitsFromConfig({ max_mem: 1_000_000, max_file: 10_000_000, max_streams: 2, max_consumers: 3 });
    const { all, host } = start({ A: limits });
    try {
      const a = host.bus("A");
      const info = await api(a, "$JS.API.INFO");
      assert.deepEqual(info.limits, {
        max_memory: 1_000_000,
        max_storage: 10_000_000,
        max_streams: 2,
        max_consumers: 3,
        max_ack_pending: -1,
        memory_max_stream_bytes: -1,
        storage_max_stream_bytes: -1,
        max_bytes_required: false,
      });
      assert.equal(info.tiers, undefined);
      // max_bytes reservations against max_mem / max_file.
      assert.equal(err(await api(a, "$JS.API.STREAM.CREATE.M1", { name: "M1", storage: "memory", max_bytes: 600_000 })), undefined);
      const m2 = await api(a, "$JS.API.STREAM.CREATE.M2", { name: "M2", storage: "memory", max_bytes: 600_000 });
      assert.deepEqual(err(m2), { code: 500, err_code: 10028, description: "insufficient memory resources available" });
      const f = await api(a, "$JS.API.STREAM.CREATE.F", { name: "F", max_bytes: 20_000_000 });
      assert.deepEqual(err(f), { code: 500, err_code: 10047, description: "insufficient storage resources available" });
      assert.equal(err(await api(a, "$JS.API.STREAM.CREATE.M2", { name: "M2", storage: "memory" })), undefined);
      // The stream's own reservation does not count against an update of it; the others' do.
      assert.equal(err(await api(a, "$JS.API.STREAM.UPDATE.M1", { name: "M1", storage: "memory", max_bytes: 900_000 })), undefined);
      assert.equal(err(await api(a, "$JS.API.STREAM.UPDATE.M2", { name: "M2", storage: "memory", max_bytes: 500_000 }))?.err_code, 10028);
      const s3 = await api(a, "$JS.API.STREAM.CREATE.S3", { name: "S3", storage: "memory" });
      assert.deepEqual(err(s3), { code: 400, err_code: 10027, description: "maximum number of streams reached" });
      // Creating an existing stream again with the same config is not a new stream.
      assert.equal(err(await api(a, "$JS.API.STREAM.CREATE.M2", { name: "M2", storage: "memory" })), undefined);
      // nats-server 2.9 applies max_consumers per stream (capping the stream's own max_consumers).
      const consumer = (s: string, c: string) =>
        api(a, `$JS.API.CONSUMER.DURABLE.CREATE.${s}.${c}`, { stream_name: s, config: { durable_name: c, ack_policy: "explicit" } });
      for (const c of ["c1", "c2", "c3"]) assert.equal(err(await consumer("M2", c)), undefined);
      const c4 = await consumer("M2", "c4");
      assert.deepEqual(err(c4), { code: 400, err_code: 10026, description: "maximum consumers limit reached" });
      assert.equal(err(await consumer("M1", "c4")), undefined);
      const wide = await api(a, "$JS.API.STREAM.UPDATE.M1", { name: "M1", storage: "memory", max_bytes: 900_000, max_consumers: 5 });
      assert.equal(err(wide)?.err_code, 10026);
      // Stored bytes: a message that would take the account over max_mem is refused in its PubAck.
      const big = "x".repeat(100 * 1024);
      let refusedAt = -1;
      for (let i = 0; i < 12; i++) {
        const r = await pub(a, "M2", big);
        if (r.error) {
          assert.deepEqual(r, { error: { code: 400, err_code: 10002, description: "resource limits exceeded for account" }, stream: "M2", seq: 0 });
          refusedAt = i;
          break;
        }
      }
      assert.equal(refusedAt, 9, "nine 100 KiB messages fit under 1 MB, the tenth does not");
      const after = await api(a, "$JS.API.INFO");
      assert.equal(after.memory, 9 * (2 + 100 * 1024 + 16));
      assert.equal(after.streams, 2);
      assert.equal(after.consumers, 4);
      assert.equal(after.reserved_memory, undefined, "nats-server 2.9 does not report reservations in account info");
    } finally {
      all.stop();
    }
  });

  it("answers an account without JetStream with 10039 in each response's shape", async () => {
    const { all, host } = start({ A: UNLIMITED }, ["C"]);
    try {
      const c = host.bus("C");
      assert.deepEqual(await api(c, "$JS.API.INFO"), {
        type: "io.nats.jetstream.api.v1.account_info_response",
        error: { code: 503, err_code: 10039, description: "JetStream not enabled for account" },
      });
      assert.deepEqual(await api(c, "$JS.API.STREAM.NAMES"), {
        type: "io.nats.jetstream.api.v1.stream_names_response",
        error: { code: 503, err_code: 10039, description: "JetStream not enabled for account" },
        total: 0,
        offset: 0,
        limit: 0,
        streams: null,
      });
      const created = await api(c, "$JS.API.STREAM.CREATE.S", { name: "S" });
      assert.equal(err(created)?.err_code, 10039);
      assert.equal(created.type, "io.nats.jetstream.api.v1.stream_create_response");
      assert.deepEqual((await api(c, "$JS.API.STREAM.PURGE.S")).purged, 0);
      assert.deepEqual((await api(c, "$JS.API.CONSUMER.LIST.S")).consumers, []);
      // Silent where nats-server is silent: the client sees no responders / a timeout.
      assert.equal(disabledResponse("$JS.API.CONSUMER.MSG.NEXT.S.C"), undefined);
      assert.equal(disabledResponse("$JS.API.DIRECT.GET.S"), undefined);
      assert.equal(disabledResponse("$JS.API.NOPE"), undefined);
      // A enables normally and never sees C's requests.
      assert.equal(err(await api(host.bus("A"), "$JS.API.STREAM.CREATE.S", { name: "S" })), undefined);
    } finally {
      all.stop();
    }
  });

  it("leaves the subjects an account imports as services to the exporter", async () => {
    const host = new Host();
    const all = new JetStreamAccounts(host, {});
    try {
      all.refuse("D", ["$JS.API.>"]);
      assert.equal(host.bus("D").hasInterest("$JS.API.INFO"), false, "a full import: no refusal at all");
      all.refuse("E", ["$JS.API.CONSUMER.INFO.S.*"]);
      const e = host.bus("E");
      // The imported request goes unanswered here; the marker request after it is refused, and arrives alone.
      const got = e.collect("_INBOX.e", 1, 2000);
      e.publish("$JS.API.CONSUMER.INFO.S.C", new Uint8Array(0), { reply: "_INBOX.e" });
      e.publish("$JS.API.INFO", new Uint8Array(0), { reply: "_INBOX.e" });
      const answers = (await got.done).map((m) => JSON.parse(dec.decode(m.payload)) as J);
      assert.deepEqual(answers.map((r) => r.type), ["io.nats.jetstream.api.v1.account_info_response"]);
      const plan = planAccounts({ A: { jetstream: {} }, B: { imports: [{ service: { subject: "$JS.API.>" }, to: "JS.A.API.>" }, { stream: { subject: "x" } }] } });
      assert.deepEqual(plan.imported?.get("B"), ["JS.A.API.>"]);
    } finally {
      all.stop();
    }
  });

  it("applies a reloaded plan: new limits, newly enabled accounts", async () => {
    const { all, host } = start({ A: limitsFromConfig({ max_streams: 1 }) }, ["C"]);
    try {
      assert.equal(err(await api(host.bus("A"), "$JS.API.STREAM.CREATE.S1", { name: "S1" })), undefined);
      assert.equal(err(await api(host.bus("A"), "$JS.API.STREAM.CREATE.S2", { name: "S2" }))?.err_code, 10027);
      all.apply({ enabled: new Map([["A", limitsFromConfig({ max_streams: 2 })], ["C", UNLIMITED]]), disabled: [] });
      assert.equal(err(await api(host.bus("A"), "$JS.API.STREAM.CREATE.S2", { name: "S2" })), undefined);
      const c = await api(host.bus("C"), "$JS.API.INFO");
      assert.equal(err(c), undefined);
      assert.equal((c.limits as J).max_streams, -1);
    } finally {
      all.stop();
    }
  });

  it("names an external origin as nats-server does (its api's short hash)", async () => {
    assert.equal(await apiHash("JS.A.API"), "3V17LQ3b");
  });

  it("reads the origin and consumer sequences and pending count of an external feed's deliveries from the ack reply", () => {
    assert.deepEqual(ackInfo("$JS.ACK.ORDERS.c1.1.42.7.1700000000000000000.3"), { seq: 42, dseq: 7, pending: 3 });
    assert.deepEqual(ackInfo("$JS.ACK.hub.ACCHASH.ORDERS.c1.1.42.7.1700000000000000000.3.rand"), { seq: 42, dseq: 7, pending: 3 });
    assert.equal(ackInfo("$JS.ACK.ORDERS.c1.1"), undefined);
    assert.equal(ackInfo("_INBOX.x"), undefined);
    assert.equal(ackInfo(undefined), undefined);
  });

  it("feeds an external mirror through the other API, answering flow control and asking again after silence", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const bus = new TestBus();
    const requests: J[] = [];
    bus.subscribe("X.API.CONSUMER.CREATE.ORDERS", (m) => requests.push(JSON.parse(dec.decode(m.payload)) as J));
    const js = startJetStream(bus, { clock }, new MemoryStorage());
    const tick = () => new Promise((r) => setTimeout(r, 0));
    try {
      const r = await api(bus, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "ORDERS", external: { api: "X.API", deliver: "d" } } });
      assert.equal(err(r), undefined);
      for (let i = 0; i < 100 && requests.length === 0; i++) await tick();
      assert.equal(requests.length, 1);
      const cfg = requests[0].config as J;
      assert.equal(cfg.ack_policy, "none");
      assert.equal(cfg.flow_control, true);
      const deliver = String(cfg.deliver_subject);
      assert.match(deliver, /^d\.M\./);
      // A delivery: the origin sequence comes from the ack reply; flow control gets its answer.
      bus.publish(deliver, enc.encode("o1"), { reply: "$JS.ACK.ORDERS.c.1.1.1.1700000000000000000.0" });
      const fc = bus.collect("$JS.FC.ORDERS.c.x", 1, 2000);
      bus.publish(deliver, new Uint8Array(0), { reply: "$JS.FC.ORDERS.c.x", headers: enc.encode("NATS/1.0 100 FlowControl Request\r\n\r\n") });
      assert.equal((await fc.done).length, 1);
      await tick();
      const m1 = await api(bus, "$JS.API.STREAM.MSG.GET.M", { seq: 1 });
      assert.equal(atob((m1.message as J).data as string), "o1");
      // Heartbeats keep the feed; silence for three of them makes it ask again, from after what it holds.
      for (let i = 0; i < 5; i++) {
        clock.advance(1000);
        bus.publish(deliver, new Uint8Array(0), { headers: enc.encode("NATS/1.0 100 Idle Heartbeat\r\n\r\n") });
        await tick();
      }
      assert.equal(requests.length, 1);
      clock.advance(4000);
      await tick();
      assert.equal(requests.length, 2);
      const again = requests[1].config as J;
      assert.equal(again.deliver_policy, "by_start_sequence");
      assert.equal(again.opt_start_seq, 2);
      assert.notEqual(again.deliver_subject, deliver);
    } finally {
      js.stop();
    }
  });

  it("keeps an external feed ordered: a skipped consumer sequence or a heartbeat ahead asks again from what is stored; a refusal shows", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const bus = new TestBus();
    const requests: Array<{ config: J; reply?: string }> = [];
    bus.subscribe("X.API.CONSUMER.CREATE.ORDERS", (m) => requests.push({ config: (JSON.parse(dec.decode(m.payload)) as J).config as J, reply: m.reply }));
    const js = startJetStream(bus, { clock }, new MemoryStorage());
    const tick = () => new Promise((r) => setTimeout(r, 0));
    const waitRequests = async (n: number) => {
      for (let i = 0; i < 100 && requests.length < n; i++) await tick();
      assert.equal(requests.length, n);
      return requests[n - 1];
    };
    const ack = (sseq: number, dseq: number, pending: number) => `$JS.ACK.ORDERS.c.1.${sseq}.${dseq}.1700000000000000000.${pending}`;
    try {
      await api(bus, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "ORDERS", external: { api: "X.API", deliver: "d" } } });
      // The origin refuses: stream info shows its error, and no activity yet.
      const first = await waitRequests(1);
      bus.publish(first.reply!, enc.encode(JSON.stringify({ error: { code: 404, err_code: 10059, description: "stream not found" } })));
      await tick();
      let info = await api(bus, "$JS.API.STREAM.INFO.M");
      assert.deepEqual(info.mirror, { name: "ORDERS", lag: 0, active: -1, external: { api: "X.API", deliver: "d" }, error: { code: 404, err_code: 10059, description: "stream not found" } });
      // Three silent heartbeats: asked again; this time deliveries come, in order.
      clock.advance(4000);
      const second = await waitRequests(2);
      const deliver = String(second.config.deliver_subject);
      bus.publish(deliver, enc.encode("o1"), { reply: ack(1, 1, 4) });
      bus.publish(deliver, enc.encode("o2"), { reply: ack(2, 2, 3) });
      await tick();
      info = await api(bus, "$JS.API.STREAM.INFO.M");
      assert.equal((info.state as J).last_seq, 2);
      assert.equal((info.mirror as J).lag, 3);
      assert.equal("error" in (info.mirror as J), false);
      // A delivery with consumer sequence 4 after 2: one was lost on the way. Not stored; asked again from 3.
      bus.publish(deliver, enc.encode("o4"), { reply: ack(4, 4, 1) });
      const third = await waitRequests(3);
      assert.equal(third.config.opt_start_seq, 3);
      assert.equal(((await api(bus, "$JS.API.STREAM.INFO.M")).state as J).last_seq, 2);
      // The old consumer's subject is no longer heard; the new one redelivers 3 and 4 (2 again is dropped).
      const d3 = String(third.config.deliver_subject);
      assert.notEqual(d3, deliver);
      bus.publish(deliver, enc.encode("late"), { reply: ack(5, 5, 0) });
      bus.publish(d3, enc.encode("o2"), { reply: ack(2, 1, 3) });
      bus.publish(d3, enc.encode("o3"), { reply: ack(3, 2, 2) });
      bus.publish(d3, enc.encode("o4"), { reply: ack(4, 3, 1) });
      await tick();
      assert.equal(((await api(bus, "$JS.API.STREAM.INFO.M")).state as J).last_seq, 4);
      // A heartbeat saying the consumer delivered more than arrived: asked again from 5.
      bus.publish(d3, new Uint8Array(0), { headers: enc.encode("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 4\r\nNats-Last-Stream: 5\r\n\r\n") });
      const fourth = await waitRequests(4);
      assert.equal(fourth.config.opt_start_seq, 5);
      const got: string[] = [];
      for (let seq = 1; seq <= 4; seq++) {
        const r = await api(bus, "$JS.API.STREAM.MSG.GET.M", { seq });
        got.push(atob((r.message as J).data as string));
      }
      assert.deepEqual(got, ["o1", "o2", "o3", "o4"]);
    } finally {
      js.stop();
    }
  });

  it("starts an external source at its opt_start_time until it has taken something", async () => {
    const bus = new TestBus();
    const requests: J[] = [];
    bus.subscribe("X.API.CONSUMER.CREATE.ORDERS", (m) => requests.push((JSON.parse(dec.decode(m.payload)) as J).config as J));
    const js = startJetStream(bus, {}, new MemoryStorage());
    try {
      const at = "2026-01-02T03:04:05Z";
      await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", sources: [{ name: "ORDERS", opt_start_time: at, external: { api: "X.API" } }] });
      for (let i = 0; i < 100 && requests.length === 0; i++) await new Promise((r) => setTimeout(r, 0));
      assert.equal(requests[0].deliver_policy, "by_start_time");
      assert.equal(requests[0].opt_start_time, at);
    } finally {
      js.stop();
    }
  });

  it("plans accounts the way nats-server enables them", () => {
    assert.deepEqual([...planAccounts(undefined).enabled.keys()], ["$G"]);
    assert.deepEqual([...planAccounts({ SYS: {} }, "SYS").enabled.keys()], ["$G"], "the system account alone is not an accounts block");
    const p = planAccounts({ A: { jetstream: { max_mem: 1024, max_file: -1, max_streams: 2, max_consumers: -1 } }, B: { jetstream: {} }, C: {} });
    assert.deepEqual([...p.enabled.keys()], ["A", "B"]);
    assert.deepEqual(p.enabled.get("A"), { max_memory: 1024, max_storage: -1, max_streams: 2, max_consumers: -1 });
    assert.deepEqual(p.enabled.get("B"), UNLIMITED);
    assert.deepEqual(p.disabled.sort(), ["$G", "C"]);
  });

  it("reports /jsz per account", async () => {
    const { all, host } = start({ A: limitsFromConfig({ max_mem: 1000, max_file: 5000 }), B: UNLIMITED });
    try {
      const a = host.bus("A");
      const b = host.bus("B");
      await api(a, "$JS.API.STREAM.CREATE.S", { name: "S", max_bytes: 4000 });
      await api(b, "$JS.API.STREAM.CREATE.S", { name: "S", storage: "memory" });
      await api(b, "$JS.API.STREAM.CREATE.T", { name: "T" });
      await api(b, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", { stream_name: "S", config: { durable_name: "d", ack_policy: "explicit" } });
      await pub(b, "S", "hello");
      const plain = jsz(all, jszQuery(new URLSearchParams("")));
      assert.equal(plain.accounts, 2);
      assert.equal(plain.streams, 3);
      assert.equal(plain.consumers, 1);
      assert.equal(plain.messages, 1);
      assert.equal(plain.reserved_storage, 4000);
      assert.equal(plain.account_details, undefined);
      assert.deepEqual((plain.api as J).total, 4);
      const accs = jsz(all, jszQuery(new URLSearchParams("accounts=true")));
      const details = accs.account_details as J[];
      assert.deepEqual(details.map((d) => d.name), ["A", "B"]);
      assert.equal(details[0].reserved_memory, 1000);
      assert.equal(details[0].reserved_storage, 5000);
      assert.equal(details[1].reserved_memory, 18446744073709551615);
      assert.equal(details[1].stream_detail, undefined, "stream_detail only with streams or consumers");
      assert.equal((details[1].api as J).total, 3);
      const one = jsz(all, jszQuery(new URLSearchParams("acc=B&consumers=true")));
      const [bd] = one.account_details as J[];
      assert.equal((one.account_details as J[]).length, 1);
      const streams = bd.stream_detail as J[];
      assert.deepEqual(streams.map((s) => s.name), ["S", "T"]);
      assert.equal((streams[0].consumer_detail as J[]).length, 1);
      assert.equal(jsz(all, jszQuery(new URLSearchParams("acc=NOPE"))).account_details, undefined);
    } finally {
      all.stop();
    }
  });

  it("caps the server's max_*_store over all accounts' reservations", async () => {
    const host = new Host();
    const all = new JetStreamAccounts(host, { max_memory_store: 1000, max_file_store: -1 });
    all.startAll({ enabled: new Map([["A", UNLIMITED], ["B", UNLIMITED]]), disabled: [] });
    try {
      assert.equal(err(await api(host.bus("A"), "$JS.API.STREAM.CREATE.S", { name: "S", storage: "memory", max_bytes: 700 })), undefined);
      assert.equal(err(await api(host.bus("B"), "$JS.API.STREAM.CREATE.S", { name: "S", storage: "memory", max_bytes: 700 }))?.err_code, 10028);
      assert.equal(err(await api(host.bus("B"), "$JS.API.STREAM.CREATE.S", { name: "S", storage: "memory", max_bytes: 300 })), undefined);
    } finally {
      all.stop();
    }
  });
});

describe("JetStream store per account", () => {
  async function roundTrip(kind: StorageKind, dir: string) {
    const stores = await openAccountStores({ kind, storeDir: dir });
    const { all, host } = start({ $G: UNLIMITED, A: UNLIMITED }, [], new Host((acc) => stores.forAccount(acc)));
    for (const acc of ["$G", "A"]) {
      await api(host.bus(acc), "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s"] });
      await pub(host.bus(acc), "s", `from ${acc}`);
    }
    await pub(host.bus("A"), "s", "again");
    all.stop();
    stores.close();
    const stores2 = await openAccountStores({ kind, storeDir: dir });
    const again = start({ $G: UNLIMITED, A: UNLIMITED }, [], new Host((acc) => stores2.forAccount(acc)));
    try {
      const g = await api(again.host.bus("$G"), "$JS.API.STREAM.INFO.S");
      const a = await api(again.host.bus("A"), "$JS.API.STREAM.INFO.S");
      assert.equal((g.state as J).messages, 1);
      assert.equal((a.state as J).messages, 2);
      const m = await api(again.host.bus("$G"), "$JS.API.STREAM.MSG.GET.S", { seq: 1 });
      assert.equal(atob((m.message as J).data as string), "from $G");
    } finally {
      again.all.stop();
      stores2.close();
    }
  }

  it("lays the file store out as nats-server does: <store_dir>/jetstream/<account>/streams/<stream>", async () => {
    const dir = tmpDir();
    await roundTrip("file", dir);
    assert.ok(fs.existsSync(path.join(dir, "jetstream", "$G", "streams", "S", "meta")));
    assert.ok(fs.existsSync(path.join(dir, "jetstream", "A", "streams", "S", "msgs")));
  });

  it("keeps accounts apart in one SQLite database", async () => {
    await roundTrip("sqlite", tmpDir());
  });

  it("opens a file store written before accounts as $G's, moving it into place", async () => {
    const dir = tmpDir();
    // Write $G's stream, then put it where Petrel kept streams before accounts: <store_dir>/jetstream/streams.
    let stores = await openAccountStores({ kind: "file", storeDir: dir });
    let run = start({ $G: UNLIMITED }, [], new Host((acc) => stores.forAccount(acc)));
    await api(run.host.bus("$G"), "$JS.API.STREAM.CREATE.OLD", { name: "OLD", subjects: ["old"] });
    await pub(run.host.bus("$G"), "old", "kept");
    run.all.stop();
    stores.close();
    fs.renameSync(path.join(dir, "jetstream", "$G", "streams"), path.join(dir, "jetstream", "streams"));
    fs.rmdirSync(path.join(dir, "jetstream", "$G"));
    stores = await openAccountStores({ kind: "file", storeDir: dir });
    run = start({ $G: UNLIMITED }, [], new Host((acc) => stores.forAccount(acc)));
    try {
      const m = await api(run.host.bus("$G"), "$JS.API.STREAM.MSG.GET.OLD", { seq: 1 });
      assert.equal(atob((m.message as J).data as string), "kept");
      assert.ok(fs.existsSync(path.join(dir, "jetstream", "$G", "streams", "OLD")));
      assert.ok(!fs.existsSync(path.join(dir, "jetstream", "streams")), "the old directory is gone once empty");
    } finally {
      run.all.stop();
      stores.close();
    }
  });

  it("refuses to start when a stream exists in both the old and the new layout", async () => {
    const dir = tmpDir();
    const st = await openStorage({ kind: "file", storeDir: dir });
    st.putMeta("S", "config", "{}");
    st.close();
    fs.cpSync(path.join(dir, "jetstream", "$G", "streams"), path.join(dir, "jetstream", "streams"), { recursive: true });
    await assert.rejects(() => openStorage({ kind: "file", storeDir: dir }), /both exist/);
  });
});
