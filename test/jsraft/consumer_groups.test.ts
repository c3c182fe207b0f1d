// Consumers of replicated streams as Raft groups of their own, on three Petrel servers driven by the official
// nats.js client: consumer info carries the group's `cluster` block from every server, consumer step-down elects
// another consumer leader, pull and push consumers, KV (history, watch) and the object store work from clients
// on any server across stream- and consumer-leader changes with nothing acknowledged redelivered, and a restart
// of the whole cluster keeps consumer state. One cluster for the file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, type ConsumerInfo, RetentionPolicy, jetstream, jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "./helpers.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";

let c: JsCluster;
const conns: NatsConnection[] = [];
let jsm: JetStreamManager;

async function connectAll(): Promise<void> {
  for (const nc of conns) await nc.close().catch(() => {});
  conns.length = 0;
  for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
  // Short request timeouts: while a group elects, a request goes unanswered and the wait asks again.
  jsm = await jetstreamManager(conns[0], { timeout: 1000 });
}

/** The consumer's info once its group has a leader that answers (from the connection `i`). */
async function consumerInfo(stream: string, name: string, i = 0): Promise<ConsumerInfo> {
  const m = await jetstreamManager(conns[i], { timeout: 1000 });
  return await waitFor(`info of ${stream} > ${name}`, () => m.consumers.info(stream, name).catch(() => undefined), 15_000);
}

/** Creates a stream, asking again while a request goes unanswered (one that reaches a server mid-election). */
async function addStream(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  await waitFor(`stream ${cfg.name} created`, () => jsm.streams.add(cfg).catch(() => undefined), 15_000);
}

async function stepDownConsumer(stream: string, name: string, via: number): Promise<string> {
  const before = (await consumerInfo(stream, name)).cluster!.leader!;
  const r = await conns[via].request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${name}`, "");
  assert.equal((r.json() as { success?: boolean }).success, true);
  return await waitFor("a new consumer leader", async () => {
    const l = (await jsm.consumers.info(stream, name).catch(() => undefined))?.cluster?.leader;
    return l !== undefined && l !== before ? l : undefined;
  }, 15_000);
}

async function stepDownStream(stream: string, via: number): Promise<string> {
  const before = (await jsm.streams.info(stream)).cluster!.leader!;
  const r = await conns[via].request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "");
  assert.equal((r.json() as { success?: boolean }).success, true);
  return await waitFor("a new stream leader", async () => {
    const l = (await jsm.streams.info(stream).catch(() => undefined))?.cluster?.leader;
    return l !== undefined && l !== before ? l : undefined;
  }, 15_000);
}

/** Step the consumer's leadership down until it is not on the stream's leader (bounded). */
async function leadElsewhere(stream: string, name: string): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const sl = (await jsm.streams.info(stream)).cluster?.leader;
    if ((await consumerInfo(stream, name)).cluster?.leader !== sl) return;
    await stepDownConsumer(stream, name, 0);
  }
  throw new Error(`${stream} > ${name} kept leading on its stream's leader`);
}

describe("replicated JetStream: consumers as Raft groups", () => {
  before(async () => {
    c = await startJsCluster(3, { leafnodes: true });
    await waitMetaLeader(c);
    await connectAll();
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await c?.close();
  });

  it("gives a durable consumer a group on the stream's peers, shown in consumer info from every server", { timeout: 60_000 }, async () => {
    await addStream({ name: "P", subjects: ["p.>"], num_replicas: 3 });
    await jsm.consumers.add("P", { durable_name: "work", ack_policy: AckPolicy.Explicit });
    for (let i = 0; i < 3; i++) {
      const ci = await consumerInfo("P", "work", i);
      assert.equal(ci.cluster?.name, "jsc");
      assert.ok(ci.cluster?.leader && c.names.includes(ci.cluster.leader));
      assert.equal(ci.cluster?.replicas?.length, 2, JSON.stringify(ci.cluster));
      assert.ok(!ci.cluster.replicas.some((r) => r.name === ci.cluster?.leader));
    }
    const names = await jsm.consumers.list("P").next();
    assert.deepEqual(names.map((x) => x.name), ["work"]);
    assert.equal((await jsm.streams.info("P")).state.consumer_count, 1);
    // A consumer's own num_replicas: an R1 group on an R3 stream.
    await jsm.consumers.add("P", { durable_name: "one", ack_policy: AckPolicy.Explicit, num_replicas: 1 });
    const one = await consumerInfo("P", "one", 2);
    assert.ok(one.cluster?.leader);
    assert.equal(one.cluster?.replicas, undefined, JSON.stringify(one.cluster));
    await jsm.consumers.delete("P", "one");
  });

  it("pull: acknowledged messages stay acknowledged across consumer- and stream-leader changes", { timeout: 90_000 }, async () => {
    const js = jetstream(conns[1]);
    for (let i = 1; i <= 30; i++) await js.publish(`p.${i}`, `m${i}`);
    const got: number[] = [];
    const take = async (via: number, n: number) => {
      const cons = await waitFor("the consumer", () => jetstream(conns[via], { timeout: 1000 }).consumers.get("P", "work").catch(() => undefined), 15_000);
      const batch = await cons.fetch({ max_messages: n, expires: 5000 });
      for await (const m of batch) {
        got.push(m.seq);
        assert.ok(await m.ackAck(), `ack of ${m.seq} confirmed`);
      }
    };
    await take(1, 10);
    // The new leader announces itself (nats-server's consumer_leader_elected advisory).
    const adv = conns[0].subscribe("$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.P.work", { max: 1 });
    await conns[0].flush();
    const l1 = await stepDownConsumer("P", "work", 2);
    for await (const m of adv) {
      const a = m.json<{ type: string; stream: string; consumer: string; leader: string; replicas: unknown[] }>();
      assert.equal(a.type, "io.nats.jetstream.advisory.v1.consumer_leader_elected");
      assert.deepEqual([a.stream, a.consumer, a.leader, a.replicas.length], ["P", "work", l1, 2]);
    }
    await take(2, 10);
    const sl = (await jsm.streams.info("P")).cluster!.leader!;
    const sl2 = await stepDownStream("P", 0);
    assert.notEqual(sl, sl2);
    const l2 = await stepDownConsumer("P", "work", 0);
    assert.notEqual(l1, l2);
    await take(0, 10);
    assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => i + 1), "each message once, in order");
    const ci = await consumerInfo("P", "work", 2);
    assert.equal(ci.ack_floor.stream_seq, 30);
    assert.equal(ci.num_ack_pending, 0);
    assert.equal(ci.num_pending, 0);
  });

  it("push: a subscriber on another server gets every message once across a consumer-leader change", { timeout: 60_000 }, async () => {
    await addStream({ name: "Q", subjects: ["q.>"], num_replicas: 3 });
    await jsm.consumers.add("Q", { durable_name: "pusher", ack_policy: AckPolicy.Explicit, deliver_subject: "deliver.q" });
    const seen: number[] = [];
    const sub = conns[2].subscribe("deliver.q");
    const done = (async () => {
      for await (const m of sub) {
        const seq = Number(m.reply?.split(".")[5]);
        seen.push(seq);
        m.respond(new Uint8Array(0)); // +ACK
        if (seq === 20) return;
      }
    })();
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 10; i++) await js.publish(`q.${i}`, `m${i}`);
    await waitFor("first ten delivered and acknowledged", async () => (await jsm.consumers.info("Q", "pusher")).ack_floor.stream_seq === 10, 15_000);
    await stepDownConsumer("Q", "pusher", 1);
    for (let i = 11; i <= 20; i++) await js.publish(`q.${i}`, `m${i}`);
    await done;
    sub.unsubscribe();
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("only the consumer's leader subscribes to its acks; they reach it from any server, a plain nats-server and a leafnode too, across a leader change", { timeout: 60_000 }, async () => {
    await addStream({ name: "AK", subjects: ["ak.>"], num_replicas: 3 });
    await jsm.consumers.add("AK", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 6; i++) await js.publish(`ak.${i}`, `m${i}`);
    /** The servers holding an ack subscription of AK > d (none may hold the old `$JS.ACK.>` of every consumer). */
    const holders = async (): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await c.nodes[i]!.monitorFetch(new Request("http://localhost/subsz?subs=1&limit=100000"));
        const list = ((await r.json()) as { subscriptions_list?: Array<{ subject: string }> }).subscriptions_list ?? [];
        assert.ok(!list.some((x) => x.subject === "$JS.ACK.>"), `${c.names[i]} holds $JS.ACK.>`);
        if (list.some((x) => x.subject === "$JS.ACK.AK.d.*.*.*.*.*")) out.push(c.names[i]);
      }
      return out;
    };
    const holdersAre = (leader: string) =>
      waitFor(`only ${leader} subscribes to the acks`, async () => JSON.stringify(await holders()) === JSON.stringify([leader]), 15_000);
    const l1 = (await consumerInfo("AK", "d")).cluster!.leader!;
    await holdersAre(l1);
    const other = (l: string) => c.names.findIndex((n) => n !== l);
    // A plain nats-server routed into the cluster: the leader's interest reaches it, its client's acks cross one route.
    const plain = await startServer("nats-server", { conf: `cluster { name: jsc, listen: 127.0.0.1:-1, routes: [nats://127.0.0.1:${c.ports[0]}] }\n` });
    const pnc = await connect({ port: plain.port });
    let leaf: RunningServer | undefined;
    let lnc: NatsConnection | undefined;
    try {
      const take = async (via: number, n: number, ackVia?: NatsConnection): Promise<number[]> => {
        const cons = await waitFor("the consumer", () => jetstream(conns[via], { timeout: 1000 }).consumers.get("AK", "d").catch(() => undefined), 15_000);
        const got: number[] = [];
        for await (const m of await cons.fetch({ max_messages: n, expires: 5000 })) {
          got.push(m.seq);
          // The ack subject (the delivery's reply; JsMsg's interface does not show it, its class does).
          const reply = (m as unknown as { reply: string }).reply;
          if (ackVia) await waitFor(`ack of ${m.seq} via ${ackVia.info?.server_name}`, () => ackVia.request(reply, "+ACK", { timeout: 1000 }).then(() => true).catch(() => false), 10_000);
          else assert.ok(await m.ackAck(), `ack of ${m.seq} confirmed`);
        }
        return got;
      };
      // Acks from a client on a follower, then from the plain node's client.
      assert.deepEqual(await take(other(l1), 2), [1, 2]);
      assert.deepEqual(await take(c.names.indexOf(l1), 2, pnc), [3, 4]);
      // The new leader holds the subscription, the old one none.
      const l2 = await stepDownConsumer("AK", "d", other(l1));
      await holdersAre(l2);
      assert.deepEqual(await take(c.names.indexOf(l1), 1), [5]);
      assert.deepEqual(await take(other(l2), 1, pnc), [6]);
      // A nats-server leafnode of a server that does not lead the consumer: the interest reaches it through the hub.
      for (let i = 7; i <= 8; i++) await js.publish(`ak.${i}`, `m${i}`);
      const hub = c.nodes[other(l2)]!.ports().leafnode![0];
      leaf = await startServer("nats-server", { conf: `leafnodes { remotes: [{ url: "${hub}" }] }\n` });
      lnc = await connect({ port: leaf.port });
      assert.deepEqual(await take(c.names.indexOf(l2), 2, lnc), [7, 8]);
      const ci = await consumerInfo("AK", "d", other(l2));
      assert.equal(ci.ack_floor.stream_seq, 8);
      assert.equal(ci.num_ack_pending, 0);
    } finally {
      await lnc?.close();
      await leaf?.stop();
      await pnc.close();
      await plain.stop();
    }
  });

  it("KV (R3, history, watch) and the object store from clients on other servers across a stream-leader change", { timeout: 90_000 }, async () => {
    const { Kvm } = await import("@nats-io/kv");
    const kv = await new Kvm(conns[0]).create("cfg", { replicas: 3, history: 5 });
    const kvB = await new Kvm(conns[1]).open("cfg");
    const watch = await kvB.watch({ key: "k" });
    await kv.put("k", "v1");
    await kv.put("k", "v2");
    await stepDownStream("KV_cfg", 2);
    const kvC = await new Kvm(conns[2]).open("cfg");
    await waitFor("a put after the change", () => kvC.put("k", "v3").catch(() => undefined), 15_000);
    const seen: string[] = [];
    for await (const e of watch) {
      seen.push(e.string());
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ["v1", "v2", "v3"]);
    // History from another server, read again until it holds the put after the change (an ordered consumer
    // created right after a leader change has been seen to find nothing once, under load: see the README).
    let hist: string[] = [];
    await waitFor("the history from another server", async () => {
      hist = [];
      for await (const e of await kvB.history({ key: "k" })) hist.push(e.string());
      return hist.length === 3;
    }, 15_000, 100);
    assert.deepEqual(hist, ["v1", "v2", "v3"]);
    assert.equal((await kv.get("k"))?.string(), "v3");

    const { Objm } = await import("@nats-io/obj");
    const os = await new Objm(conns[1]).create("files", { replicas: 3 });
    const blob = new Uint8Array(300_000).map((_, i) => i % 251);
    await os.putBlob({ name: "a.bin" }, blob);
    await stepDownStream("OBJ_files", 0);
    const osC = await new Objm(conns[2]).open("files");
    const back = await waitFor("the object", () => osC.getBlob("a.bin").catch(() => undefined), 15_000);
    assert.deepEqual(back, blob);
  });

  it("a work-queue stream drops what its consumer acknowledged while the consumer leads elsewhere", { timeout: 60_000 }, async () => {
    await addStream({ name: "WQ", subjects: ["wq.>"], num_replicas: 3, retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add("WQ", { durable_name: "w", ack_policy: AckPolicy.Explicit });
    await leadElsewhere("WQ", "w");
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 10; i++) await js.publish(`wq.${i}`, `m${i}`);
    assert.equal((await jsm.streams.info("WQ")).state.messages, 10, "kept until taken");
    const cons = await jetstream(conns[1]).consumers.get("WQ", "w");
    const seen: number[] = [];
    for await (const m of await cons.fetch({ max_messages: 10, expires: 5000 })) {
      seen.push(m.seq);
      await m.ackAck();
    }
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => i + 1));
    await waitFor("the stream emptied by the acks", async () => (await jsm.streams.info("WQ")).state.messages === 0, 10_000);
  });

  it("places a consumer with fewer replicas than its stream on that many of the stream's servers, its leader among them", { timeout: 60_000 }, async () => {
    await addStream({ name: "SUB", subjects: ["sub.>"], num_replicas: 3 });
    await addStream({ name: "INT", subjects: ["int.>"], num_replicas: 3, retention: RetentionPolicy.Interest });
    const sl = (await jsm.streams.info("SUB")).cluster!.leader!;
    await jsm.consumers.add("SUB", { durable_name: "two", ack_policy: AckPolicy.Explicit, num_replicas: 2 });
    await jsm.consumers.add("SUB", { durable_name: "one", ack_policy: AckPolicy.Explicit, num_replicas: 1 });
    // Which servers hold a replica of each consumer (/jsz is per server, as nats-server's), once every server has
    // applied both assignments (a server opens the replicas placed on it as it applies them).
    const holders = new Map<string, string[]>([["one", []], ["two", []]]);
    for (let i = 0; i < 3; i++) {
      const d = await waitFor(`${c.names[i]} knows both consumers`, async () => {
        const z = await (await c.nodes[i]!.monitorFetch(new Request("http://localhost/jsz?consumers=true"))).json() as {
          account_details?: Array<{ stream_detail?: Array<{ name: string; state: { consumer_count: number }; consumer_detail?: Array<{ name: string }> }> }>;
        };
        const sd = z.account_details?.flatMap((a) => a.stream_detail ?? []).find((x) => x.name === "SUB");
        return sd?.state.consumer_count === 2 ? sd : undefined;
      }, 15_000);
      for (const cd of d.consumer_detail ?? []) holders.get(cd.name)?.push(c.names[i]);
    }
    assert.equal(holders.get("two")!.length, 2, JSON.stringify([...holders]));
    assert.ok(holders.get("two")!.includes(sl), `the stream leader ${sl} holds the R2 consumer: ${holders.get("two")}`);
    assert.deepEqual(holders.get("one"), [sl]);
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 4; i++) await js.publish(`sub.${i}`, `m${i}`);
    // Info and pulls from every server, the one holding neither consumer too.
    for (let i = 0; i < 3; i++) {
      const ci = await consumerInfo("SUB", "two", i);
      assert.ok(ci.cluster?.leader && holders.get("two")!.includes(ci.cluster.leader));
      assert.equal(ci.cluster?.replicas?.length, 1, JSON.stringify(ci.cluster));
      assert.ok(holders.get("two")!.includes(ci.cluster.replicas[0].name));
      assert.equal((await consumerInfo("SUB", "one", i)).cluster?.replicas, undefined);
    }
    for (const [name, via] of [["two", 2], ["one", 1]] as const) {
      const cons = await jetstream(conns[via]).consumers.get("SUB", name);
      const seen: number[] = [];
      for await (const m of await cons.fetch({ max_messages: 4, expires: 5000 })) {
        seen.push(m.seq);
        assert.ok(await m.ackAck());
      }
      assert.deepEqual(seen, [1, 2, 3, 4], name);
      assert.equal((await consumerInfo("SUB", name)).ack_floor.stream_seq, 4);
    }
    // An interest stream whose leader holds no replica of its R1 consumer keeps what that consumer has not taken.
    await jsm.consumers.add("INT", { durable_name: "i1", ack_policy: AckPolicy.Explicit, num_replicas: 1 });
    const home = (await consumerInfo("INT", "i1")).cluster!.leader!;
    if ((await jsm.streams.info("INT")).cluster?.leader === home) await stepDownStream("INT", 0);
    for (let i = 1; i <= 3; i++) await js.publish(`int.${i}`, `m${i}`);
    assert.equal((await jsm.streams.info("INT")).state.messages, 3);
    const seen: number[] = [];
    for await (const m of await (await jetstream(conns[0]).consumers.get("INT", "i1")).fetch({ max_messages: 3, expires: 5000 })) {
      seen.push(m.seq);
      assert.ok(await m.ackAck());
    }
    assert.deepEqual(seen, [1, 2, 3]);
    await jsm.streams.delete("SUB");
    await jsm.streams.delete("INT");
  });

  it("updates and deletes a consumer through its leader when that is not the stream's leader", { timeout: 60_000 }, async () => {
    await jsm.consumers.add("P", { durable_name: "tmp", ack_policy: AckPolicy.Explicit });
    await leadElsewhere("P", "tmp");
    const upd = await jsm.consumers.update("P", "tmp", { description: "changed", max_deliver: 7 });
    assert.equal(upd.config.max_deliver, 7);
    for (let i = 0; i < 3; i++) {
      await waitFor(`the update seen through server ${i}`, async () => (await consumerInfo("P", "tmp", i)).config.description === "changed", 10_000);
    }
    // Adding it again with its config is no change.
    assert.equal((await jsm.consumers.add("P", { durable_name: "tmp", ack_policy: AckPolicy.Explicit, description: "changed", max_deliver: 7 })).name, "tmp");
    assert.equal(await jsm.consumers.delete("P", "tmp"), true);
    for (let i = 0; i < 3; i++) {
      const m = await jetstreamManager(conns[i], { timeout: 1000 });
      await waitFor(`gone through server ${i}`, async () => !(await m.consumers.list("P").next()).some((x) => x.name === "tmp"), 10_000);
    }
    await assert.rejects(jsm.consumers.info("P", "tmp"), /consumer not found/);
  });

  it("a durable consumer grows and shrinks with its stream's replicas (R1 → R3 → R1), keeping its acks", { timeout: 60_000 }, async () => {
    await addStream({ name: "G", subjects: ["g.>"], num_replicas: 1 });
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 6; i++) await js.publish(`g.${i}`, `m${i}`);
    await jsm.consumers.add("G", { durable_name: "gd", ack_policy: AckPolicy.Explicit });
    const take = async (n: number): Promise<number[]> => {
      const cons = await waitFor("the consumer", () => jetstream(conns[1], { timeout: 1000 }).consumers.get("G", "gd").catch(() => undefined), 15_000);
      const got: number[] = [];
      for await (const m of await cons.fetch({ max_messages: n, expires: 5000 })) {
        got.push(m.seq);
        assert.ok(await m.ackAck());
      }
      return got;
    };
    assert.deepEqual(await take(2), [1, 2]);
    assert.equal((await consumerInfo("G", "gd")).cluster?.replicas, undefined);
    const cfg = (await jsm.streams.info("G")).config;
    await jsm.streams.update("G", { ...cfg, num_replicas: 3 });
    await waitFor("the consumer's group on three servers", async () => {
      const cl = (await consumerInfo("G", "gd")).cluster;
      return cl?.replicas?.length === 2 && cl.replicas.every((r) => r.current);
    }, 20_000);
    await stepDownConsumer("G", "gd", 2);
    assert.deepEqual(await take(2), [3, 4]);
    await jsm.streams.update("G", { ...cfg, num_replicas: 1 });
    await waitFor("the consumer's group back on one server", async () => {
      const ci = await jsm.consumers.info("G", "gd").catch(() => undefined);
      return ci !== undefined && ci.cluster?.replicas === undefined && ci.ack_floor.stream_seq === 4;
    }, 20_000);
    assert.deepEqual(await take(2), [5, 6]);
  });

  it("a stopped consumer leader's successor resumes after the ack floor; restarted, the server holds the state", { timeout: 90_000 }, async () => {
    const js = jetstream(conns[0]);
    for (let i = 31; i <= 35; i++) await js.publish(`p.${i}`, `m${i}`);
    const leader = (await consumerInfo("P", "work")).cluster!.leader!;
    const li = c.names.indexOf(leader);
    const other = [0, 1, 2].find((i) => i !== li)!;
    await conns[li].close();
    await c.stop(li);
    jsm = await jetstreamManager(conns[other], { timeout: 1000 });
    const cons = await waitFor("the consumer on its new leader", () => jetstream(conns[other], { timeout: 1000 }).consumers.get("P", "work").catch(() => undefined), 15_000);
    const m = await cons.next({ expires: 5000 });
    assert.equal(m?.seq, 31, `nothing acknowledged is redelivered (got ${m?.seq})`);
    assert.ok(await m!.ackAck());
    await c.start(li);
    conns[li] = await connect({ servers: c.nodes[li]!.clientUrl });
    // The restarted server leads the consumer again (step-downs until it does): it resumes from the state.
    // (Each step-down picks a caught-up peer at random, and the restarted one may still be catching up: ask again,
    // after the next leader is known, until it is the one.)
    await waitFor("the restarted server leads the consumer", async () => {
      const l = (await consumerInfo("P", "work", other).catch(() => undefined))?.cluster?.leader;
      if (l === leader) return true;
      if (l !== undefined) await stepDownConsumer("P", "work", other).catch(() => undefined);
      return false;
    }, 30_000, 300);
    const ci = await consumerInfo("P", "work", li);
    assert.equal(ci.cluster?.leader, leader);
    assert.equal(ci.ack_floor.stream_seq, 31);
    assert.equal(ci.num_pending, 4);
    jsm = await jetstreamManager(conns[0], { timeout: 1000 });
  });

  it("a restart of the whole cluster keeps consumer state", { timeout: 90_000 }, async () => {
    const js = jetstream(conns[0]);
    for (let i = 36; i <= 40; i++) await js.publish(`p.${i}`, `m${i}`);
    for (const nc of conns) await nc.close().catch(() => {});
    conns.length = 0;
    for (let i = 0; i < 3; i++) await c.stop(i);
    for (let i = 0; i < 3; i++) await c.start(i);
    await waitMetaLeader(c, 20_000);
    await connectAll();
    const ci = await consumerInfo("P", "work", 1);
    assert.equal(ci.ack_floor.stream_seq, 31);
    assert.equal(ci.num_pending, 9);
    const cons = await jetstream(conns[2]).consumers.get("P", "work");
    const m = await cons.next({ expires: 5000 });
    assert.equal(m?.seq, 32, `nothing acknowledged is redelivered (got ${m?.seq})`);
    await m?.ackAck();
  });
});
