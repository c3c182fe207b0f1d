// JetStream shared across accounts the way the official clients support it: account A has JetStream and exports
// its API (`$JS.API.>`, response type stream), its acks and the delivery subjects; account B imports the API
// under a prefix and the rest as is, then nats.js with `apiPrefix` manages, pulls, pushes and watches KV.
// Differential: the same conf on nats-server 2.9.10 and Petrel, the same client code, the same transcript.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type RunningServer, startServer } from "../helpers/servers.ts";

const td = new TextDecoder();
type J = Record<string, unknown>;

const CONF = `
accounts {
  A: {
    users: [{user: a, password: a}]
    jetstream: enabled
    exports: [
      {service: "$JS.API.>", response_type: stream}
      {service: "$JS.ACK.>"}
      {stream: "deliver.b.>"}
      {stream: "_INBOX_B.>"}
      {service: "orders.>"}
    ]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {service: {account: A, subject: "$JS.API.>"}, to: "JS.A.API.>"}
      {service: {account: A, subject: "$JS.ACK.>"}}
      {stream: {account: A, subject: "deliver.b.>"}}
      {stream: {account: A, subject: "_INBOX_B.>"}}
      {service: {account: A, subject: "orders.>"}}
    ]
  }
}
`;

interface Target {
  url: string;
  stop(): Promise<void>;
}

/** The same conf file for both, each a child process (Petrel as the drop-in it is). */
async function start(kind: "nats-server" | "petrel"): Promise<Target> {
  const s: RunningServer = await startServer(kind, { jetstream: true, conf: CONF });
  return { url: s.url, stop: () => s.stop() };
}

async function scenario(t: Target): Promise<J> {
  const out: J = {};
  const a = await connect({ servers: t.url, user: "a", pass: "a", reconnect: false });
  const b = await connect({ servers: t.url, user: "b", pass: "b", inboxPrefix: "_INBOX_B", reconnect: false });
  try {
    const jsmA = await jetstreamManager(a);
    await jsmA.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    const jsA = jetstream(a);
    for (let i = 1; i <= 3; i++) await jsA.publish(`orders.${i}`, `o${i}`);
    const kvA = await new Kvm(a).create("cfg");
    await kvA.put("color", "red");

    const opts = { apiPrefix: "JS.A.API" };
    const jsmB = await jetstreamManager(b, opts);
    out.names = await jsmB.streams.names().next();
    out.account = (await jsmB.getAccountInfo()).streams;
    // Pull through the imported API; the ack goes back through the $JS.ACK import.
    await jsmB.consumers.add("ORDERS", { durable_name: "proc", ack_policy: AckPolicy.Explicit });
    const jsB = jetstream(b, opts);
    const c = await jsB.consumers.get("ORDERS", "proc");
    const m = await c.next({ expires: 5000 });
    out.pulled = m ? [m.subject, td.decode(m.data), m.seq] : null;
    out.acked = m ? await m.ackAck() : false;
    const fetched: string[] = [];
    for await (const x of await c.fetch({ max_messages: 2, expires: 5000 })) {
      fetched.push(td.decode(x.data));
      await x.ackAck();
    }
    out.fetched = fetched;
    const info = await jsmB.consumers.info("ORDERS", "proc");
    out.ackFloor = info.ack_floor.stream_seq;
    // Push: A delivers on deliver.b.push, B receives it through the stream import and acks through the import.
    const sub = b.subscribe("deliver.b.push");
    await jsmB.consumers.add("ORDERS", { durable_name: "push", deliver_subject: "deliver.b.push", ack_policy: AckPolicy.Explicit });
    const pushed: string[] = [];
    for await (const pm of sub) {
      pushed.push(`${pm.subject} ${td.decode(pm.data)} ${pm.reply?.split(".").slice(0, 4).join(".")}`);
      pm.respond(new Uint8Array(0));
      if (pushed.length === 3) break;
    }
    out.pushed = pushed;
    // Acks arrive asynchronously; ask until the floor has moved (bounded).
    for (let i = 0; i < 50; i++) {
      out.pushFloor = (await jsmB.consumers.info("ORDERS", "push")).ack_floor.stream_seq;
      if (out.pushFloor === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // A push consumer made before anyone in B listens waits for B's subscription, then delivers.
    const late = await jsmB.consumers.add("ORDERS", { durable_name: "late", deliver_subject: "deliver.b.late", ack_policy: AckPolicy.None });
    out.lateBound = late.push_bound ?? false;
    const lateSub = b.subscribe("deliver.b.late", { max: 3 });
    const lateGot: string[] = [];
    for await (const lm of lateSub) lateGot.push(td.decode(lm.data));
    out.late = lateGot;
    // KV: read and watch A's bucket through the prefix; the ordered consumer delivers on B's inbox prefix.
    const kvB = await new Kvm(jsB).open("cfg");
    out.kvGet = td.decode((await kvB.get("color"))?.value);
    const w = await kvB.watch();
    const seen: string[] = [];
    let putDone = false;
    for await (const e of w) {
      seen.push(`${e.key}=${td.decode(e.value)}`);
      if (!putDone) {
        putDone = true;
        await kvA.put("color", "green");
      }
      if (seen.length === 2) break;
    }
    out.watched = seen;
    // B publishes into A's stream through a service import; the PubAck comes back through the reply mapping.
    const ack = await jsB.publish("orders.9", "from b");
    out.bPublish = [ack.stream, ack.seq];
    // B has no JetStream of its own and no other way in: its plain $JS.API goes nowhere.
    try {
      await b.request("$JS.API.INFO", "", { timeout: 500 });
      out.ownApi = "answered";
    } catch (e) {
      out.ownApi = (e as Error).message;
    }
  } finally {
    await a.close();
    await b.close();
  }
  return out;
}

describe("JetStream shared across accounts through imports (apiPrefix)", () => {
  const results = new Map<string, J>();
  const targets = new Map<string, Target>();
  before(async () => {
    for (const kind of ["nats-server", "petrel"] as const) targets.set(kind, await start(kind));
  });
  after(async () => {
    for (const t of targets.values()) await t.stop();
  });

  for (const kind of ["nats-server", "petrel"]) {
    it(`${kind}: B manages, pulls, pushes and watches KV in A through its imports`, async () => {
      const t = targets.get(kind);
      assert.ok(t);
      const r = await scenario(t);
      results.set(kind, r);
      assert.deepEqual(r.names, ["KV_cfg", "ORDERS"]);
      assert.deepEqual(r.pulled, ["orders.1", "o1", 1]);
      assert.equal(r.acked, true);
      assert.deepEqual(r.fetched, ["o2", "o3"]);
      assert.deepEqual(r.pushed, ["orders.1 o1 $JS.ACK.ORDERS.push", "orders.2 o2 $JS.ACK.ORDERS.push", "orders.3 o3 $JS.ACK.ORDERS.push"]);
      assert.equal(r.pushFloor, 3);
      assert.equal(r.lateBound, false);
      assert.deepEqual(r.late, ["o1", "o2", "o3"]);
      assert.equal(r.kvGet, "red");
      assert.deepEqual(r.watched, ["color=red", "color=green"]);
      assert.deepEqual(r.bPublish, ["ORDERS", 4]);
    });
  }

  it("both servers gave the same answers", () => {
    const ns = results.get("nats-server");
    const pt = results.get("petrel");
    assert.ok(ns && pt, "both scenarios ran");
    assert.deepEqual(pt, ns);
  });
});

// A mirror and a filtered source in B of A's stream, through A's API imported under a prefix
// (`external: { api, deliver }`), the deliveries coming back through a stream import.
const EXTERNAL_CONF = `
accounts {
  A: { users: [{user: a, password: a}], jetstream: enabled,
    exports: [ {service: "$JS.API.>", response_type: stream}, {stream: "deliver.b.>"}, {service: "$JS.FC.>"} ] }
  B: { users: [{user: b, password: b}], jetstream: enabled,
    imports: [ {service: {account: A, subject: "$JS.API.>"}, to: "JS.A.API.>"}, {stream: {account: A, subject: "deliver.b.>"}},
      {service: {account: A, subject: "$JS.FC.>"}} ] }
}
`;

async function externalScenario(url: string): Promise<J> {
  const out: J = {};
  const a = await connect({ servers: url, user: "a", pass: "a", reconnect: false });
  const b = await connect({ servers: url, user: "b", pass: "b", reconnect: false });
  try {
    const jsmA = await jetstreamManager(a);
    await jsmA.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    const jsA = jetstream(a);
    for (let i = 1; i <= 3; i++) await jsA.publish(`orders.${i}`, `o${i}`);
    const jsmB = await jetstreamManager(b);
    const m = await jsmB.streams.add({ name: "M", mirror: { name: "ORDERS", external: { api: "JS.A.API", deliver: "deliver.b.m" } } });
    out.mirrorConfig = m.config.mirror;
    await jsmB.streams.add({
      name: "SRC",
      sources: [{ name: "ORDERS", filter_subject: "orders.2", external: { api: "JS.A.API", deliver: "deliver.b.s" } }],
    });
    await jsA.publish("orders.2", "later");
    // Both catch up by themselves; wait (bounded) until they hold what A has for them.
    const until = async (stream: string, n: number) => {
      for (let i = 0; i < 250; i++) {
        if ((await jsmB.streams.info(stream)).state.messages >= n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until("M", 4);
    await until("SRC", 2);
    const mi = await jsmB.streams.info("M");
    out.mirror = { messages: mi.state.messages, last_seq: mi.state.last_seq, lag: mi.mirror?.lag, external: (mi.mirror as { external?: unknown } | undefined)?.external };
    const m4 = await jsmB.streams.getMessage("M", { seq: 4 });
    out.mirrorLast = [m4?.subject, td.decode(m4?.data), m4?.seq];
    const si = await jsmB.streams.info("SRC");
    out.source = { messages: si.state.messages, external: (si.sources?.[0] as { external?: unknown } | undefined)?.external };
    const s1 = await jsmB.streams.getMessage("SRC", { seq: 2 });
    out.sourceLast = [s1?.subject, td.decode(s1?.data), s1?.header.get("Nats-Stream-Source")];
  } finally {
    await a.close();
    await b.close();
  }
  return out;
}

describe("JetStream mirror and source from another account (external api)", () => {
  const results = new Map<string, J>();
  for (const kind of ["nats-server", "petrel"] as const) {
    it(`${kind}: B mirrors and sources A's stream through its imports`, async () => {
      const s = await startServer(kind, { jetstream: true, conf: EXTERNAL_CONF });
      try {
        const r = await externalScenario(s.url);
        results.set(kind, r);
        assert.deepEqual(r.mirror, { messages: 4, last_seq: 4, lag: 0, external: { api: "JS.A.API", deliver: "deliver.b.m" } });
        assert.deepEqual(r.mirrorLast, ["orders.2", "later", 4]);
        assert.equal((r.source as J).messages, 2);
        assert.deepEqual(r.sourceLast, ["orders.2", "later", "ORDERS:3V17LQ3b 4"]);
      } finally {
        await s.stop();
      }
    });
  }
  it("both servers gave the same answers", () => {
    const ns = results.get("nats-server");
    const pt = results.get("petrel");
    assert.ok(ns && pt, "both scenarios ran");
    assert.deepEqual(pt, ns);
  });
});

describe("JetStream external mirror and source across a restart", () => {
  for (const kind of ["nats-server", "petrel"] as const) {
    it(`${kind}: picks up after what it holds, without duplicates`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-jsacc-ext-"));
      const conf = path.join(dir, "ext.conf");
      fs.writeFileSync(conf, `jetstream { store_dir: ${JSON.stringify(path.join(dir, "store"))} }\n${EXTERNAL_CONF}`);
      const counts = async (url: string, want: [number, number]): Promise<[number, number]> => {
        const b = await connect({ servers: url, user: "b", pass: "b", reconnect: false });
        try {
          const jsm = await jetstreamManager(b);
          let got: [number, number] = [0, 0];
          for (let i = 0; i < 250; i++) {
            got = [(await jsm.streams.info("M")).state.messages, (await jsm.streams.info("SRC")).state.messages];
            if (got[0] >= want[0] && got[1] >= want[1]) break;
            await new Promise((r) => setTimeout(r, 20));
          }
          return got;
        } finally {
          await b.close();
        }
      };
      try {
        let s = await startServer(kind, { args: ["-c", conf] });
        try {
          const a = await connect({ servers: s.url, user: "a", pass: "a", reconnect: false });
          const b = await connect({ servers: s.url, user: "b", pass: "b", reconnect: false });
          await (await jetstreamManager(a)).streams.add({ name: "ORDERS", subjects: ["orders.>"] });
          for (let i = 1; i <= 3; i++) await jetstream(a).publish(`orders.${i % 2}`, `o${i}`);
          const jsmB = await jetstreamManager(b);
          await jsmB.streams.add({ name: "M", mirror: { name: "ORDERS", external: { api: "JS.A.API", deliver: "deliver.b.m" } } });
          await jsmB.streams.add({ name: "SRC", sources: [{ name: "ORDERS", filter_subject: "orders.1", external: { api: "JS.A.API", deliver: "deliver.b.s" } }] });
          await a.close();
          await b.close();
          assert.deepEqual(await counts(s.url, [3, 2]), [3, 2]);
        } finally {
          await s.stop();
        }
        s = await startServer(kind, { args: ["-c", conf] });
        try {
          const a = await connect({ servers: s.url, user: "a", pass: "a", reconnect: false });
          for (let i = 4; i <= 5; i++) await jetstream(a).publish(`orders.${i % 2}`, `o${i}`);
          await a.close();
          // 5 in the mirror, o1 o3 o5 in the source: nothing twice.
          assert.deepEqual(await counts(s.url, [5, 3]), [5, 3]);
        } finally {
          await s.stop();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
