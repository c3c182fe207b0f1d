// Mirrors and sources across the clusters of a supercluster: a stream placed in cluster east is mirrored and
// sourced by streams placed in cluster west; their leaders feed them through the gateways, every west replica
// holds the same copy, and a leader change of the mirror while the origin takes publishes ends with every
// message once (JetStream deliveries keep their form across gateway → route hops). Stream info shows the mirror's lag from a server of either cluster.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type JsSupercluster, startJsSupercluster, waitSuperMeta } from "./supercluster.ts";
import { ordersPublisher, stepDownUntilNewLeader } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";

const td = new TextDecoder();

describe("mirrors and sources across a supercluster (east → west)", () => {
  let sc: JsSupercluster;
  const conns: NatsConnection[] = [];
  before(async () => {
    sc = await startJsSupercluster(["east", "west"], 2, { storage: "memory" });
    await waitSuperMeta(sc);
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await sc?.close();
  });

  it("feeds a west mirror and source of an east stream through the gateways, across leader changes", { timeout: 90_000 }, async () => {
    const east = await connect({ servers: sc.node("e1").clientUrl });
    const west = await connect({ servers: sc.node("w2").clientUrl });
    conns.push(east, west);
    // The API answers once the meta leader knows every server: asked until it does.
    const quick = await waitFor("the API answers", () => jetstreamManager(west, { timeout: 1000 }).catch(() => undefined), 15_000);
    const jsm = await jetstreamManager(west);
    const si = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 2, placement: { cluster: "east", tags: [] } });
    assert.equal(si.cluster?.name, "east");
    const orders = ordersPublisher(jetstream(east));
    const publish = (count: number) => orders.publish(count);
    await publish(6);
    const m = await jsm.streams.add({ name: "M", mirror: { name: "ORDERS" }, num_replicas: 2, placement: { cluster: "west", tags: [] } });
    assert.equal(m.cluster?.name, "west");
    await jsm.streams.add({
      name: "S",
      sources: [{ name: "ORDERS", filter_subject: "orders.even" }],
      num_replicas: 2,
      placement: { cluster: "west", tags: [] },
    });
    const holds = (name: string, count: number) =>
      waitFor(`${name} holds ${count} on both west servers`, async () => {
        for (const w of ["w1", "w2"]) {
          const jsz = await (await sc.node(w).monitorFetch(new Request("http://localhost/jsz?accounts=true&streams=true"))).json() as {
            account_details?: Array<{ stream_detail?: Array<{ name: string; state: { messages: number; last_seq: number } }> }>;
          };
          const st = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((s) => s.name === name)?.state;
          if (st?.messages !== count) return false;
        }
        return true;
      }, 20_000);
    await holds("M", 6);
    await holds("S", 3);
    for (const nc of [east, west]) {
      const info = await (await jetstreamManager(nc)).streams.info("M");
      assert.equal(info.mirror?.name, "ORDERS");
      assert.equal(info.mirror?.lag, 0);
      assert.ok((info.mirror?.active ?? -1) >= 0);
    }

    // A leader change of the mirror (west) while the origin takes publishes (the origin's own leader changes are
    // in mirror.test.ts; here an election of an east group can take seconds, too long for CI).
    const pub = publish(6);
    const info = await stepDownUntilNewLeader(west, quick, "M");
    await pub;
    assert.ok(info, "M changed leader");
    await publish(2);
    assert.equal(orders.sent, 14);
    await holds("M", 14);
    await holds("S", 7);
    const mirrored: string[] = [];
    for (let seq = 1; seq <= 14; seq++) mirrored.push(td.decode((await jsm.streams.getMessage("M", { seq }))!.data));
    assert.deepEqual(mirrored, Array.from({ length: 14 }, (_, i) => `o${i + 1}`));
    const sourced: string[] = [];
    for (let seq = 1; seq <= 7; seq++) {
      const msg = await jsm.streams.getMessage("S", { seq });
      sourced.push(`${td.decode(msg!.data)} ${msg!.header?.get("Nats-Stream-Source")}`);
    }
    assert.deepEqual(sourced, Array.from({ length: 7 }, (_, i) => `o${2 * i + 2} ORDERS ${2 * i + 2}`));
  });
});
