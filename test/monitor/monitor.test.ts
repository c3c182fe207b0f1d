import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { createMonitorApp } from "../../src/monitor/app.ts";
import { ClosedConnections } from "../../src/monitor/closed_connections.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { Server } from "../../src/server/server.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { openRaw, type RawConn } from "../../transports/raw_client.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

type Json = Record<string, unknown>;

async function get(app: Hono, path: string): Promise<{ status: number; body: Json; text: string }> {
  const res = await app.fetch(new Request(`http://x${path}`));
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    // not JSON (404, 400)
  }
  return { status: res.status, body, text };
}

async function sync(c: RawConn): Promise<void> {
  const n = c.text().split("PONG").length;
  c.write("PING\r\n");
  await c.waitFor((t) => t.split("PONG").length > n);
}

describe("monitoring app", () => {
  const { transport } = createMemoryTransport();
  const server = new Server(applyDefaults({ host: "127.0.0.1", port: 0, server_name: "mon-test" }), { transport });
  const app = createMonitorApp(server, { httpHost: "127.0.0.1", httpPort: 8222, cores: 2, memory: () => 1234 });
  const conns: RawConn[] = [];

  async function client(connect: Json, subs: string[]): Promise<RawConn> {
    const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
    conns.push(c);
    await c.waitFor("INFO");
    c.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connect })}\r\n`);
    subs.forEach((s, i) => c.write(`SUB ${s} ${i + 1}\r\n`));
    await sync(c);
    return c;
  }

  before(async () => {
    await server.start();
    await client({ name: "alpha", lang: "go", version: "1.0" }, ["a.>", "b"]);
    await client({ name: "beta" }, ["c", "d", "e"]);
    const pub = await client({}, []);
    pub.write("PUB b 3\r\nabc\r\n");
    await sync(pub);
    await sync(conns[0]);
  });
  after(async () => {
    for (const c of conns) c.close();
    await server.shutdown();
  });

  it("/varz has nats-server's fields and live counters", async () => {
    const { status, body } = await get(app, "/varz");
    assert.equal(status, 200);
    assert.equal(body.server_id, server.serverId);
    assert.equal(body.server_name, "mon-test");
    assert.equal(body.version, "2.9.10");
    assert.equal(body.port, server.clientPort);
    assert.equal(body.http_port, 8222);
    assert.equal(body.connections, 3);
    assert.equal(body.total_connections, 3);
    assert.equal(body.subscriptions, 5);
    assert.equal(body.in_msgs, 1);
    assert.equal(body.out_msgs, 1);
    assert.equal(body.in_bytes, 3);
    assert.equal(body.max_payload, 1024 * 1024);
    assert.equal(body.ping_interval, 120_000 * 1e6, "durations in nanoseconds");
    assert.equal(body.auth_timeout, 2);
    assert.equal(body.mem, 1234);
    assert.equal(body.cores, 2);
    assert.equal(body.auth_required, undefined);
    assert.match(String(body.uptime), /^\d+s$/);
    assert.ok(!Number.isNaN(Date.parse(String(body.now))));
  });

  it("/connz lists connections with paging, sorting, cid and subs", async () => {
    const all = await get(app, "/connz");
    assert.equal(all.status, 200);
    const list = all.body.connections as Json[];
    assert.equal(all.body.num_connections, 3);
    assert.equal(all.body.total, 3);
    assert.deepEqual(list.map((c) => c.cid), [...list.map((c) => c.cid as number)].sort((a, b) => a - b));
    assert.equal(list[0].name, "alpha");
    assert.equal(list[0].lang, "go");
    assert.equal(list[0].subscriptions, 2);
    assert.equal(list[0].subscriptions_list, undefined);
    assert.equal(list[0].kind, "Client");

    const subs = await get(app, "/connz?subs=1");
    assert.deepEqual(((subs.body.connections as Json[])[0].subscriptions_list as string[]).sort(), ["a.>", "b"]);
    const detail = await get(app, "/connz?subs=detail");
    const d0 = (detail.body.connections as Json[])[0].subscriptions_list_detail as Json[];
    assert.deepEqual(d0.map((s) => s.subject).sort(), ["a.>", "b"]);

    const cid = list[1].cid as number;
    const one = await get(app, `/connz?cid=${cid}`);
    assert.deepEqual((one.body.connections as Json[]).map((c) => c.cid), [cid]);

    const page = await get(app, "/connz?offset=1&limit=1");
    assert.equal(page.body.offset, 1);
    assert.equal(page.body.limit, 1);
    assert.equal(page.body.total, 3);
    assert.deepEqual((page.body.connections as Json[]).map((c) => c.cid), [cid]);

    const bySubs = await get(app, "/connz?sort=subs");
    assert.deepEqual((bySubs.body.connections as Json[]).map((c) => c.subscriptions), [3, 2, 0]);
    const byMsgsFrom = await get(app, "/connz?sort=msgs_from");
    assert.equal((byMsgsFrom.body.connections as Json[])[0].in_msgs, 1);
  });

  it("/connz rejects bad parameters with 400", async () => {
    // Checked against nats-server 2.9.10: each of these answers 400.
    for (const q of ["sort=bogus", "offset=x", "cid=abc", "limit=1.5", "limit=x"]) {
      const r = await get(app, `/connz?${q}`);
      assert.equal(r.status, 400, q);
    }
  });

  it("/subsz counts and lists subscriptions, filtered by test=", async () => {
    const plain = await get(app, "/subsz");
    assert.equal(plain.status, 200);
    assert.equal(plain.body.num_subscriptions, 5);
    assert.equal(plain.body.subscriptions_list, undefined);
    const subs = await get(app, "/subsz?subs=1");
    assert.equal(subs.body.total, 5);
    assert.deepEqual((subs.body.subscriptions_list as Json[]).map((s) => s.subject).sort(), ["a.>", "b", "c", "d", "e"]);
    const test = await get(app, "/subsz?subs=1&test=a.x.y");
    assert.deepEqual((test.body.subscriptions_list as Json[]).map((s) => s.subject), ["a.>"]);
    const none = await get(app, "/subsz?subs=1&test=zzz");
    assert.equal(none.body.total, 0);
    const alias = await get(app, "/subscriptionsz");
    assert.equal(alias.status, 200);
  });

  it("/healthz is ok while running; other endpoints answer; unknown paths are 404", async () => {
    const h = await get(app, "/healthz");
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: "ok" });
    for (const p of ["/routez", "/gatewayz", "/leafz", "/accountz", "/jsz", "/"]) {
      assert.equal((await get(app, p)).status, 200, p);
    }
    assert.equal((await get(app, "/routez")).body.num_routes, 0);
    const nf = await get(app, "/nope");
    assert.equal(nf.status, 404);
  });

  // Observed on nats-server 2.9.10 (/connz and /subsz of a server with 3 clients); Petrel differs today.
  it("parity: /connz?limit=0 and negative limit/offset fall back to the defaults (200, limit 1024, offset 0)", async () => {
    for (const q of ["limit=0", "limit=-1", "offset=-1"]) {
      const r = await get(app, `/connz?${q}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      assert.equal(r.body.limit, 1024, q);
      assert.equal(r.body.offset, 0, q);
      assert.equal(r.body.num_connections, 3, q);
    }
  });

  it("parity: /subsz?subs=1&test= must be a valid publish subject (400 otherwise)", async () => {
    const r = await get(app, "/subsz?subs=1&test=a.*");
    assert.equal(r.status, 400, r.text);
  });

  it("/healthz reports a registered health problem with 503", async () => {
    server.monitorSections.set("healthz", () => "JetStream not ready");
    try {
      const h = await get(app, "/healthz");
      assert.equal(h.status, 503);
      assert.equal(h.body.status, "unavailable");
      assert.equal(h.body.error, "JetStream not ready");
    } finally {
      server.monitorSections.delete("healthz");
    }
  });
});

describe("monitoring app: stopped server", () => {
  it("/healthz is 503 when the server is not running", async () => {
    const server = new Server(applyDefaults({ host: "127.0.0.1", port: 0 }));
    const app = createMonitorApp(server, { httpHost: "127.0.0.1", httpPort: 0 });
    const h = await get(app, "/healthz");
    assert.equal(h.status, 503);
    assert.equal(typeof h.body.error, "string");
  });
});

describe("monitoring app: accounts", () => {
  const { transport } = createMemoryTransport();
  const server = new Server(applyDefaults({ host: "127.0.0.1", port: 0, server_name: "acc-test" }), { transport });
  const app = createMonitorApp(server, { httpHost: "127.0.0.1", httpPort: 8222 });
  const conns: RawConn[] = [];

  before(async () => {
    await server.start();
    const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
    conns.push(c);
    await c.waitFor("INFO");
    c.write(`CONNECT {"verbose":false,"pedantic":false,"name":"one"}\r\nSUB x 1\r\nPUB x 2\r\nhi\r\n`);
    await sync(c);
  });
  after(async () => {
    for (const c of conns) c.close();
    await server.shutdown();
  });

  it("/accountz lists the accounts; ?acc= gives one account's detail; an unknown one is a 400", async () => {
    const list = await get(app, "/accountz");
    assert.equal(list.body.system_account, "$SYS");
    assert.deepEqual((list.body.accounts as string[]).sort(), ["$G", "$SYS"]);
    const g = await get(app, "/accountz?acc=$G");
    const d = g.body.account_detail as Json;
    assert.equal(d.account_name, "$G");
    assert.equal(d.client_connections, 1);
    assert.equal(d.subscriptions, 1);
    assert.equal(d.is_system, undefined);
    assert.equal(((await get(app, "/accountz?acc=$SYS")).body.account_detail as Json).is_system, true);
    const missing = await get(app, "/accountz?acc=NOPE");
    assert.equal(missing.status, 400);
    assert.equal(missing.text, "Account NOPE does not exist");
  });

  it("/accstatz reports accounts with connections, all with unused=1", async () => {
    const used = (await get(app, "/accstatz")).body.account_statz as Json[];
    assert.deepEqual(used.map((a) => a.acc), ["$G"]);
    assert.deepEqual(used[0].sent, { msgs: 1, bytes: 2 });
    assert.deepEqual(used[0].received, { msgs: 1, bytes: 2 });
    assert.equal(used[0].conns, 1);
    const all = (await get(app, "/accstatz?unused=1")).body.account_statz as Json[];
    assert.deepEqual(all.map((a) => a.acc).sort(), ["$G", "$SYS"]);
  });

  it("acc= filters /connz and /subsz; unknown accounts answer as nats-server does", async () => {
    const connz = await get(app, "/connz?acc=$G");
    assert.equal(connz.body.num_connections, 1);
    const none = await get(app, "/connz?acc=NOPE");
    assert.equal(none.body.server_id, "");
    assert.equal(none.body.connections, null);
    const sys = await get(app, "/connz?acc=$SYS");
    assert.deepEqual(sys.body.connections, []);
    const subsz = await get(app, "/subsz?acc=$G&subs=1");
    assert.deepEqual((subsz.body.subscriptions_list as Json[]).map((s) => [s.account, s.subject]), [["$G", "x"]]);
    const unknown = await get(app, "/subsz?acc=NOPE");
    assert.equal(unknown.body.server_id, undefined);
    assert.equal(unknown.body.num_subscriptions, 0);
    const withAuth = await get(app, "/connz?auth=1");
    assert.equal((withAuth.body.connections as Json[])[0].account, "$G");
    assert.equal(((await get(app, "/connz")).body.connections as Json[])[0].account, undefined);
  });
});

describe("monitoring app: closed connections and user filter", () => {
  const { transport } = createMemoryTransport();
  const server = new Server(applyDefaults({ host: "127.0.0.1", port: 0, server_name: "closed-test" }), { transport });
  const app = createMonitorApp(server, { httpHost: "127.0.0.1", httpPort: 8222 });

  before(async () => {
    await server.start();
  });
  after(async () => {
    await server.shutdown();
  });

  it("/connz?state=closed lists a connection that left, with stop and reason; sort=stop needs closed", async () => {
    const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
    await c.waitFor("INFO");
    c.write(`CONNECT {"verbose":false,"pedantic":false,"name":"leaver"}\r\nSUB gone 1\r\n`);
    await sync(c);
    const open = await get(app, "/connz");
    assert.deepEqual((open.body.connections as Json[]).map((x) => x.name), ["leaver"]);
    c.close();
    let closed: Json[] = [];
    for (let i = 0; i < 100 && closed.length === 0; i++) {
      closed = (await get(app, "/connz?state=closed&subs=1")).body.connections as Json[];
      if (closed.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(closed.length, 1);
    assert.equal(closed[0].name, "leaver");
    assert.equal(typeof closed[0].stop, "string");
    assert.equal(typeof closed[0].reason, "string");
    assert.deepEqual(closed[0].subscriptions_list, ["gone"]);
    assert.deepEqual((await get(app, "/connz")).body.connections, []);
    assert.equal(((await get(app, "/connz?state=all")).body.connections as Json[]).length, 1);
    const bySort = await get(app, "/connz?sort=stop");
    assert.equal(bySort.status, 400);
    assert.equal(bySort.text, "sort by stop only valid on closed connections");
    assert.equal((await get(app, "/connz?state=closed&sort=stop")).status, 200);
    assert.equal((await get(app, "/connz?state=bogus")).status, 400);
    assert.deepEqual((await get(app, "/connz?state=closed&user=nobody")).body.connections, []);
  });

  it("keeps only the most recent closed connections, oldest first", async () => {
    const ring = new ClosedConnections(2);
    server.connectionListeners.add((c, up) => ring.connectionEvent(c, up, Date.now()));
    for (const name of ["c1", "c2", "c3"]) {
      const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
      await c.waitFor("INFO");
      c.write(`CONNECT {"verbose":false,"pedantic":false,"name":"${name}"}\r\n`);
      await sync(c);
      c.close();
      for (let i = 0; i < 100 && !ring.list().some((x) => x.name === name); i++) await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(ring.list().map((x) => x.name), ["c2", "c3"]);
  });
});
