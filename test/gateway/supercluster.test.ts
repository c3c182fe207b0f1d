// Two single-server Petrel clusters, east and west, linked by gateways: east dials west (configured), west
// dials back at the URL east's INFO gave. Messages, queue groups and requests cross once; /gatewayz shows
// both directions; garbage on the gateway port is refused without harming the link.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { closeAll, collect, markerThrough, te, td } from "../helpers/nats.ts";
import { connectRaw } from "../helpers/raw.ts";
import { gatewayUrl, gatewayz, startGatewayNode, stopAll, waitForGatewayInterest, waitForLinks } from "./helpers.ts";

function clientOf(p: Petrel): Promise<NatsConnection> {
  return connect({ servers: p.clientUrl, reconnect: false, timeout: 5000 });
}

describe("east and west linked by gateways", () => {
  let east: Petrel | undefined, west: Petrel | undefined;
  let ne: NatsConnection, nw: NatsConnection;
  const conns: NatsConnection[] = [];

  before(async () => {
    west = await startGatewayNode("west");
    east = await startGatewayNode("east", [{ name: "west", urls: [gatewayUrl(west)] }]);
    await waitForLinks(east, ["west"]);
    await waitForLinks(west, ["east"]);
    ne = await clientOf(east);
    nw = await clientOf(west);
    conns.push(ne, nw);
  });
  after(async () => {
    await closeAll(conns);
    await stopAll([east, west]);
  });

  it("shows outbound_gateways.west on east and the reverse link on west in /gatewayz", async () => {
    const ge = await gatewayz(east!);
    assert.equal(ge.name, "east");
    assert.equal(ge.outbound_gateways.west.configured, true);
    assert.equal(ge.outbound_gateways.west.connection.name, west!.server.serverId);
    assert.equal(ge.inbound_gateways.west.length, 1);
    const gw = await gatewayz(west!);
    assert.equal(gw.outbound_gateways.east.configured, false);
    assert.equal(gw.inbound_gateways.east[0].connection.name, east!.server.serverId);
    const varz = await (await east!.monitorFetch(new Request("http://localhost/varz"))).json() as { gateway: { name: string; gateways: { name: string }[] } };
    assert.equal(varz.gateway.name, "east");
    assert.deepEqual(varz.gateway.gateways.map((g) => g.name), ["west"]);
  });

  it("shows each account's interest mode with accs=1 (acc_name= for one), as nats-server 2.9: interest-only from the start", async () => {
    const sub = nw.subscribe("modes.x");
    const qsub = nw.subscribe("modes.q", { queue: "workers" });
    await nw.flush();
    await waitForGatewayInterest(east!, "modes.x");
    await waitForGatewayInterest(east!, "modes.q", { queue: "workers" });
    type Acc = { name: string; interest_mode: string; interest_only_threshold: number; num_subs?: number; num_queue_subs?: number };
    type Links = { outbound_gateways: Record<string, { accounts?: Acc[] }>; inbound_gateways: Record<string, { accounts?: Acc[] }[]> };
    const ge = await gatewayz(east!, "?accs=1") as unknown as Links;
    const g = ge.outbound_gateways.west.accounts?.find((a) => a.name === "$G");
    assert.equal(g?.interest_mode, "Interest-Only");
    assert.equal(g?.interest_only_threshold, 1000);
    assert.ok((g?.num_subs ?? 0) >= 2, `west's subscriptions counted (${g?.num_subs})`);
    assert.ok((g?.num_queue_subs ?? 0) >= 1);
    assert.equal(ge.inbound_gateways.west[0].accounts?.find((a) => a.name === "$G")?.interest_mode, "Interest-Only");
    const one = await gatewayz(east!, "?acc_name=$G") as unknown as Links;
    assert.deepEqual(one.outbound_gateways.west.accounts?.map((a) => a.name), ["$G"]);
    const none = await gatewayz(east!) as unknown as Links;
    assert.equal(none.outbound_gateways.west.accounts, undefined, "no accounts unless asked");
    sub.unsubscribe();
    qsub.unsubscribe();
    await nw.flush();
  });

  it("delivers a message published on east to a subscriber on west, once", async () => {
    const c = collect(nw, "greet.>");
    await nw.flush();
    await waitForGatewayInterest(east!, "greet.>");
    ne.publish("greet.w", te.encode("hello"));
    const msgs = await c.until(1);
    await markerThrough(ne, nw);
    assert.equal(msgs.length, 1);
    assert.equal(td.decode(msgs[0].data), "hello");
    assert.equal(msgs[0].subject, "greet.w");
    c.sub.unsubscribe();
  });

  it("does not send what the other cluster has no interest in", async () => {
    // One message west does want, published after the others: once it has arrived, east has sent whatever it
    // was going to, and only that one counts.
    const marker = collect(nw, "somebody.listens");
    await nw.flush();
    await waitForGatewayInterest(east!, "somebody.listens");
    const before = (await gatewayz(east!)).outbound_gateways.west.connection.out_msgs;
    for (let i = 0; i < 5; i++) ne.publish("nobody.listens", te.encode("x"));
    ne.publish("somebody.listens", te.encode("marker"));
    await marker.until(1);
    const afterCount = (await gatewayz(east!)).outbound_gateways.west.connection.out_msgs;
    assert.equal(afterCount, before + 1);
    marker.sub.unsubscribe();
  });

  it("delivers to a queue group spread over both clusters exactly once, local members first", async () => {
    const qe = collect(ne, "work", { queue: "q" });
    const qw = collect(nw, "work", { queue: "q" });
    await ne.flush();
    await nw.flush();
    await waitForGatewayInterest(east!, "work", { queue: "q" });
    await waitForGatewayInterest(west!, "work", { queue: "q" });
    for (let i = 0; i < 20; i++) ne.publish("work", te.encode(String(i)));
    await qe.until(20);
    await markerThrough(ne, nw);
    await markerThrough(ne, ne);
    assert.equal(qe.msgs.length + qw.msgs.length, 20);
    assert.equal(qw.msgs.length, 0, "east members are preferred for east's publishes");
    // Without a member in east, west's member gets each message once.
    qe.sub.unsubscribe();
    await ne.flush();
    await waitForGatewayInterest(west!, "work", { queue: "q", present: false });
    for (let i = 0; i < 10; i++) ne.publish("work", te.encode(String(i)));
    await qw.until(10);
    await markerThrough(ne, nw);
    assert.equal(qw.msgs.length, 10);
    qw.sub.unsubscribe();
  });

  it("answers requests across the gateway, both ways", async () => {
    const replies: string[] = [];
    const svcW = nw.subscribe("svc.west", {
      callback: (_e, m) => {
        replies.push(m.reply ?? "");
        m.respond(te.encode(`west:${td.decode(m.data)}`));
      },
    });
    const svcE = ne.subscribe("svc.east", { callback: (_e, m) => void m.respond(te.encode(`east:${td.decode(m.data)}`)) });
    await nw.flush();
    await ne.flush();
    await waitForGatewayInterest(east!, "svc.west");
    await waitForGatewayInterest(west!, "svc.east");
    for (let i = 0; i < 5; i++) {
      const r1 = await ne.request("svc.west", te.encode(`a${i}`), { timeout: 2000 });
      assert.equal(td.decode(r1.data), `west:a${i}`);
      const r2 = await nw.request("svc.east", te.encode(`b${i}`), { timeout: 2000 });
      assert.equal(td.decode(r2.data), `east:b${i}`);
    }
    // A fresh inbox per request (the old style) works too: the reply is mapped back to its server.
    const r3 = await ne.request("svc.west", te.encode("c"), { timeout: 2000, noMux: true });
    assert.equal(td.decode(r3.data), "west:c");
    // The mapped reply (`_GR_.<east>.<server>.<inbox>`) is unwrapped before subscribers see it.
    assert.equal(replies.length, 6);
    assert.ok(replies.every((r) => r.startsWith("_INBOX.")), replies.join(","));
    // A response reaches a requester once, although west both tracks the mapped reply and knows east's
    // interest in the plain one.
    const inbox = collect(ne, "my.inbox.1");
    await ne.flush();
    await waitForGatewayInterest(west!, "my.inbox.1");
    ne.publish("svc.west", te.encode("d"), { reply: "my.inbox.1" });
    await inbox.until(1);
    await markerThrough(nw, ne);
    assert.equal(inbox.msgs.length, 1);
    assert.equal(td.decode(inbox.msgs[0].data), "west:d");
    inbox.sub.unsubscribe();
    svcW.unsubscribe();
    svcE.unsubscribe();
  });

  it("refuses garbage and clients on the gateway port, and the link keeps working", async () => {
    const port = Number(new URL(gatewayUrl(west!)).port);
    const junk = await connectRaw(port);
    await junk.readUntil(/INFO .*\r\n/);
    await junk.send("\x00\x01GARBAGE garbage\r\n");
    await junk.readUntil("-ERR 'Authorization Violation'");
    await junk.expectClosed();
    const client = await connectRaw(port);
    await client.readUntil(/INFO .*\r\n/);
    await client.send('CONNECT {"verbose":false}\r\nPING\r\n');
    await client.readUntil("-ERR 'attempted to connect to gateway port'");
    await client.expectClosed();
    const early = await connectRaw(port);
    await early.readUntil(/INFO .*\r\n/);
    await early.send("RMSG $G foo 2\r\nhi\r\n");
    await early.readUntil("-ERR 'Authorization Violation'");
    await early.expectClosed();

    const c = collect(nw, "after.junk");
    await nw.flush();
    await waitForGatewayInterest(east!, "after.junk");
    ne.publish("after.junk", te.encode("still here"));
    await c.until(1);
    c.sub.unsubscribe();
    const g = await gatewayz(west!);
    assert.equal(g.inbound_gateways.east.length, 1);
  });

  it("stops its interest from crossing once the last subscriber leaves", async () => {
    const sub = nw.subscribe("gone.soon");
    await nw.flush();
    await waitForGatewayInterest(east!, "gone.soon");
    const withSub = (await gatewayz(east!)).outbound_gateways.west.connection.subscriptions;
    sub.unsubscribe();
    await nw.flush();
    await waitForGatewayInterest(east!, "gone.soon", { present: false });
    assert.equal((await gatewayz(east!)).outbound_gateways.west.connection.subscriptions, withSub - 1);
  });
});
