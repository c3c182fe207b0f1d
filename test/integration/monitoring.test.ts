// HTTP monitoring endpoints (-m): field names and counters as nats-server reports them.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { forEachServer, monitorJson, type RunningServer, startServer, waitConnections, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, te } from "../helpers/nats.ts";

interface Varz {
  server_id: string;
  server_name: string;
  version: string;
  host: string;
  port: number;
  max_payload: number;
  max_connections: number;
  max_control_line: number;
  max_pending: number;
  ping_interval: number;
  ping_max: number;
  http_port: number;
  connections: number;
  total_connections: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  slow_consumers: number;
  subscriptions: number;
  start: string;
  now: string;
  uptime: string;
}

interface ConnInfo {
  cid: number;
  ip: string;
  port: number;
  name?: string;
  lang?: string;
  version?: string;
  subscriptions: number;
  subscriptions_list?: string[];
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  pending_bytes: number;
}

interface Connz {
  server_id: string;
  num_connections: number;
  total: number;
  offset: number;
  limit: number;
  connections: ConnInfo[];
}

forEachServer(["nats-server", "petrel"], (kind) => {
  let server: RunningServer;
  let pub: NatsConnection;
  let subA: NatsConnection;
  let subB: NatsConnection;

  before(async () => {
    server = await startServer(kind, { monitor: true, args: ["-n", `mon-${kind}`] });
    await waitConnections(server, 0);
    pub = await connectTo(server, { name: "publisher" });
    subA = await connectTo(server, { name: "sub-a" });
    subB = await connectTo(server, { name: "sub-b" });
  });
  after(async () => {
    await closeAll([pub, subA, subB]);
    await server?.stop();
  });

  it("/varz reports configuration and identity", async () => {
    const v = await monitorJson<Varz>(server, "/varz");
    const info = pub.info;
    assert.equal(v.server_id, info?.server_id);
    assert.equal(v.server_name, `mon-${kind}`);
    assert.equal(typeof v.version, "string");
    assert.equal(v.host, "127.0.0.1");
    assert.equal(v.port, server.port);
    assert.equal(v.max_payload, 1048576);
    assert.equal(v.max_control_line, 4096);
    assert.equal(v.max_connections, 65536);
    assert.equal(v.ping_max, 2);
    assert.equal(typeof v.ping_interval, "number");
    assert.equal(typeof v.http_port, "number"); // nats-server echoes the configured value (-1 here)
    assert.equal(typeof v.start, "string");
    assert.ok(!Number.isNaN(Date.parse(v.start)));
    assert.ok(!Number.isNaN(Date.parse(v.now)));
    assert.equal(typeof v.uptime, "string");
  });

  it("/varz counts connections, subscriptions, messages and bytes", async () => {
    const before = await monitorJson<Varz>(server, "/varz");
    assert.equal(before.connections, 3);
    assert.ok(before.total_connections >= 3);
    const a = collect(subA, "varz.count");
    const b = collect(subB, "varz.count");
    await Promise.all([subA.flush(), subB.flush()]);
    const mid = await monitorJson<Varz>(server, "/varz");
    assert.equal(mid.subscriptions, before.subscriptions + 2);
    for (let i = 0; i < 3; i++) pub.publish("varz.count", te.encode("12345"));
    await a.until(3);
    await b.until(3);
    const after = await waitFor("counters", async () => {
      const v = await monitorJson<Varz>(server, "/varz");
      return v.out_msgs >= before.out_msgs + 6 ? v : undefined;
    }, 3000);
    assert.equal(after.in_msgs - before.in_msgs, 3);
    assert.equal(after.in_bytes - before.in_bytes, 15);
    assert.equal(after.out_msgs - before.out_msgs, 6);
    assert.equal(after.out_bytes - before.out_bytes, 30);
    assert.equal(after.slow_consumers, 0);
    a.sub.unsubscribe();
    b.sub.unsubscribe();
    await Promise.all([subA.flush(), subB.flush()]);
    const end = await monitorJson<Varz>(server, "/varz");
    assert.equal(end.subscriptions, before.subscriptions);
  });

  it("/connz lists connections with per-connection counters; subs=1 lists subjects", async () => {
    const s1 = subA.subscribe("connz.one");
    const s2 = subA.subscribe("connz.two");
    await subA.flush();
    const all = await monitorJson<Connz>(server, "/connz?subs=1");
    assert.equal(all.server_id, pub.info?.server_id);
    assert.equal(all.num_connections, 3);
    assert.equal(all.total, 3);
    assert.equal(all.offset, 0);
    assert.equal(all.limit, 1024);
    const cids = all.connections.map((c) => c.cid);
    assert.deepEqual(cids, [...cids].sort((x, y) => x - y), "sorted by cid by default");
    const a = all.connections.find((c) => c.name === "sub-a");
    assert.ok(a, "sub-a is listed by name");
    assert.equal(a.ip, "127.0.0.1");
    assert.equal(typeof a.port, "number");
    assert.equal(a.lang, "nats.js");
    assert.equal(a.subscriptions, 2);
    assert.deepEqual([...(a.subscriptions_list ?? [])].sort(), ["connz.one", "connz.two"]);
    const plain = await monitorJson<Connz>(server, "/connz");
    assert.equal(plain.connections.find((c) => c.name === "sub-a")?.subscriptions_list, undefined);
    s1.unsubscribe();
    s2.unsubscribe();
    await subA.flush();
  });

  it("/connz supports cid=, limit=, offset= and sort=", async () => {
    const all = await monitorJson<Connz>(server, "/connz");
    const cids = all.connections.map((c) => c.cid);
    const one = await monitorJson<Connz>(server, `/connz?cid=${cids[1]}`);
    assert.equal(one.connections.length, 1);
    assert.equal(one.connections[0].cid, cids[1]);
    const page = await monitorJson<Connz>(server, "/connz?limit=1&offset=1");
    assert.equal(page.limit, 1);
    assert.equal(page.offset, 1);
    assert.equal(page.num_connections, 1);
    assert.equal(page.total, 3);
    assert.deepEqual(page.connections.map((c) => c.cid), [cids[1]]);
    // Make the publisher's inbound count the largest, then sort by msgs_from (descending).
    const sink = collect(subB, "connz.sort");
    await subB.flush();
    for (let i = 0; i < 5; i++) pub.publish("connz.sort", te.encode("x"));
    await sink.until(5);
    const byIn = await monitorJson<Connz>(server, "/connz?sort=msgs_from");
    assert.equal(byIn.connections[0].name, "publisher");
    assert.ok(byIn.connections[0].in_msgs >= 5);
    const byOut = await monitorJson<Connz>(server, "/connz?sort=msgs_to");
    assert.equal(byOut.connections[0].name, "sub-b");
    sink.sub.unsubscribe();
  });

  it("/subsz counts subscriptions", async () => {
    // Earlier tests' UNSUBs (unflushed) must reach the server before the baseline is read.
    await Promise.all([pub.flush(), subA.flush(), subB.flush()]);
    const before = await monitorJson<{ num_subscriptions: number }>(server, "/subsz");
    const subs = [subA.subscribe("subsz.a"), subA.subscribe("subsz.b"), subB.subscribe("subsz.*")];
    await Promise.all([subA.flush(), subB.flush()]);
    const during = await monitorJson<{ num_subscriptions: number }>(server, "/subsz");
    assert.equal(during.num_subscriptions, before.num_subscriptions + 3);
    for (const s of subs) s.unsubscribe();
    await Promise.all([subA.flush(), subB.flush()]);
    const after = await monitorJson<{ num_subscriptions: number }>(server, "/subsz");
    assert.equal(after.num_subscriptions, before.num_subscriptions);
  });

  it("/routez reports no routes on a standalone server", async () => {
    const r = await monitorJson<{ server_id: string; num_routes: number; routes: unknown[] }>(server, "/routez");
    assert.equal(r.server_id, pub.info?.server_id);
    assert.equal(r.num_routes, 0);
    assert.deepEqual(r.routes, []);
  });

  it("/healthz answers 200 {\"status\":\"ok\"} and unknown paths 404", async () => {
    const res = await fetch(`${server.monitorUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    const missing = await fetch(`${server.monitorUrl}/definitely-not-here`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});
