// The official @nats-io/jetstream, kv and obj clients against an in-process Petrel with JetStream.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { removeDir, startJsServer } from "./server.ts";
import { startServer, waitFor } from "../helpers/servers.ts";

const te = new TextEncoder();

interface Target {
  url: string;
  monitorUrl?: string;
  stop(): Promise<void>;
}

/** Petrel in-process, or the reference nats-server as a child process: the same client code runs on both. */
async function start(kind: string): Promise<Target> {
  if (kind === "nats-server") {
    const s = await startServer("nats-server", { jetstream: true, monitor: true });
    return { url: s.url, monitorUrl: s.monitorUrl, stop: () => s.stop() };
  }
  const s = await startJsServer({ monitor: true });
  return {
    url: s.url,
    monitorUrl: s.petrel.monitorUrl,
    stop: async () => {
      await s.stop();
      removeDir(s.dir);
    },
  };
}

for (const kind of ["petrel", "nats-server"]) describe(`official JetStream clients against ${kind}`, () => {
  let srv: Target;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    srv = await start(kind);
    nc = await connect({ servers: srv.url, reconnect: false });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await srv?.stop();
  });

  it("manages streams and publishes with acks, dedupe and expectations", async () => {
    const si = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], max_msgs_per_subject: 10 });
    assert.equal(si.config.name, "ORDERS");
    const js = jetstream(nc);
    const a1 = await js.publish("orders.new", "one");
    assert.equal(a1.seq, 1);
    assert.equal(a1.stream, "ORDERS");
    const a2 = await js.publish("orders.new", "two", { msgID: "x1" });
    const a3 = await js.publish("orders.new", "two", { msgID: "x1" });
    assert.equal(a3.duplicate, true);
    assert.equal(a3.seq, a2.seq);
    await assert.rejects(js.publish("orders.new", "x", { expect: { lastSequence: 1 } }), /wrong last sequence/);
    await assert.rejects(js.publish("orders.new", "x", { expect: { streamName: "NOPE" } }), /expected stream does not match/);
    const info = await jsm.streams.info("ORDERS");
    assert.equal(info.state.messages, 2);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    assert.deepEqual(names, ["ORDERS"]);
    const sm = await jsm.streams.getMessage("ORDERS", { seq: 1 });
    assert.equal(sm?.string(), "one");
    assert.equal(await jsm.streams.deleteMessage("ORDERS", 1), true);
    await assert.rejects(jsm.streams.info("MISSING"), /stream not found/);
    const p = await jsm.streams.purge("ORDERS");
    assert.equal(p.purged, 1);
    const h = headers();
    h.set("k", "v");
    await js.publish("orders.h", te.encode("hdr"), { headers: h });
    const got = await jsm.streams.getMessage("ORDERS", { last_by_subj: "orders.h" });
    assert.equal(got?.header.get("k"), "v");
    assert.equal(await jsm.streams.delete("ORDERS"), true);
  });

  it("serves pull consumers: fetch, next, consume, nak and ack state", async () => {
    await jsm.streams.add({ name: "WORK", subjects: ["work.*"] });
    const js = jetstream(nc);
    for (let i = 0; i < 10; i++) await js.publish(`work.${i % 2}`, `m${i}`);
    await jsm.consumers.add("WORK", { durable_name: "w", ack_policy: AckPolicy.Explicit, ack_wait: 5_000_000_000 });
    const c = await js.consumers.get("WORK", "w");
    const seqs: number[] = [];
    for await (const m of await c.fetch({ max_messages: 4, expires: 2000 })) {
      seqs.push(m.seq);
      if (m.seq === 2) m.nak();
      else m.ack();
    }
    assert.deepEqual(seqs, [1, 2, 3, 4]);
    // The NAK is fire-and-forget: let the server take it before asking again (nats-server queues it). Kept as a
    // pause: asking before it is taken would deliver message 5 instead, and no answer marks it taken.
    await nc.flush();
    await new Promise((r) => setTimeout(r, 50));
    const again = await c.next({ expires: 2000 });
    assert.equal(again?.seq, 2);
    assert.equal(again?.info.redelivered, true);
    again?.ack();
    const rest: number[] = [];
    const iter = await c.consume({ max_messages: 3 });
    for await (const m of iter) {
      rest.push(m.seq);
      await m.ackAck();
      if (rest.length === 6) break;
    }
    assert.deepEqual(rest, [5, 6, 7, 8, 9, 10]);
    const ci = await c.info();
    assert.equal(ci.num_pending, 0);
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.delivered.stream_seq, 10);
    assert.equal(ci.ack_floor.stream_seq, 10);
    const filtered = await jsm.consumers.add("WORK", {
      name: "odd",
      filter_subject: "work.1",
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.Last,
    });
    assert.equal(filtered.num_pending, 1);
    const oc = await js.consumers.get("WORK"); // ordered
    const ordered: number[] = [];
    for await (const m of await oc.fetch({ max_messages: 10, expires: 2000 })) ordered.push(m.seq);
    assert.equal(ordered.length, 10);
    const empty = await c.next({ expires: 1000 });
    assert.equal(empty, null);
    await assert.rejects(jsm.consumers.info("WORK", "nope"), /consumer not found/);
    assert.equal(await jsm.consumers.delete("WORK", "w"), true);
  });

  it("runs work queues that remove acked messages", async () => {
    await jsm.streams.add({ name: "Q", subjects: ["q.>"], retention: "workqueue" as never });
    const js = jetstream(nc);
    for (let i = 0; i < 3; i++) await js.publish("q.job", `j${i}`);
    await jsm.consumers.add("Q", { durable_name: "workers", ack_policy: AckPolicy.Explicit });
    await assert.rejects(jsm.consumers.add("Q", { durable_name: "other", ack_policy: AckPolicy.Explicit }), /multiple non-filtered/);
    const c = await js.consumers.get("Q", "workers");
    const taken: string[] = [];
    for await (const m of await c.fetch({ max_messages: 3, expires: 2000 })) {
      taken.push(m.string());
      await m.ackAck();
    }
    assert.deepEqual(taken, ["j0", "j1", "j2"]);
    assert.equal((await jsm.streams.info("Q")).state.messages, 0);
  });

  it("drives push consumers through a deliver subject", async () => {
    await jsm.streams.add({ name: "PUSH", subjects: ["push.>"] });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish("push.a", `p${i}`);
    const got: string[] = [];
    const sub = nc.subscribe("deliver.push", {
      callback: (_e, m) => {
        got.push(m.subject + ":" + m.string());
        m.respond();
      },
    });
    await nc.flush();
    await jsm.consumers.add("PUSH", { durable_name: "p", deliver_subject: "deliver.push", ack_policy: AckPolicy.Explicit });
    await waitFor("5 deliveries", () => got.length >= 5, 1000, 10).catch(() => {});
    assert.deepEqual(got, ["push.a:p0", "push.a:p1", "push.a:p2", "push.a:p3", "push.a:p4"]);
    // The acks are fire-and-forget too.
    await waitFor("no ack pending", async () => (await jsm.consumers.info("PUSH", "p")).num_ack_pending === 0, 5000, 10);
    sub.unsubscribe();
  });

  it("works as a key-value store (kv client)", async () => {
    const kv = await new Kvm(nc).create("cfg", { history: 5 });
    assert.equal(await kv.put("a", "1"), 1);
    await kv.put("a", "2");
    await kv.put("b", "x");
    assert.equal((await kv.get("a"))?.string(), "2");
    assert.equal(await kv.update("a", "3", 2), 4);
    await assert.rejects(kv.update("a", "4", 2), /wrong last sequence/);
    await assert.rejects(kv.create("a", "x"));
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys.sort(), ["a", "b"]);
    const hist: string[] = [];
    for await (const e of await kv.history({ key: "a" })) hist.push(e.string());
    assert.deepEqual(hist, ["1", "2", "3"]);
    await kv.delete("b");
    assert.equal((await kv.get("b"))?.operation, "DEL");
    const w = await kv.watch();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of w) {
        seen.push(`${e.key}=${e.string()}:${e.operation}`);
        if (e.key === "c") break;
      }
    })();
    await kv.put("c", "new");
    await done;
    assert.deepEqual(seen, ["a=3:PUT", "b=:DEL", "c=new:PUT"]);
    await kv.purge("a");
    assert.equal((await kv.get("a"))?.operation, "PURGE");
    assert.equal((await kv.status()).values, 4); // b keeps its value and delete marker
  });

  it("expires key-value entries with a TTL", async () => {
    const kv = await new Kvm(nc).create("ttl", { ttl: 200 });
    await kv.put("k", "v");
    assert.equal((await kv.get("k"))?.string(), "v");
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 50));
      gone = (await kv.get("k")) === null;
    }
    assert.ok(gone, "entry did not expire");
  });

  it("works as an object store (obj client)", async () => {
    const os = await new Objm(nc).create("files");
    const data = new Uint8Array(300_000).map((_, i) => i % 251);
    const info = await os.putBlob({ name: "f1" }, data);
    assert.equal(info.size, 300_000);
    assert.ok(info.chunks > 1);
    const back = await os.getBlob("f1");
    assert.ok(back !== null && back.length === data.length && back.every((v, i) => v === data[i]));
    assert.deepEqual((await os.list()).map((x) => x.name), ["f1"]);
    await os.delete("f1");
    assert.equal((await os.info("f1"))?.deleted, true);
  });

  it("reports /jsz and the jetstream section of /varz", async () => {
    const base = srv.monitorUrl;
    assert.ok(base);
    const jsz = await (await fetch(`${base}/jsz?streams=1&consumers=1`)).json() as Record<string, unknown>;
    assert.ok((jsz.streams as number) >= 1);
    const details = jsz.account_details as Array<{ stream_detail: Array<{ name: string; consumer_detail?: unknown[] }> }>;
    assert.ok(details[0].stream_detail.some((s) => s.name === "WORK" && Array.isArray(s.consumer_detail)));
    const varz = await (await fetch(`${base}/varz`)).json() as Record<string, { config?: unknown; stats?: unknown }>;
    assert.ok(varz.jetstream.config);
    assert.ok(varz.jetstream.stats);
  });
});
