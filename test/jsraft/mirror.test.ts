// Replicated mirrors and sources on three Petrel servers: an R3 mirror and an R3 sourcing stream of an R3
// origin are fed by their leaders only; every replica holds the same copy; leader changes of the mirror and of
// the origin, while the origin is being published to, end with every origin message exactly once; stream info
// shows `mirror`/`sources` with lag and active from every server; a mirror of a stream that does not exist
// shows nats-server's error and catches up once the stream is made.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { type JsCluster, ordersPublisher, startJsCluster, stepDownUntilNewLeader, waitMetaLeader } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";

type StreamJsz = { name: string; state: { messages: number; first_seq: number; last_seq: number } };

/** Each running server's own copy of `stream` (its /jsz), in server order. */
async function copies(c: JsCluster, stream: string): Promise<Array<StreamJsz["state"] | undefined>> {
  const out: Array<StreamJsz["state"] | undefined> = [];
  for (const p of c.nodes) {
    if (!p) continue;
    const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz?accounts=true&streams=true"))).json() as {
      account_details?: Array<{ stream_detail?: StreamJsz[] }>;
    };
    const all = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    out.push(all.find((s) => s.name === stream)?.state);
  }
  return out;
}

async function allHold(c: JsCluster, stream: string, messages: number, lastSeq: number): Promise<void> {
  let seen = "";
  await waitFor(`every replica of ${stream} holds ${messages} (last ${lastSeq})`, async () => {
    const cs = await copies(c, stream);
    seen = JSON.stringify(cs);
    return cs.length === 3 && cs.every((s) => s?.messages === messages && s.last_seq === lastSeq);
  }, 20_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${seen}`);
  });
}

describe("replicated mirrors and sources (3 servers)", () => {
  let c: JsCluster;
  const conns: NatsConnection[] = [];
  before(async () => {
    c = await startJsCluster(3);
    await waitMetaLeader(c);
    for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await c.close();
  });

  it("feeds an R3 mirror and an R3 source from the leader, resuming across leader changes without gap or duplicate", { timeout: 90_000 }, async () => {
    const jsm = await jetstreamManager(conns[0]);
    const quick = await jetstreamManager(conns[0], { timeout: 1000 });
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
    const orders = ordersPublisher(jetstream(conns[1]));
    const publish = (count: number) => orders.publish(count);
    await publish(10);
    const m = await jsm.streams.add({ name: "M", mirror: { name: "ORDERS" }, num_replicas: 3 });
    assert.equal(m.config.mirror?.name, "ORDERS");
    await jsm.streams.add({ name: "S", sources: [{ name: "ORDERS", filter_subject: "orders.even" }], subjects: ["s.>"], num_replicas: 3 });
    await allHold(c, "M", 10, 10);
    await allHold(c, "S", 5, 5);

    // Info from every server: the mirror's origin, lag 0, active (ns since the feed last heard the origin).
    for (const nc of conns) {
      const mi = await (await jetstreamManager(nc)).streams.info("M");
      assert.equal(mi.mirror?.name, "ORDERS");
      assert.equal(mi.mirror?.lag, 0);
      assert.ok(typeof mi.mirror?.active === "number" && mi.mirror.active >= 0, `active ${mi.mirror?.active}`);
      const si = await (await jetstreamManager(nc)).streams.info("S");
      assert.equal(si.sources?.length, 1);
      assert.equal(si.sources?.[0].name, "ORDERS");
      assert.equal(si.sources?.[0].lag, 0);
    }

    // /jsz shows the mirror and the sources in each server's stream detail, as nats-server does.
    for (const p of c.nodes) {
      const jsz = await (await p!.monitorFetch(new Request("http://localhost/jsz?accounts=true&streams=true"))).json() as {
        account_details?: Array<{ stream_detail?: Array<{ name: string; mirror?: { name: string }; sources?: Array<{ name: string }> }> }>;
      };
      const all = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
      assert.equal(all.find((d) => d.name === "M")?.mirror?.name, "ORDERS");
      assert.deepEqual(all.find((d) => d.name === "S")?.sources?.map((x) => x.name), ["ORDERS"]);
    }
    // The feeds' consumers on the origin are not listed nor counted (nats-server 2.9.10 in a cluster).
    const names = (await conns[0].request("$JS.API.CONSUMER.NAMES.ORDERS", "", { timeout: 5000 })).json() as { consumers?: string[] };
    assert.deepEqual(names.consumers, []);
    assert.equal((await jsm.getAccountInfo()).consumers, 0);
    assert.equal((await jsm.streams.info("ORDERS")).state.consumer_count, 0);

    // Leader changes of the mirror, of the source and of the origin, each while the origin takes publishes.
    for (const stream of ["M", "S", "ORDERS"]) {
      const pub = publish(10);
      const info = await stepDownUntilNewLeader(conns[2], quick, stream);
      await pub;
      assert.ok(info, `${stream} changed leader`);
    }
    await publish(5);
    assert.equal(orders.sent, 45);
    await allHold(c, "ORDERS", 45, 45);
    await allHold(c, "M", 45, 45);
    await allHold(c, "S", 22, 22);

    // The mirror holds the origin's messages at the origin's sequences; the source each even one once, in order.
    const mirrored: string[] = [];
    for (let seq = 1; seq <= 45; seq++) {
      const msg = await jsm.streams.getMessage("M", { seq });
      mirrored.push(new TextDecoder().decode(msg!.data));
    }
    assert.deepEqual(mirrored, Array.from({ length: 45 }, (_, i) => `o${i + 1}`));
    const sourced: string[] = [];
    for (let seq = 1; seq <= 22; seq++) {
      const msg = await jsm.streams.getMessage("S", { seq });
      sourced.push(`${new TextDecoder().decode(msg!.data)} ${msg!.header?.get("Nats-Stream-Source")}`);
    }
    assert.deepEqual(sourced, Array.from({ length: 22 }, (_, i) => `o${2 * i + 2} ORDERS ${2 * i + 2}`));
  });

  it("takes a source added by a stream update, next to the ones it had", { timeout: 60_000 }, async () => {
    const jsm = await jetstreamManager(conns[2]);
    await jsm.streams.add({ name: "ORD2", subjects: ["ord2.>"], num_replicas: 3 });
    const js = jetstream(conns[0]);
    for (let i = 1; i <= 2; i++) await js.publish("ord2.x", `p${i}`);
    const cfg = (await jsm.streams.info("S")).config;
    await jsm.streams.update("S", { ...cfg, sources: [...(cfg.sources ?? []), { name: "ORD2" }] });
    await allHold(c, "S", 24, 24);
    await js.publish("orders.even", "o46");
    await allHold(c, "S", 25, 25);
    const tail: string[] = [];
    for (let seq = 23; seq <= 25; seq++) {
      const msg = await jsm.streams.getMessage("S", { seq });
      tail.push(`${new TextDecoder().decode(msg!.data)} ${msg!.header?.get("Nats-Stream-Source")}`);
    }
    assert.deepEqual(tail, ["p1 ORD2 1", "p2 ORD2 2", "o46 ORDERS 46"]);
    const info = await jsm.streams.info("S");
    assert.deepEqual(info.sources?.map((x) => [x.name, x.lag]).sort(), [["ORD2", 0], ["ORDERS", 0]]);
  });

  it("shows nats-server's error for a mirror of a stream that does not exist, and catches up once it does", { timeout: 60_000 }, async () => {
    const jsm = await jetstreamManager(conns[1]);
    // A mirror of itself is a cycle: nats-server's error from the meta leader.
    const self = (await conns[1].request("$JS.API.STREAM.CREATE.SELF", JSON.stringify({ name: "SELF", mirror: { name: "SELF" }, num_replicas: 3 }), { timeout: 5000 })).json() as { error?: unknown };
    assert.deepEqual(self.error, { code: 500, err_code: 10052, description: "detected cycle" });
    const created = await jsm.streams.add({ name: "MNOPE", mirror: { name: "NOPE" }, num_replicas: 3 });
    assert.equal(created.config.mirror?.name, "NOPE");
    const shown = await waitFor("the mirror's error", async () => {
      const i: StreamInfo = await jsm.streams.info("MNOPE");
      return i.mirror && "error" in i.mirror ? i.mirror : undefined;
    }, 15_000);
    assert.deepEqual((shown as unknown as { error: unknown }).error, { code: 404, err_code: 10059, description: "stream not found" });
    assert.equal(shown.active, -1);
    await jsm.streams.add({ name: "NOPE", subjects: ["nope.>"], num_replicas: 3 });
    for (let i = 0; i < 3; i++) await jetstream(conns[2]).publish("nope.x", `n${i}`);
    await allHold(c, "MNOPE", 3, 3);
    const i = await jsm.streams.info("MNOPE");
    assert.equal("error" in (i.mirror ?? {}), false);
  });

  it("resumes its mirror and sources where the replicas stood after the whole cluster restarted", { timeout: 90_000 }, async () => {
    // What the steps before left (ORDERS 46, S 25): if one of them failed, this step says so here, not later as
    // a count one short of its expectation (which read as an acknowledged message lost: ORDERS at 49 of 50 when
    // o46 had never been published).
    const pre = await jetstreamManager(conns[0]);
    assert.deepEqual(
      [(await pre.streams.info("ORDERS")).state.messages, (await pre.streams.info("S")).state.messages],
      [46, 25],
      "the earlier steps' messages (ORDERS, S) before the restart",
    );
    for (const nc of conns.splice(0)) await nc.close().catch(() => {});
    for (let i = 0; i < 3; i++) await c.stop(i);
    for (let i = 0; i < 3; i++) await c.start(i);
    await waitMetaLeader(c, 20_000);
    for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
    await waitFor("the API answers", () => jetstreamManager(conns[0], { timeout: 1000 }).catch(() => undefined), 20_000);
    const jsm = await jetstreamManager(conns[0]);
    const js = jetstream(conns[1]);
    // ORDERS held 46, M the same, S 25 (22 even ORDERS, 2 of ORD2, o46).
    for (let n = 47; n <= 50; n++) {
      await waitFor(`o${n} stored`, () => js.publish(`orders.${n % 2 === 0 ? "even" : "odd"}`, `o${n}`, { msgID: `o${n}`, timeout: 1000 }).catch(() => undefined), 20_000);
    }
    // Each stream's group elects its leader on its own: retried until ORD2's has.
    await waitFor("p3 stored", () => js.publish("ord2.x", "p3", { msgID: "p3", timeout: 1000 }).catch(() => undefined), 20_000);
    await allHold(c, "ORDERS", 50, 50);
    await allHold(c, "M", 50, 50);
    await allHold(c, "S", 28, 28);
    const tail: string[] = [];
    for (let seq = 24; seq <= 28; seq++) {
      const msg = await jsm.streams.getMessage("S", { seq });
      tail.push(`${new TextDecoder().decode(msg!.data)} ${msg!.header?.get("Nats-Stream-Source")}`);
    }
    // Order across two origins is not fixed; from each origin, every message once, in its order.
    const fromOrders = tail.filter((l) => l.includes(" ORDERS "));
    const fromOrd2 = tail.filter((l) => l.includes(" ORD2 "));
    assert.deepEqual(fromOrders, ["o46 ORDERS 46", "o48 ORDERS 48", "o50 ORDERS 50"]);
    assert.deepEqual(fromOrd2, ["p2 ORD2 2", "p3 ORD2 3"]);
  });
});
