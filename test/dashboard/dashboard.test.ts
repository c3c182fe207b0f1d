// The dashboard's routes and its event stream, against a real Petrel process over real HTTP, with the
// official client making the connections, streams and KV entries it shows.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { closeAll, connectTo } from "../helpers/nats.ts";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import type { BrowsedMsg, Hello, Tick } from "../../src/dashboard/types.ts";
import { CLIENT_JS } from "../../src/dashboard/client_bundle.ts";
import { BUNDLE_MODULE, buildClient, bundleModule } from "./bundle.ts";
import { openSse, type SseEvent, type SseStream } from "./sse.ts";

const tick = (e: SseEvent) => JSON.parse(e.data) as Tick;
const isTick = (pred: (t: Tick) => boolean) => (e: SseEvent) => e.event === "tick" && pred(tick(e));

describe("dashboard on a running server", () => {
  let server: RunningServer;
  let base: string;
  const conns: NatsConnection[] = [];
  const streams: SseStream[] = [];

  async function sse(query: string): Promise<SseStream> {
    const s = await openSse(`${base}/dashboard/events${query}`);
    streams.push(s);
    return s;
  }

  before(async () => {
    server = await startServer("petrel", { monitor: true, jetstream: true, args: ["-n", "dash-a"] });
    base = server.monitorUrl!;
    for (const name of ["alpha-one", "beta-two", "gamma-three"]) conns.push(await connectTo(server, { name }));
    conns[0].subscribe("orders.>", { callback: () => {} });
    conns[1].subscribe("telemetry.cpu", { queue: "workers", callback: () => {} });
    await Promise.all(conns.map((c) => c.flush()));
    const jsm = await jetstreamManager(conns[2]);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.*"] });
    await jsm.consumers.add("ORDERS", { durable_name: "shipper", ack_policy: "explicit" });
    const js = jetstream(conns[2]);
    await js.publish("orders.new", "first order");
    await js.publish("orders.paid", "second order");
    await js.publish("orders.new", new Uint8Array([0xff, 0x00, 0xfe]));
    const kv = await new Kvm(conns[2]).create("settings", { history: 5 });
    await kv.put("color", "blue");
    await kv.put("color", "green");
    await kv.put("size", "large");
    await kv.delete("size");
  }, { timeout: 60_000 });

  after(async () => {
    for (const s of streams) await s.close();
    await closeAll(conns);
    await server?.stop();
  });

  it("serves the page at / with the endpoint links, and its script and style, with a strict CSP", async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    const html = await res.text();
    assert.match(html, /<title>Petrel dash-a<\/title>/);
    for (const e of ["varz", "connz", "routez", "gatewayz", "leafz", "subsz", "accountz", "jsz", "healthz"]) {
      assert.ok(html.includes(`<a href="/${e}">/${e}</a>`), `link to /${e}`);
    }
    assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, "")), "no external URL in the page");
    const js = await fetch(`${base}/dashboard/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.equal(await js.text(), CLIENT_JS);
    const css = await fetch(`${base}/dashboard/app.css`);
    assert.match(css.headers.get("content-type") ?? "", /text\/css/);
    assert.match(await css.text(), /prefers-color-scheme/);
  });

  it("streams hello, then a frame at once, then one a tick; rates follow published messages", async () => {
    const s = await sse("");
    assert.equal(s.status, 200);
    assert.match(s.headers.get("content-type") ?? "", /^text\/event-stream/);
    const hello = await s.waitFor((e) => e.event === "hello");
    assert.equal(s.events[0].event, "hello");
    const h = JSON.parse(hello.data) as Hello;
    assert.equal(h.browse, true);
    assert.equal(h.interval_ms, 1000);
    const first = tick(await s.waitFor((e) => e.event === "tick"));
    assert.equal(first.server.name, "dash-a");
    assert.equal(first.topology.nodes[0].kind, "self");
    assert.equal(first.js.enabled, true);
    assert.ok(first.js.streams >= 2, "ORDERS and KV_settings");
    assert.ok(first.accounts.includes("$G"));
    assert.equal(first.connections, undefined, "the overview carries no tables");
    const before = first.server.in_msgs;
    // Publish a burst; some later frame's rate must show it.
    for (let i = 0; i < 200; i++) conns[0].publish("rate.test", "x");
    await conns[0].flush();
    const withRate = tick(await s.waitFor(isTick((t) => (t.rate?.in_msgs ?? 0) > 0 && t.server.in_msgs >= before + 200)));
    assert.ok(withRate.rate!.in_bytes > 0);
    assert.ok(withRate.rate!.connections >= 3);
  });

  it("pages, sorts and searches connections server-side", async () => {
    const all = await sse("?tab=connections&sort=name&dir=asc&limit=2");
    const t = tick(await all.waitFor(isTick((x) => (x.connections?.total ?? 0) >= 3)));
    const page = t.connections!;
    assert.equal(page.limit, 2);
    assert.equal(page.rows.length, 2);
    const names = page.rows.map((r) => r.name);
    assert.deepEqual(names, [...names].sort());
    assert.equal(page.rows[0].account, "$G");

    const found = await sse("?tab=connections&q=orders");
    const f = tick(await found.waitFor(isTick((x) => x.connections !== undefined))).connections!;
    assert.deepEqual(f.rows.map((r) => r.name), ["alpha-one"], "search matches a subscription's subject");
    assert.deepEqual(f.rows[0].subjects, ["orders.>"]);

    const second = await sse("?tab=connections&sort=name&dir=asc&limit=1&offset=1");
    const p2 = tick(await second.waitFor(isTick((x) => x.connections !== undefined))).connections!;
    assert.equal(p2.offset, 1);
    assert.equal(p2.rows[0].name, names[1]);
  });

  it("lists subscriptions with queue groups, searchable", async () => {
    const s = await sse("?tab=subscriptions&q=telemetry");
    const t = tick(await s.waitFor(isTick((x) => (x.subscriptions?.total ?? 0) > 0))).subscriptions!;
    assert.equal(t.total, 1);
    assert.equal(t.rows[0].subject, "telemetry.cpu");
    assert.equal(t.rows[0].qgroup, "workers");
  });

  it("shows streams with state and consumers, and KV buckets as such", async () => {
    const s = await sse("?tab=jetstream&sort=name&dir=asc");
    const t = tick(await s.waitFor(isTick((x) => (x.streams?.total ?? 0) >= 2))).streams!;
    const orders = t.rows.find((r) => r.name === "ORDERS");
    assert.ok(orders);
    assert.equal(orders.messages, 3);
    assert.equal(orders.first_seq, 1);
    assert.equal(orders.last_seq, 3);
    assert.equal(orders.storage, "file");
    assert.deepEqual(orders.subjects, ["orders.*"]);
    assert.equal(orders.consumers.length, 1);
    assert.equal(orders.consumers[0].name, "shipper");
    assert.equal(orders.consumers[0].num_pending, 3);
    const kv = t.rows.find((r) => r.name === "KV_settings");
    assert.equal(kv?.kv, "settings");

    const named = await sse("?tab=browser");
    const b = tick(await named.waitFor(isTick((x) => x.stream_names !== undefined)));
    assert.deepEqual(b.stream_names, [{ name: "KV_settings", kv: "settings" }, { name: "ORDERS" }]);
  });

  it("rejects a bad view with a 400 that names the parameter", async () => {
    for (const [q, name] of [["tab=secrets", "tab"], ["limit=0", "limit"], ["offset=-3", "offset"], ["dir=up", "dir"]]) {
      const res = await fetch(`${base}/dashboard/events?${q}`);
      assert.equal(res.status, 400);
      assert.match(await res.text(), new RegExp(`parameter ${name}`));
    }
  });

  it("browses stream messages by sequence and subject, text and binary", async () => {
    const all = await fetch(`${base}/dashboard/api/streams/ORDERS/messages?seq=1`);
    assert.equal(all.status, 200);
    const msgs = await all.json() as BrowsedMsg[];
    assert.deepEqual(msgs.map((m) => [m.seq, m.subject]), [[1, "orders.new"], [2, "orders.paid"], [3, "orders.new"]]);
    assert.equal(msgs[0].data, "first order");
    assert.equal(msgs[2].binary, true);
    assert.equal(msgs[2].data, btoa(String.fromCharCode(0xff, 0x00, 0xfe)));

    const from2 = await (await fetch(`${base}/dashboard/api/streams/ORDERS/messages?seq=2&subject=orders.new`)).json() as BrowsedMsg[];
    assert.deepEqual(from2.map((m) => m.seq), [3]);
    const one = await (await fetch(`${base}/dashboard/api/streams/ORDERS/messages?seq=1&limit=1`)).json() as BrowsedMsg[];
    assert.equal(one.length, 1);
    const none = await (await fetch(`${base}/dashboard/api/streams/ORDERS/messages?seq=99`)).json() as BrowsedMsg[];
    assert.deepEqual(none, []);

    const missing = await fetch(`${base}/dashboard/api/streams/NOPE/messages`);
    assert.equal(missing.status, 404);
    assert.match((await missing.json() as { error: string }).error, /stream not found/);
    const bad = await fetch(`${base}/dashboard/api/streams/ORDERS/messages?subject=${encodeURIComponent("a..b")}`);
    assert.equal(bad.status, 400);
    const badSeq = await fetch(`${base}/dashboard/api/streams/ORDERS/messages?seq=x`);
    assert.equal(badSeq.status, 400);
  });

  it("browses a KV bucket's keys, values and history", async () => {
    const keys = await (await fetch(`${base}/dashboard/api/kv/settings/keys`)).json() as { keys: Array<{ key: string; revisions: number }>; total: number };
    assert.deepEqual(keys.keys.map((k) => k.key), ["color", "size"]);
    assert.equal(keys.keys[0].revisions, 2);
    const filtered = await (await fetch(`${base}/dashboard/api/kv/settings/keys?q=SIZ`)).json() as { keys: Array<{ key: string }> };
    assert.deepEqual(filtered.keys.map((k) => k.key), ["size"]);
    const color = await (await fetch(`${base}/dashboard/api/kv/settings/history?key=color`)).json() as BrowsedMsg[];
    assert.deepEqual(color.map((m) => m.data), ["blue", "green"]);
    const size = await (await fetch(`${base}/dashboard/api/kv/settings/history?key=size`)).json() as BrowsedMsg[];
    assert.deepEqual(size.map((m) => m.op ?? "PUT"), ["PUT", "DEL"]);
    assert.equal((await fetch(`${base}/dashboard/api/kv/settings/history?key=..`)).status, 400);
    assert.equal((await fetch(`${base}/dashboard/api/kv/no%20such/keys`)).status, 400);
    assert.equal((await fetch(`${base}/dashboard/api/kv/absent/keys`)).status, 404);
  });

  it("accepts only GET: the dashboard changes nothing", async () => {
    for (const path of ["/dashboard/api/streams/ORDERS/messages", "/dashboard/api/kv/settings/keys", "/dashboard/events", "/"]) {
      const res = await fetch(`${base}${path}`, { method: "POST", body: "{}" });
      assert.equal(res.status, 404, `POST ${path}`);
      await res.body?.cancel();
    }
  });

  it("ends open streams when the server shuts down", async () => {
    const s = await sse("");
    await s.waitFor((e) => e.event === "tick");
    await server.stop();
    await s.ended;
    // Ended by itself, not by stop()'s SIGKILL after its 5 s grace (Deno reports a SIGTERM exit as the signal).
    assert.ok([0, "SIGTERM"].includes(await server.exited), server.logs());
  });
});

describe("dashboard on a server that requires credentials", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer("petrel", { monitor: true, jetstream: true, args: ["--user", "u", "--pass", "p"] });
  }, { timeout: 30_000 });
  after(async () => {
    await server?.stop();
  });

  it("keeps the live view but turns the message browser off", async () => {
    const s = await openSse(`${server.monitorUrl}/dashboard/events`);
    try {
      const hello = JSON.parse((await s.waitFor((e) => e.event === "hello")).data) as Hello;
      assert.equal(hello.browse, false);
      const t = tick(await s.waitFor((e) => e.event === "tick"));
      assert.equal(t.server.auth_required, true);
    } finally {
      await s.close();
    }
    for (const path of ["/dashboard/api/streams/ANY/messages", "/dashboard/api/kv/b/keys", "/dashboard/api/kv/b/history?key=k"]) {
      const res = await fetch(`${server.monitorUrl}${path}`);
      assert.equal(res.status, 403, path);
      assert.match((await res.json() as { error: string }).error, /requires client credentials/);
    }
  });
});

describe("dashboard on a server with accounts", () => {
  let server: RunningServer;
  const conns: NatsConnection[] = [];
  before(async () => {
    server = await startServer("petrel", {
      monitor: true,
      conf: `accounts {
  APP: { users: [{ user: app, password: pw }] }
  OPS: { users: [{ user: ops, password: pw }] }
}
`,
    });
    conns.push(await connectTo(server, { user: "app", pass: "pw", name: "app-conn" }));
    conns.push(await connectTo(server, { user: "ops", pass: "pw", name: "ops-conn" }));
    conns[0].subscribe("app.orders", { callback: () => {} });
    conns[1].subscribe("ops.alerts", { callback: () => {} });
    await Promise.all(conns.map((c) => c.flush()));
  }, { timeout: 30_000 });
  after(async () => {
    await closeAll(conns);
    await server?.stop();
  });

  it("lists the accounts and filters connections and subscriptions by account", async () => {
    const s = await openSse(`${server.monitorUrl}/dashboard/events?tab=connections&acc=OPS`);
    const u = await openSse(`${server.monitorUrl}/dashboard/events?tab=subscriptions&acc=APP`);
    try {
      const t = tick(await s.waitFor((e) => e.event === "tick"));
      for (const a of ["APP", "OPS"]) assert.ok(t.accounts.includes(a), `account ${a} listed`);
      assert.deepEqual(t.connections!.rows.map((r) => [r.name, r.account, r.user]), [["ops-conn", "OPS", "ops"]]);
      const v = tick(await u.waitFor((e) => e.event === "tick"));
      assert.deepEqual(v.subscriptions!.rows.map((r) => [r.subject, r.account]), [["app.orders", "APP"]]);
    } finally {
      await s.close();
      await u.close();
    }
  });
});

describe("dashboard script bundle", () => {
  it("is the build of src/dashboard/client/ (run npm run build:dashboard after changing it)", () => {
    assert.equal(readFileSync(BUNDLE_MODULE, "utf8"), bundleModule(buildClient()));
  });
});
