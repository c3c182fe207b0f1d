// A second route between two servers that are already connected (a configured route's retry landing after the
// peer dialed us, or crossed dials) must not cost a message: the route that carries traffic stays, the extra one
// closes before anything was sent on it, and the interest the surviving route carries stays in place. Between
// two Petrel servers the one with the smaller server id decides which connection stays (the first it registered,
// as nats-server keeps); the other end keeps every connection the decider opened or accepted until told.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { PETREL_VERSION } from "../../src/server/server.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, collect, markerThrough, te, td } from "../helpers/nats.ts";
import { connectRaw, type RawClient, readInfo } from "../helpers/raw.ts";
import { type LinkGate, startLinkGate } from "../helpers/link_proxy.ts";
import { clusterPort, routez, startNode, stopAll, waitForMesh, waitForRemoteInterest } from "./helpers.ts";

function clientOf(p: Petrel): Promise<NatsConnection> {
  return connect({ servers: p.clientUrl, reconnect: false, timeout: 5000 });
}

/** A hand-written route to `p` that presents itself as the Petrel server `peerId` (CONNECT and INFO sent). */
async function routeAs(p: Petrel, peerId: string, raws: RawClient[]): Promise<RawClient> {
  const r = await connectRaw(clusterPort(p));
  raws.push(r);
  await readInfo(r);
  await r.send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"${peerId}","cluster":"dup","lnoc":true}\r\n`);
  await r.send(`INFO {"server_id":"${peerId}","server_name":"peer","version":"2.9.10","go":"petrel${PETREL_VERSION}","proto":2,"host":"127.0.0.1","port":0,"headers":true,"cluster":"dup","lnoc":true}\r\n`);
  return r;
}

/** Base32 "2" sorts before every letter: no generated server id is smaller. */
const SMALLEST_ID = `N${"2".repeat(55)}`;
const LARGEST_ID = `N${"Z".repeat(55)}`;

describe("a duplicate route", () => {
  it("that lands while the first route carries traffic loses nothing, and interest survives", { timeout: 20_000 }, async () => {
    // Each server dials the other through a gate, so the test decides which dial lands first: the server with the
    // larger id dials first and its route carries the traffic; the smaller id's dial lands in mid-stream. That
    // is the order in which the old rule (keep the route the smaller id solicited) replaced the busy route.
    const gates: LinkGate[] = [await startLinkGate(), await startLinkGate()];
    const nodes: Petrel[] = [];
    const conns: NatsConnection[] = [];
    try {
      nodes.push(await startNode({ name: "A", cluster: "dup", routes: [gates[0].url] }));
      nodes.push(await startNode({ name: "B", cluster: "dup", routes: [gates[1].url] }));
      const [a, b] = nodes;
      const aIsBig = a.server.serverId > b.server.serverId;
      const big = aIsBig ? a : b;
      const small = aIsBig ? b : a;
      const gateOfBig = aIsBig ? gates[0] : gates[1];
      const gateOfSmall = aIsBig ? gates[1] : gates[0];
      gateOfBig.open(clusterPort(small));
      await waitForMesh(nodes);

      const pub = await clientOf(big);
      const sub = await clientOf(small);
      conns.push(pub, sub);
      let got = 0;
      sub.subscribe("dup.flow", { callback: () => void got++ });
      await sub.flush();
      await waitForRemoteInterest(big, "dup.flow", 1);

      const payload = new Uint8Array(64);
      let sent = 0;
      const burst = async () => {
        for (let i = 0; i < 2000; i++) pub.publish("dup.flow", payload);
        sent += 2000;
        await pub.flush();
      };
      await burst();
      await burst();
      gateOfSmall.open(clusterPort(big));
      // Publish on until one of the two connections has ended: the duplicate was resolved in mid-stream.
      for (let i = 0; gates[0].ended + gates[1].ended === 0; i++) {
        if (i >= 500) throw new Error("the second route neither registered nor closed");
        await burst();
      }
      await burst();
      await burst();
      await waitFor(`${sent} messages across the route`, () => got >= sent, 5000).catch((e: Error) => {
        throw new Error(`${e.message}: got ${got} (${sent - got} lost)`);
      });
      await markerThrough(pub, sub);
      assert.equal(got, sent, "each message once");
      // The busy route is the one kept: the late dial ended, the first route is still there on both ends.
      assert.ok(gateOfSmall.ended >= 1);
      assert.equal(gateOfBig.ended, 0);

      // One route on each end, the same connection, and it still carries the interest.
      const rb = await routez(big, true);
      const rs = await routez(small, true);
      assert.equal(rb.num_routes, 1);
      assert.equal(rs.num_routes, 1);
      assert.equal(rb.routes[0].did_solicit, true);
      assert.equal(rs.routes[0].did_solicit, false);
      assert.ok(rb.routes[0].subscriptions_list?.includes("dup.flow"));
      // Interest made after the duplicate crosses both ways.
      const back = collect(pub, "dup.back");
      await pub.flush();
      await waitForRemoteInterest(small, "dup.back", 1);
      sub.publish("dup.back", te.encode("b"));
      await back.until(1);
      await markerThrough(sub, pub);
    } finally {
      await closeAll(conns);
      await stopAll(nodes);
      await Promise.all(gates.map((g) => g.close()));
    }
  });

  it("from a Petrel peer with a smaller id is kept until the peer picks one, and the pick carries on alone", { timeout: 15_000 }, async () => {
    // A hand-written peer with the smallest possible id opens two routes to P and keeps the second, as a peer
    // whose crossed dials registered the other way round would: P must not close either on its own, and once
    // the peer closes the first, the second is P's route with its interest.
    const p = await startNode({ name: "P", cluster: "dup" });
    const peerId = SMALLEST_ID;
    const local = await clientOf(p);
    const raws: RawClient[] = [];
    try {
      const heard = collect(local, "to.p");
      await local.flush();
      const open = async (): Promise<RawClient> => {
        const r = await routeAs(p, peerId, raws);
        // P announces its interest on every route it registered.
        await r.readUntil("RS+ $G to.p\r\n");
        return r;
      };
      const first = await open();
      const second = await open();

      // The peer keeps the second: its interest and messages go there.
      await second.send("RS+ $G to.peer\r\nPING\r\n");
      await second.readUntil("PONG\r\n");
      local.publish("to.peer", te.encode("one"));
      await local.flush();
      await second.readUntil("RMSG $G to.peer 3\r\none\r\n");
      await second.send("RMSG $G to.p 2\r\nhi\r\n");
      await heard.until(1);
      assert.equal(td.decode(heard.msgs[0].data), "hi");

      first.close();
      await waitFor("P's route to be the second connection", async () => {
        const r = await routez(p, true);
        return r.num_routes === 1 && r.routes[0].remote_id === peerId && r.routes[0].subscriptions_list?.includes("to.peer");
      });
      local.publish("to.peer", te.encode("two"));
      await local.flush();
      await second.readUntil("RMSG $G to.peer 3\r\ntwo\r\n");
      await second.expectOpen();
      assert.ok(!first.text().includes("RMSG"), "nothing went to the route the peer did not keep");

      // A peer that opens connections without ever closing one is refused past a few spares.
      const more: RawClient[] = [];
      for (let i = 0; i < 4; i++) more.push(await open());
      const extra = await routeAs(p, peerId, raws);
      await extra.expectClosed();
      for (const r of more) await r.expectOpen();
    } finally {
      for (const r of raws) r.close();
      await closeAll([local]);
      await p.stop();
    }
  });

  it("from a Petrel peer with a larger id is refused at once, and the first route carries on", { timeout: 15_000 }, async () => {
    const p = await startNode({ name: "P", cluster: "dup" });
    const local = await clientOf(p);
    const raws: RawClient[] = [];
    try {
      const first = await routeAs(p, LARGEST_ID, raws);
      await first.send("RS+ $G to.peer\r\nPING\r\n");
      await first.readUntil("PONG\r\n");
      const second = await routeAs(p, LARGEST_ID, raws);
      await second.expectClosed();
      local.publish("to.peer", te.encode("one"));
      await local.flush();
      await first.readUntil("RMSG $G to.peer 3\r\none\r\n");
      const r = await routez(p, true);
      assert.equal(r.num_routes, 1);
      assert.ok(r.routes[0].subscriptions_list?.includes("to.peer"));
    } finally {
      for (const r of raws) r.close();
      await closeAll([local]);
      await p.stop();
    }
  });
});
