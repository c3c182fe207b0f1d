// JetStream deliveries to clients of servers without JetStream in a Petrel JetStream cluster: three Petrel
// JetStream servers, a plain nats-server 2.9.10 and a plain Petrel joined by routes. The clients sit on the plain
// servers, so every delivery (pull, push, KV watch and get, object get) crosses a route in nats-server's form
// (`RMSG <acc> <deliver> <ack reply>@<stored subject>`), which a plain nats-server reads. One cluster serves every
// case; nothing acknowledged comes back.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { type JsCluster, startJsCluster, waitMetaLeader } from "./helpers.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, td } from "../helpers/nats.ts";

describe("JetStream deliveries to clients of plain servers in a Petrel JetStream cluster", () => {
  let c: JsCluster;
  let plain: RunningServer;
  let plainPetrel: Petrel;
  let nc: NatsConnection;
  let pc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    c = await startJsCluster(3);
    await waitMetaLeader(c);
    const routes = c.ports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
    plain = await startServer("nats-server", {
      conf: `server_name: plain\ncluster { name: jsc, listen: 127.0.0.1:-1, routes: [${routes}] }\n`,
    });
    plainPetrel = await startPetrel({
      options: { server_name: "pp", host: "127.0.0.1", port: -1, cluster: { name: "jsc", host: "127.0.0.1", port: -1, routes: [`nats://127.0.0.1:${c.ports[1]}`] } },
    });
    nc = await connectTo(plain);
    pc = await connect({ servers: plainPetrel.clientUrl, reconnect: false });
    // The API answers through the plain servers once their routes carry the leaders' interest.
    await waitFor("the API through the plain nats-server", () => jetstreamManager(nc, { timeout: 1000 }).catch(() => undefined), 15_000);
    // The 1 s timeout is for that probe only: creating R3 streams and consumers through a plain server on a loaded
    // machine took longer (the count case timed out after 1 s in a full npm test).
    jsm = await jetstreamManager(nc);
    await waitFor("the API through the plain Petrel", () => jetstreamManager(pc, { timeout: 1000 }).catch(() => undefined), 15_000);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
  });

  after(async () => {
    await closeAll([nc, pc]);
    await plain?.stop();
    await plainPetrel?.stop();
    await c?.close();
  });

  it("pull: fetched from the plain nats-server and the plain Petrel, acked, not delivered again", { timeout: 30_000 }, async () => {
    const js = jetstream(nc);
    for (let i = 1; i <= 5; i++) assert.equal((await js.publish(`orders.pull.${i}`, `p${i}`)).seq, i);
    for (const [name, conn] of [["viaNats", nc], ["viaPetrel", pc]] as const) {
      await jsm.consumers.add("ORDERS", { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: "orders.pull.>" });
      const consumer = await jetstream(conn).consumers.get("ORDERS", name);
      const got: string[] = [];
      const iter = await consumer.fetch({ max_messages: 5, expires: 5000 });
      for await (const m of iter) {
        got.push(`${m.subject}=${m.string()}#${m.info.deliveryCount}`);
        assert.ok(await m.ackAck({ timeout: 5000 }), `${name}: ack of ${m.seq} confirmed`);
      }
      assert.deepEqual(got, [1, 2, 3, 4, 5].map((i) => `orders.pull.${i}=p${i}#1`), name);
      const info = await jsm.consumers.info("ORDERS", name);
      assert.equal(info.num_ack_pending, 0, name);
      assert.equal(info.num_redelivered, 0, name);
      assert.equal(info.ack_floor.stream_seq, 5, name);
    }
    // The next fetch gets the new message, first delivery; nothing acknowledged comes before it.
    const seq = (await js.publish("orders.pull.6", "p6")).seq;
    for (const [name, conn] of [["viaNats", nc], ["viaPetrel", pc]] as const) {
      const m = await (await jetstream(conn).consumers.get("ORDERS", name)).next({ expires: 5000 });
      assert.equal(m?.seq, seq, name);
      assert.equal(m?.info.deliveryCount, 1, name);
      m?.ack();
    }
  });

  it("push: delivered to a subscriber of the plain nats-server with the stored subjects, acked once", { timeout: 30_000 }, async () => {
    const deliver = "push.orders.dlv";
    const sub = collect(nc, deliver);
    await nc.flush();
    const js = jetstream(nc);
    const first = (await js.publish("orders.push.1", "a")).seq;
    await js.publish("orders.push.2", "b");
    await js.publish("orders.push.3", "c");
    await jsm.consumers.add("ORDERS", {
      durable_name: "push",
      ack_policy: AckPolicy.Explicit,
      deliver_subject: deliver,
      filter_subject: "orders.push.>",
    });
    const msgs = await sub.until(3, 10_000);
    assert.deepEqual(msgs.map((m) => `${m.subject}=${td.decode(m.data)}`), ["orders.push.1=a", "orders.push.2=b", "orders.push.3=c"]);
    for (const m of msgs) {
      assert.ok(m.reply?.startsWith("$JS.ACK.ORDERS.push.1."), String(m.reply));
      assert.ok(!m.reply?.includes("@"), String(m.reply));
      m.respond(new TextEncoder().encode("+ACK"));
    }
    await nc.flush();
    await waitFor("the push consumer's acks booked", async () => {
      const info = await jsm.consumers.info("ORDERS", "push");
      return info.num_ack_pending === 0 && info.ack_floor.stream_seq === first + 2;
    });
    // A fourth message arrives next, as a first delivery: nothing acknowledged came before it.
    await js.publish("orders.push.4", "d");
    const all = await sub.until(4, 10_000);
    assert.equal(all.length, 4);
    assert.equal(all[3].subject, "orders.push.4");
    assert.ok(all[3].reply?.startsWith("$JS.ACK.ORDERS.push.1."), String(all[3].reply));
    sub.sub.unsubscribe();
  });

  it("KV: put, get and watch from the plain nats-server (R3)", { timeout: 30_000 }, async () => {
    const kv = await new Kvm(nc).create("cfg", { replicas: 3, history: 3 });
    await kv.put("color", "red");
    await kv.put("size", "L");
    assert.equal((await kv.get("color"))?.string(), "red");
    const seen: string[] = [];
    const w = await kv.watch({ key: "color" });
    const done = (async () => {
      for await (const e of w) {
        seen.push(`${e.key}=${e.string()}@${e.revision}`);
        if (e.string() === "blue") break;
      }
    })();
    await kv.put("color", "blue");
    await done;
    assert.deepEqual(seen, ["color=red@1", "color=blue@3"]);
    // History goes through a consumer too.
    const hist: string[] = [];
    for await (const e of await kv.history({ key: "color" })) hist.push(e.string());
    assert.deepEqual(hist, ["red", "blue"]);
    // A KV without direct get reads through the stream's message get API.
    const kv2 = await new Kvm(nc).create("nodirect", { replicas: 3 });
    await jsm.streams.update("KV_nodirect", { ...(await jsm.streams.info("KV_nodirect")).config, allow_direct: false });
    await kv2.put("k", "v");
    assert.equal((await (await new Kvm(nc).open("nodirect")).get("k"))?.string(), "v");
  });

  it("object store: put and get a multi-chunk object from the plain nats-server (R3)", { timeout: 30_000 }, async () => {
    const os = await new Objm(nc).create("files", { replicas: 3 });
    const blob = new Uint8Array(300_000).map((_, i) => i % 251);
    await os.putBlob({ name: "blob", options: { max_chunk_size: 64 * 1024 } }, blob);
    const back = await (await new Objm(nc).open("files")).getBlob("blob");
    assert.equal(back?.length, blob.length);
    assert.deepEqual(back, blob);
  });

  it("counts consumers as nats-server: /jsz per server holding a replica, stream and account info cluster-wide", { timeout: 30_000 }, async () => {
    await jsm.streams.add({ name: "CNT", subjects: ["cnt.>"], num_replicas: 3 });
    await jsm.streams.add({ name: "ONE", subjects: ["one.>"], num_replicas: 1 });
    // An explicit R3 on an R3 stream is taken; more replicas than the stream's are refused (nats-server: 10126).
    await jsm.consumers.add("CNT", { durable_name: "r3", ack_policy: AckPolicy.Explicit, num_replicas: 3 });
    await assert.rejects(jsm.consumers.add("ONE", { durable_name: "r3", ack_policy: AckPolicy.Explicit, num_replicas: 3 }), /exceeds parent stream/);
    await jsm.consumers.add("CNT", { durable_name: "r1", ack_policy: AckPolicy.Explicit, num_replicas: 1 });
    await jsm.consumers.add("ONE", { durable_name: "solo", ack_policy: AckPolicy.Explicit });
    type Jsz = {
      consumers: number;
      ha_assets: number;
      account_details?: Array<{ stream_detail?: Array<{ name: string; consumer_detail?: Array<{ name: string }> }> }>;
    };
    const views = async () =>
      await Promise.all(c.nodes.map(async (p) => await (await p!.monitorFetch(new Request("http://localhost/jsz?consumers=1"))).json() as Jsz));
    const hosting = (j: Jsz, stream: string) =>
      j.account_details?.[0]?.stream_detail?.find((s) => s.name === stream)?.consumer_detail?.map((d) => d.name).sort() ?? [];
    // Each server lists the consumers it holds a replica of: r3 on all three, r1 and solo on one each.
    const seen = await waitFor("each consumer listed where its replicas are", async () => {
      const v = await views();
      const cnt = v.map((j) => hosting(j, "CNT"));
      if (!cnt.every((names) => names.includes("r3"))) return false;
      if (cnt.filter((names) => names.includes("r1")).length !== 1) return false;
      if (v.filter((j) => hosting(j, "ONE").includes("solo")).length !== 1) return false;
      return v;
    }, 10_000);
    // The counts match the details, and the replicated assets (meta, R3 streams, R3 consumers) are the same everywhere.
    for (const j of seen) {
      const listed = (j.account_details?.[0]?.stream_detail ?? []).reduce((n, s) => n + (s.consumer_detail?.length ?? 0), 0);
      assert.equal(j.consumers, listed);
    }
    assert.equal(new Set(seen.map((j) => j.ha_assets)).size, 1, `ha_assets ${seen.map((j) => j.ha_assets)}`);
    // Stream and account info count every consumer wherever it runs, from any server (the plain ones too), as
    // many as the lists name (asked again while a KV or object reader's ephemeral consumer may still go away).
    const n3 = await connect({ servers: c.nodes[2]!.clientUrl, reconnect: false });
    try {
      for (const conn of [nc, pc, n3]) {
        const m = await jetstreamManager(conn);
        assert.equal((await m.streams.info("CNT")).state.consumer_count, 2);
        assert.equal((await m.streams.info("ONE")).state.consumer_count, 1);
        let last = "";
        await waitFor("account info counting every listed consumer", async () => {
          let listed = 0;
          for (const s of await m.streams.names().next()) listed += (await m.consumers.list(s).next()).length;
          const counted = (await m.getAccountInfo()).consumers;
          last = `${counted} counted, ${listed} listed`;
          return counted === listed;
        }, 5000).catch((e: Error) => {
          throw new Error(`${e.message} (${last})`);
        });
      }
    } finally {
      await n3.close();
    }
  });
});
