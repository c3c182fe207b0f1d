// A Petrel hub and a Petrel leaf: interest and messages in both directions, request/reply, queue groups,
// /leafz and /varz, and garbage on the leafnode port.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, collect, markerThrough, td, te } from "../helpers/nats.ts";
import { flushInterest, hasLeafInterest, leafUrl, leafz, startHub, startLeaf, waitLeafs } from "./helpers.ts";

describe("Petrel hub and Petrel leaf", () => {
  let hub: Petrel | undefined;
  let leaf: Petrel | undefined;
  let nh: NatsConnection, nl: NatsConnection;

  before(async () => {
    hub = await startHub("hub");
    leaf = await startLeaf("leaf", leafUrl(hub));
    await waitLeafs(hub, 1);
    await waitLeafs(leaf, 1);
    nh = await connect({ servers: hub.clientUrl, reconnect: false });
    nl = await connect({ servers: leaf.clientUrl, reconnect: false });
  });

  after(async () => {
    await closeAll([nh, nl]);
    await leaf?.stop();
    await hub?.stop();
  });

  it("carries messages from the leaf to the hub and back", async () => {
    const onHub = collect(nh, "up.x", { max: 2 });
    await flushInterest(nh, leaf!, "up.x");
    nl.publish("up.x", te.encode("a"));
    nl.publish("up.x", te.encode("b"));
    assert.deepEqual((await onHub.until(2)).map((m) => td.decode(m.data)), ["a", "b"]);

    const onLeaf = collect(nl, "down.>", { max: 1 });
    await flushInterest(nl, hub!, "down.>");
    nh.publish("down.y", te.encode("c"));
    const got = await onLeaf.until(1);
    assert.equal(got[0].subject, "down.y");
    assert.equal(td.decode(got[0].data), "c");
  });

  it("answers requests both ways, headers included", async () => {
    const svcHub = nh.subscribe("svc.hub", { callback: (_e, m) => void m.respond(te.encode(`hub:${td.decode(m.data)}`)) });
    const svcLeaf = nl.subscribe("svc.leaf", { callback: (_e, m) => void m.respond(te.encode(`leaf:${m.headers?.get("X") ?? ""}`)) });
    await flushInterest(nh, leaf!, "svc.hub");
    await flushInterest(nl, hub!, "svc.leaf");
    const r1 = await nl.request("svc.hub", te.encode("q"), { timeout: 2000 });
    assert.equal(td.decode(r1.data), "hub:q");
    const h = headers();
    h.set("X", "42");
    const r2 = await nh.request("svc.leaf", te.encode(""), { timeout: 2000, headers: h });
    assert.equal(td.decode(r2.data), "leaf:42");
    svcHub.unsubscribe();
    svcLeaf.unsubscribe();
  });

  it("delivers each message to one member of a queue group spread over both sides", async () => {
    let n = 0;
    const subs = [nh, nh, nl, nl].map((nc) => nc.subscribe("work", { queue: "q", callback: () => void n++ }));
    await flushInterest(nh, leaf!, "work", "q");
    await flushInterest(nl, hub!, "work", "q");
    for (let i = 0; i < 20; i++) nl.publish("work", te.encode(String(i)));
    for (let i = 0; i < 20; i++) nh.publish("work", te.encode(String(i)));
    await waitFor("40 queue deliveries", () => n >= 40, 3000, 10);
    for (const [a, b] of [[nl, nh], [nl, nl], [nh, nh], [nh, nl]]) await markerThrough(a, b);
    assert.equal(n, 40);
    for (const s of subs) s.unsubscribe();
  });

  it("does not send a leaf's message back to it", async () => {
    const mine = collect(nl, "echo.t");
    const theirs = collect(nh, "echo.t");
    await flushInterest(nh, leaf!, "echo.t");
    await flushInterest(nl, hub!, "echo.t");
    nl.publish("echo.t", te.encode("once"));
    await nl.flush();
    await waitFor("hub got it", () => theirs.msgs.length === 1, 3000, 10);
    await markerThrough(nl, nh);
    await markerThrough(nl, nl);
    assert.equal(mine.msgs.length, 1);
    assert.equal(theirs.msgs.length, 1);
  });

  it("withdraws interest when the last subscriber leaves", async () => {
    const a = nl.subscribe("gone.x");
    const b = nl.subscribe("gone.x");
    await flushInterest(nl, hub!, "gone.x");
    a.unsubscribe();
    // Interest in another subject, announced after the unsubscribe on the same link: once the hub has it, the
    // hub would also have had any withdrawal of gone.x.
    const marker = nl.subscribe("gone.marker");
    await flushInterest(nl, hub!, "gone.marker");
    marker.unsubscribe();
    assert.ok(hasLeafInterest(hub!, "gone.x"), "one subscriber is left");
    b.unsubscribe();
    await nl.flush();
    await waitFor("interest withdrawn", () => !hasLeafInterest(hub!, "gone.x"), 3000, 10);
  });

  it("lists a leaf's subscriptions in /leafz?subs=1", async () => {
    const s = nl.subscribe("listed.>", { queue: "g" });
    await flushInterest(nl, hub!, "listed.>", "g");
    const res = await hub!.monitorFetch(new Request("http://localhost/leafz?subs=1"));
    const z = (await res.json()) as { leafs: { subscriptions_list: string[] }[] };
    assert.ok(z.leafs[0].subscriptions_list.includes("listed.> g"));
    s.unsubscribe();
  });

  it("reports the link in /leafz and /varz", async () => {
    const z = await leafz(hub!);
    assert.equal(z.leafnodes, 1);
    const l = z.leafs[0];
    assert.equal(l.name, "leaf");
    assert.equal(l.account, "$G");
    assert.equal(l.ip, "127.0.0.1");
    assert.ok(l.in_msgs > 0 && l.out_msgs > 0 && l.in_bytes > 0 && l.subscriptions > 0);
    assert.match(l.rtt, /^[\d.]+(µs|ms|s)$/);
    assert.notEqual(l.rtt, "0s");
    const v = (await (await hub!.monitorFetch(new Request("http://localhost/varz"))).json()) as { leafnodes: number; leaf: { port: number } };
    assert.equal(v.leafnodes, 1);
    assert.equal(v.leaf.port, Number(new URL(leafUrl(hub!)).port));
  });

  it("rejects garbage on the leafnode port and keeps serving", async () => {
    const port = Number(new URL(leafUrl(hub!)).port);
    const reply = await new Promise<string>((resolve) => {
      let text = "";
      const s = netConnect({ host: "127.0.0.1", port }, () => s.write("HELLO WORLD\r\nPUB x 1\r\nA\r\n"));
      s.on("data", (d) => (text += d.toString()));
      s.on("close", () => resolve(text));
      s.on("error", () => resolve(text));
      setTimeout(() => s.destroy(), 3000);
    });
    assert.match(reply, /^INFO /);
    assert.match(reply, /-ERR 'Unknown Protocol Operation'/);
    // An official client pointed at the leafnode port is turned away as nats-server does it.
    const client = await connect({ port, reconnect: false, timeout: 2000 }).then((nc) => nc.close().then(() => "connected"), (e: Error) => e.message);
    assert.match(client, /attempted to connect to leaf node port/);
    assert.equal((await leafz(hub!)).leafnodes, 1);
    const r = collect(nh, "after.garbage", { max: 1 });
    await flushInterest(nh, leaf!, "after.garbage");
    nl.publish("after.garbage", te.encode("ok"));
    assert.equal((await r.until(1)).length, 1);
  });
});
