// In-process Petrel clusters: gossip builds a full mesh from one seed, one route per peer, interest and
// messages cross exactly one route, queue groups deliver once cluster-wide (local members first),
// clients learn the cluster's URLs and fail over, and bad route input leaves the mesh alone.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { sleep, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, markerThrough, te, td } from "../helpers/nats.ts";
import { connectRaw, readInfo } from "../helpers/raw.ts";
import { freePort } from "../helpers/ports.ts";
import { clusterPort, lineLogger, routeUrl, routez, startNode, stopAll, waitForMesh, waitForRemoteInterest } from "./helpers.ts";

function clientOf(p: Petrel, opts: Record<string, unknown> = {}): Promise<NatsConnection> {
  return connect({ servers: p.clientUrl, reconnect: false, timeout: 5000, ...opts });
}

describe("a seed cluster of three", () => {
  let a: Petrel, b: Petrel, c: Petrel;
  const conns: NatsConnection[] = [];
  let na: NatsConnection, nb: NatsConnection, nc: NatsConnection;
  const aLog = lineLogger();

  before(async () => {
    a = await startNode({ name: "A", logger: aLog.logger });
    b = await startNode({ name: "B", routes: [routeUrl(a)] });
    c = await startNode({ name: "C", routes: [routeUrl(a)] });
    await waitForMesh([a, b, c]);
    na = await clientOf(a);
    nb = await clientOf(b);
    nc = await clientOf(c);
    conns.push(na, nb, nc);
  });
  after(async () => {
    await closeAll(conns);
    await stopAll([a, b, c]);
  });

  /**
   * Everything published on A so far has arrived wherever it was going to: a stray or duplicate copy would come
   * straight from A (to B or C) or be forwarded between B and C, and a marker goes down each of those paths,
   * the forwarded ones after the straight ones.
   */
  async function allArrived(): Promise<void> {
    await markerThrough(na, nb);
    await markerThrough(na, nc);
    await markerThrough(nb, nc);
    await markerThrough(nc, nb);
  }

  it("becomes a full mesh with one route per peer, and clients get every client URL", async () => {
    for (const n of [a, b, c]) {
      const r = await routez(n);
      assert.equal(r.num_routes, 2);
      const varz = await (await n.monitorFetch(new Request("http://localhost/varz"))).json() as Record<string, unknown>;
      assert.equal(varz.routes, 2);
      assert.equal((varz.cluster as Record<string, unknown>).name, "test");
    }
    // B and C only knew A: the B-C route came from gossip.
    const bc = (await routez(b)).routes.find((r) => r.remote_id === c.server.serverId);
    assert.ok(bc, "B has a route to C");
    const want = [a, b, c].map((n) => `127.0.0.1:${n.server.clientPort}`).sort();
    await waitFor("connect_urls on every node", () => [a, b, c].every((n) => JSON.stringify([...n.server.connectUrls].sort()) === JSON.stringify(want)));
    const raw = await connectRaw(c.server.clientPort);
    try {
      const info = await readInfo(raw);
      assert.deepEqual([...(info.connect_urls as string[])].sort(), want);
      assert.equal(info.cluster, "test");
    } finally {
      raw.close();
    }
  });

  it("delivers once per subscription across one hop, wildcards included", async () => {
    const exact = collect(nb, "orders.new");
    const wild = collect(nb, "orders.*");
    const full = collect(nc, "orders.>");
    await nb.flush();
    await nc.flush();
    await waitForRemoteInterest(a, "orders.*", 1);
    await waitForRemoteInterest(a, "orders.>", 1);
    await waitForRemoteInterest(a, "orders.new", 1);
    const bToCOut = async () => ((await routez(b)).routes.find((r) => r.remote_id === c.server.serverId) as unknown as { out_msgs: number }).out_msgs;
    const before = await bToCOut();
    for (let i = 0; i < 20; i++) na.publish("orders.new", te.encode(String(i)));
    await na.flush();
    await exact.until(20);
    await wild.until(20);
    await full.until(20);
    await allArrived();
    assert.equal(exact.msgs.length, 20);
    assert.equal(wild.msgs.length, 20);
    assert.equal(full.msgs.length, 20);
    assert.deepEqual(full.msgs.map((m) => td.decode(m.data)), Array.from({ length: 20 }, (_, i) => String(i)));
    // B's messages came straight from A: none of the 20 was forwarded B -> C (the system account's own events,
    // which routes carry too, may add a message or two on that route meanwhile).
    const forwarded = (await bToCOut()) - before;
    assert.ok(forwarded < 20, `B forwarded ${forwarded} messages to C`);
    exact.sub.unsubscribe();
    wild.sub.unsubscribe();
    full.sub.unsubscribe();
  });

  it("propagates unsubscribe", async () => {
    const s = collect(nc, "gone");
    await nc.flush();
    await waitForRemoteInterest(a, "gone", 1);
    s.sub.unsubscribe();
    await nc.flush();
    await waitForRemoteInterest(a, "gone", 0);
    na.publish("gone", te.encode("x"));
    await na.flush();
    await allArrived();
    assert.equal(s.msgs.length, 0);
  });

  it("delivers each message once per queue group cluster-wide, preferring local members", async () => {
    const qb = collect(nb, "work", { queue: "workers" });
    const qc = collect(nc, "work", { queue: "workers" });
    const plain = collect(nc, "work");
    await nb.flush();
    await nc.flush();
    await waitForRemoteInterest(a, "work", 3);
    for (let i = 0; i < 40; i++) na.publish("work", te.encode(String(i)));
    await na.flush();
    await plain.until(40);
    await waitFor("40 queue deliveries", () => qb.msgs.length + qc.msgs.length >= 40);
    await allArrived();
    assert.equal(qb.msgs.length + qc.msgs.length, 40);
    const seen = new Set([...qb.msgs, ...qc.msgs].map((m) => td.decode(m.data)));
    assert.equal(seen.size, 40, "no message twice");
    assert.equal(plain.msgs.length, 40);

    // With a member on the publishing server, it gets them all.
    const qa = collect(na, "work", { queue: "workers" });
    await na.flush();
    const before = qb.msgs.length + qc.msgs.length;
    for (let i = 0; i < 20; i++) na.publish("work", te.encode("local"));
    await na.flush();
    await qa.until(20);
    await allArrived();
    assert.equal(qa.msgs.length, 20);
    assert.equal(qb.msgs.length + qc.msgs.length, before);
    // Published on C, C's member wins over B's and A's.
    for (let i = 0; i < 10; i++) nc.publish("work", te.encode("fromC"));
    await nc.flush();
    await waitFor("C's member gets C's messages", () => qc.msgs.filter((m) => td.decode(m.data) === "fromC").length === 10);
    // Published on C this time: markers from C down its paths to A and B.
    await markerThrough(nc, na);
    await markerThrough(nc, nb);
    assert.equal(qc.msgs.filter((m) => td.decode(m.data) === "fromC").length, 10);
    assert.equal([...qa.msgs, ...qb.msgs].filter((m) => td.decode(m.data) === "fromC").length, 0);
    for (const s of [qa, qb, qc, plain]) s.sub.unsubscribe();
  });

  it("answers requests across the cluster, headers included", async () => {
    const svc = nc.subscribe("svc.echo", {
      callback: (_e, m) => {
        const h = headers();
        h.set("X-From", "C");
        m.respond(m.data, { headers: h });
      },
    });
    await nc.flush();
    await waitForRemoteInterest(a, "svc.echo", 1);
    const h = headers();
    h.set("X-Req", "1");
    const r = await na.request("svc.echo", te.encode("ping"), { timeout: 2000, headers: h });
    assert.equal(td.decode(r.data), "ping");
    assert.equal(r.headers?.get("X-From"), "C");
    svc.unsubscribe();
    // No interest anywhere: the requester gets no-responders, not a timeout.
    await waitForRemoteInterest(a, "svc.echo", 0);
    await assert.rejects(na.request("svc.echo", te.encode("x"), { timeout: 2000 }), /503|no responders/i);
  });

  it("rejects garbage and a wrong cluster name on the route port without harming the mesh", async () => {
    const g = await connectRaw(clusterPort(a));
    await readInfo(g);
    await g.send("GARBAGE nonsense\r\n");
    await g.readUntil("-ERR 'Unknown Protocol Operation'");
    await g.expectClosed();

    const w = await connectRaw(clusterPort(a));
    await readInfo(w);
    await w.send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"headers":true,"name":"NFAKE","cluster":"other","lnoc":true}\r\n`);
    await w.readUntil("-ERR");
    await w.expectClosed();

    // A whole server with another cluster name is refused too, each time it dials again.
    const conflicts = aLog.count("Cluster Name Conflict");
    const stranger = await startNode({ name: "X", cluster: "other", routes: [routeUrl(a)] });
    try {
      await waitFor("A refused the stranger twice", () => aLog.count("Cluster Name Conflict") >= conflicts + 2, 5000, 10);
      assert.equal((await routez(stranger)).num_routes, 0);
    } finally {
      await stranger.stop();
    }
    // RMSG before the handshake is refused as well.
    const early = await connectRaw(clusterPort(b));
    await readInfo(early);
    await early.send("RMSG $G foo 2\r\nhi\r\n");
    await early.expectClosed();

    for (const n of [a, b, c]) assert.equal((await routez(n)).num_routes, 2);
    const s = collect(nc, "after.bad");
    await nc.flush();
    await waitForRemoteInterest(a, "after.bad", 1);
    na.publish("after.bad", te.encode("ok"));
    await s.until(1);
    s.sub.unsubscribe();
  });
});

describe("route pairs", () => {
  it("two servers that list each other keep a single route", async () => {
    const portA = await freePort();
    const portB = await freePort();
    let a: Petrel | undefined, b: Petrel | undefined;
    try {
      [a, b] = await Promise.all([
        startNode({ name: "A", clusterPort: portA, routes: [`nats-route://127.0.0.1:${portB}`] }),
        startNode({ name: "B", clusterPort: portB, routes: [`nats-route://127.0.0.1:${portA}`] }),
      ]);
      await waitForMesh([a, b]);
      // Kept as a pause: no event says that no crossed dial is still coming (each keeps its configured route
      // watched); a late duplicate landing within it would show as a second route or as two solicited ends.
      await sleep(500);
      const ra = await routez(a);
      const rb = await routez(b);
      assert.equal(ra.num_routes, 1);
      assert.equal(rb.num_routes, 1);
      // Both ends kept the same connection: exactly one of them solicited it.
      assert.notEqual(ra.routes[0].did_solicit, rb.routes[0].did_solicit);
    } finally {
      await stopAll([a, b]);
    }
  });

  it("route authorization: the right credentials join, wrong ones do not", async () => {
    const auth = { user: "ruser", password: "s3cret", timeout: 2000 };
    let a: Petrel | undefined, good: Petrel | undefined, bad: Petrel | undefined;
    try {
      const aLog = lineLogger();
      a = await startNode({ name: "A", clusterExtra: { authorization: auth }, logger: aLog.logger });
      const port = clusterPort(a);
      bad = await startNode({ name: "BAD", routes: [`nats-route://ruser:wrong@127.0.0.1:${port}`] });
      good = await startNode({ name: "GOOD", routes: [`nats-route://ruser:s3cret@127.0.0.1:${port}`] });
      await waitForMesh([a, good]);
      // Only BAD's dials are refused, each time it dials again.
      await waitFor("A refused BAD twice", () => aLog.count("Authorization Violation") >= 2, 5000, 10);
      assert.equal((await routez(a)).num_routes, 1);
      // BAD registers each dial when A's INFO arrives, before A's -ERR and close (nats-server's soliciting side
      // does too): a dial still in flight shows for a few ms. What must not happen is a route that outlives the
      // refusal: BAD is seen holding none once its dials are refused, and A holds GOOD only.
      await waitFor("BAD holding no route between its refused dials", async () => (await routez(bad!)).num_routes === 0, 5000, 5);
      assert.deepEqual((await routez(a)).routes.map((r) => r.remote_id), [good.server.serverId]);
    } finally {
      await stopAll([a, good, bad]);
    }
  });

  it("a client given one URL learns the others and fails over when its server stops", async () => {
    let a: Petrel | undefined, b: Petrel | undefined, c: Petrel | undefined;
    let client: NatsConnection | undefined, other: NatsConnection | undefined;
    try {
      a = await startNode({ name: "A" });
      // Connected before the others join: the URLs arrive in INFO updates.
      client = await connect({ servers: a.clientUrl, reconnectTimeWait: 50, maxReconnectAttempts: 40, timeout: 5000 });
      b = await startNode({ name: "B", routes: [routeUrl(a)] });
      c = await startNode({ name: "C", routes: [routeUrl(a)] });
      await waitForMesh([a, b, c]);
      const aUrl = a.clientUrl;
      await waitFor("client learns the cluster", () => client!.info !== undefined && (client!.info.connect_urls ?? []).length === 3);
      const s = collect(client, "fo.test");
      await client.flush();
      await a.stop();
      await waitFor("client reconnected elsewhere", () => !client!.isClosed() && client!.getServer() !== new URL(aUrl).host && client!.info?.server_id !== a!.server.serverId, 8000);
      await client.flush();
      other = await clientOf(c);
      await waitForRemoteInterest(c, "fo.test", client.info?.server_id === c.server.serverId ? 0 : 1);
      other.publish("fo.test", te.encode("after failover"));
      await s.until(1, 5000);
      assert.equal(td.decode(s.msgs[0].data), "after failover");
    } finally {
      await closeAll([client, other]);
      await stopAll([a, b, c]);
    }
  });
});

describe("the route wire protocol, seen by a hand-written peer", () => {
  it("sends RS+ with queue weights and RMSG in nats-server's forms, and takes RS+/RMSG from the peer", { timeout: 15_000 }, async () => {
    const a = await startNode({ name: "A", cluster: "wire" });
    const conns: NatsConnection[] = [];
    const peer = await connectRaw(clusterPort(a));
    try {
      const local = await clientOf(a);
      conns.push(local);
      const w1 = collect(local, "work", { queue: "workers" });
      const w2 = collect(local, "work", { queue: "workers" });
      const plain = collect(local, "from.peer");
      await local.flush();
      const info = await readInfo(peer);
      assert.equal(info.cluster, "wire");
      assert.equal(info.server_id, a.server.serverId);
      await peer.send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NPEER","cluster":"wire","lnoc":true}\r\n`);
      await peer.send(`INFO {"server_id":"NPEER","server_name":"peer","version":"2.9.10","proto":2,"host":"127.0.0.1","port":0,"headers":true,"cluster":"wire","connect_urls":["127.0.0.1:1"],"lnoc":true}\r\n`);
      await peer.readUntil("RS+ $G work workers 2\r\n");
      await peer.readUntil("RS+ $G from.peer\r\n");
      assert.deepEqual(a.server.connectUrls, [`127.0.0.1:${a.server.clientPort}`, "127.0.0.1:1"]);

      // Interest from the peer: a plain sub and a queue group with no member on A.
      await peer.send("RS+ $G to.peer\r\nRS+ $G job jobq 3\r\nPING\r\n");
      await peer.readUntil("PONG\r\n");
      local.publish("to.peer", te.encode("hi"), { reply: "rep.ly" });
      local.publish("job", te.encode("j"));
      await local.flush();
      await peer.readUntil("RMSG $G to.peer rep.ly 2\r\nhi\r\n");
      await peer.readUntil("RMSG $G job | jobq 1\r\nj\r\n");

      // Leafnode interest the peer relays (LS+ with its origin cluster) counts like RS+.
      await peer.send("LS+ leafc $G leaf.sub\r\nPING\r\n");
      await peer.readUntil("PONG\r\n");
      local.publish("leaf.sub", te.encode("L"));
      await local.flush();
      await peer.readUntil("RMSG $G leaf.sub 1\r\nL\r\n");

      // Messages from the peer reach local plain subscribers, and only the queue groups they name.
      const mark = collect(local, "mark.peer");
      await local.flush();
      await peer.readUntil("RS+ $G mark.peer\r\n");
      await peer.send("RMSG $G from.peer 3\r\nabc\r\nRMSG $G work | other 1\r\nx\r\nRMSG $G work | workers 1\r\ny\r\n");
      // A marker behind them on the same route and the same client connection: all three were delivered or not.
      await peer.send("RMSG $G mark.peer 1\r\nm\r\n");
      await mark.until(1);
      assert.equal(plain.msgs.length, 1);
      assert.equal(td.decode(plain.msgs[0].data), "abc");
      const queued = [...w1.msgs, ...w2.msgs].map((m) => td.decode(m.data));
      assert.deepEqual(queued, ["y"], "only the named group, once");
      // Unsubscribing the last queue member sends RS- with the queue name.
      await local.close();
      await peer.readUntil(/RS- \$G work workers\r\n/);
    } finally {
      peer.close();
      await closeAll(conns);
      await a.stop();
    }
  });
});

describe("configurations", () => {
  it("every node listing every node, itself included, still gives one route per peer", async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const routes = ports.map((p) => `nats-route://127.0.0.1:${p}`);
    let nodes: Petrel[] = [];
    try {
      nodes = await Promise.all(ports.map((p, i) => startNode({ name: `N${i}`, clusterPort: p, routes })));
      await waitForMesh(nodes);
      // Kept as a pause, as for the route pair above: a late duplicate would show as a third route.
      await sleep(400);
      for (const n of nodes) assert.equal((await routez(n)).num_routes, 2);
    } finally {
      await stopAll(nodes);
    }
  });

  it("routes to a seed that went away are re-established when it comes back", async () => {
    let a: Petrel | undefined, b: Petrel | undefined, c: Petrel | undefined, a2: Petrel | undefined;
    try {
      a = await startNode({ name: "A" });
      const port = clusterPort(a);
      b = await startNode({ name: "B", routes: [routeUrl(a)] });
      c = await startNode({ name: "C", routes: [routeUrl(a)] });
      await waitForMesh([a, b, c]);
      await a.stop();
      await waitFor("B and C notice", async () => (await routez(b!)).num_routes === 1 && (await routez(c!)).num_routes === 1);
      a2 = await startNode({ name: "A2", clusterPort: port });
      await waitForMesh([a2, b, c]);
    } finally {
      await stopAll([a, b, c, a2]);
    }
  });

  it("WebSocket client URLs are gossiped too (ws_connect_urls)", async () => {
    let a: Petrel | undefined, b: Petrel | undefined;
    const ws = { websocket: { host: "127.0.0.1", port: -1, no_tls: true } };
    try {
      a = await startNode({ name: "A", extra: ws });
      b = await startNode({ name: "B", routes: [routeUrl(a)], extra: ws });
      await waitForMesh([a, b]);
      const want = [a, b].map((n) => n.ports().websocket?.[0]).map((u) => new URL(u as string).host).sort();
      await waitFor("ws_connect_urls on both", () => [a!, b!].every((n) => JSON.stringify([...n.server.wsConnectUrls].sort()) === JSON.stringify(want)));
      const raw = await connectRaw(b.server.clientPort);
      try {
        const info = await readInfo(raw);
        assert.deepEqual([...(info.ws_connect_urls as string[])].sort(), want);
      } finally {
        raw.close();
      }
    } finally {
      await stopAll([a, b]);
    }
  });

  it("no_advertise keeps the cluster's client URLs from clients", async () => {
    let a: Petrel | undefined, b: Petrel | undefined;
    try {
      a = await startNode({ name: "A", clusterExtra: { no_advertise: true } });
      b = await startNode({ name: "B", routes: [routeUrl(a)], clusterExtra: { no_advertise: true } });
      await waitForMesh([a, b]);
      const raw = await connectRaw(a.server.clientPort);
      try {
        const info = await readInfo(raw);
        assert.equal(info.connect_urls, undefined);
      } finally {
        raw.close();
      }
    } finally {
      await stopAll([a, b]);
    }
  });
});
