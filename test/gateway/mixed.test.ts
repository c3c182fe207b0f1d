// A supercluster of Petrel and nats-server 2.9: Petrel's "east" dials a nats-server "west" gateway, the
// nats-server dials back, and messages, queue groups and requests cross in both directions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { monitorJson, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, markerThrough, te, td } from "../helpers/nats.ts";
import { type GatewayzJson, startGatewayNode, stopAll, waitForGatewayInterest, waitForLinks } from "./helpers.ts";

describe("Petrel east linked to a nats-server west", () => {
  let west: RunningServer | undefined;
  let east: Petrel | undefined;
  let ne: NatsConnection, nw: NatsConnection;
  const conns: NatsConnection[] = [];

  before(async () => {
    west = await startServer("nats-server", { conf: `gateway {\n  name: west\n  listen: "127.0.0.1:-1"\n}\n`, monitor: true });
    const g = await monitorJson<GatewayzJson>(west, "/gatewayz");
    east = await startGatewayNode("east", [{ name: "west", urls: [`nats://127.0.0.1:${g.port}`] }]);
    await waitForLinks(east, ["west"], 10_000);
    // nats-server waits a second before it solicits, then learns east's URL from the inbound INFO.
    await waitFor("nats-server linked to east", async () => {
      const w = await monitorJson<GatewayzJson>(west!, "/gatewayz");
      return w.outbound_gateways.east !== undefined && (w.inbound_gateways.east?.length ?? 0) > 0;
    }, 10_000, 50);
    ne = await connect({ servers: east.clientUrl, reconnect: false, timeout: 5000 });
    nw = await connectTo(west);
    conns.push(ne, nw);
  });
  after(async () => {
    await closeAll(conns);
    await stopAll([east]);
    await west?.stop();
  });

  it("passes messages both ways, once", async () => {
    const onWest = collect(nw, "mixed.a");
    const onEast = collect(ne, "mixed.b");
    await nw.flush();
    await ne.flush();
    await waitForGatewayInterest(east!, "mixed.a");
    // nats-server has east's interest once its outbound got the interest-only RS+ list.
    await waitFor("nats-server sees east's interest", async () => {
      const w = await monitorJson<GatewayzJson>(west!, "/gatewayz");
      return (w.outbound_gateways.east?.connection.subscriptions ?? 0) >= 1;
    });
    ne.publish("mixed.a", te.encode("from east"));
    nw.publish("mixed.b", te.encode("from west"));
    await onWest.until(1);
    await onEast.until(1);
    await markerThrough(ne, nw);
    await markerThrough(nw, ne);
    assert.equal(onWest.msgs.length, 1);
    assert.equal(td.decode(onWest.msgs[0].data), "from east");
    assert.equal(onEast.msgs.length, 1);
    assert.equal(td.decode(onEast.msgs[0].data), "from west");
    onWest.sub.unsubscribe();
    onEast.sub.unsubscribe();
  });

  it("delivers a queue group spread over both once per message", async () => {
    const qe = collect(ne, "mixed.work", { queue: "workers" });
    const qw = collect(nw, "mixed.work", { queue: "workers" });
    await ne.flush();
    await nw.flush();
    await waitForGatewayInterest(east!, "mixed.work", { queue: "workers" });
    for (let i = 0; i < 10; i++) nw.publish("mixed.work", te.encode(String(i)));
    for (let i = 0; i < 10; i++) ne.publish("mixed.work", te.encode(String(i)));
    await waitFor("20 queue deliveries", () => qe.msgs.length + qw.msgs.length >= 20);
    for (const [a, b] of [[ne, nw], [nw, ne], [ne, ne], [nw, nw]]) await markerThrough(a, b);
    assert.equal(qe.msgs.length, 10, "east's member gets east's messages");
    assert.equal(qw.msgs.length, 10, "west's member gets west's messages");
    qw.sub.unsubscribe();
    await nw.flush();
    for (let i = 0; i < 10; i++) nw.publish("mixed.work", te.encode(String(i)));
    await qe.until(20);
    await markerThrough(nw, ne);
    assert.equal(qe.msgs.length, 20);
    qe.sub.unsubscribe();
  });

  it("answers requests both ways", async () => {
    const replies: string[] = [];
    const svcW = nw.subscribe("mixed.svc.west", {
      callback: (_e, m) => {
        replies.push(m.reply ?? "");
        m.respond(te.encode(`west:${td.decode(m.data)}`));
      },
    });
    const svcE = ne.subscribe("mixed.svc.east", { callback: (_e, m) => void m.respond(te.encode(`east:${td.decode(m.data)}`)) });
    await nw.flush();
    await ne.flush();
    await waitForGatewayInterest(east!, "mixed.svc.west");
    await waitFor("nats-server sees mixed.svc.east", async () => {
      const r = await nw.request("mixed.svc.east", te.encode("probe"), { timeout: 300 }).catch(() => undefined);
      return r !== undefined;
    });
    for (const noMux of [false, true]) {
      const r1 = await ne.request("mixed.svc.west", te.encode("x"), { timeout: 2000, noMux });
      assert.equal(td.decode(r1.data), "west:x");
      const r2 = await nw.request("mixed.svc.east", te.encode("y"), { timeout: 2000, noMux });
      assert.equal(td.decode(r2.data), "east:y");
    }
    // Petrel maps the reply of a request it sends across to `_GR_.<cluster>.<server>.<reply>`; nats-server
    // hands its subscriber the plain reply and maps the response back.
    assert.ok(replies.length === 2 && replies.every((r) => r.startsWith("_INBOX.")), replies.join(","));
    svcW.unsubscribe();
    svcE.unsubscribe();
  });
});
