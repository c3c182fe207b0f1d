// End to end on Petrel's core: WebSocket clients (the official wsconnect and raw frames) and TCP clients
// share subjects, queue groups and request/reply; monitoring lists and counts the WebSocket clients.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { Server } from "../../src/server/server.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { createMonitorApp } from "../../src/monitor/app.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { startWebSocket, type WebSocketListener } from "../../transports/ws_server.ts";
import { ownWsConnectUrl } from "../../src/websocket/varz.ts";
import { closeInfo, OP_BINARY, OP_CLOSE, OP_TEXT, rawWebSocket } from "./raw_ws.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

const te = new TextEncoder();

describe("Petrel over WebSocket", () => {
  let server: Server;
  let ws: WebSocketListener;
  let monitor: { fetch(req: Request): Response | Promise<Response> };
  const conns: NatsConnection[] = [];
  const tcpUrl = () => `nats://127.0.0.1:${server.clientPort}`;
  const wsUrl = () => `ws://127.0.0.1:${ws.port}`;
  async function json(path: string): Promise<Record<string, unknown>> {
    return await (await monitor.fetch(new Request(`http://127.0.0.1${path}`))).json() as Record<string, unknown>;
  }

  before(async () => {
    const options = applyDefaults({
      host: "127.0.0.1",
      port: -1,
      max_pending: 1024 * 1024,
      websocket: {
        host: "127.0.0.1",
        port: -1,
        no_tls: true,
        compression: true,
        same_origin: false,
        allowed_origins: [],
        handshake_timeout: 2000,
      },
    });
    server = new Server(options, { transport: tcpTransport });
    await server.start();
    const l = await startWebSocket(server);
    assert.ok(l, "websocket listener started");
    ws = l;
    monitor = createMonitorApp(server, { httpHost: "127.0.0.1", httpPort: 0 });
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await server?.shutdown();
  });

  it("shares subjects, queue groups and request/reply between WebSocket and TCP clients", async () => {
    const wnc = await wsconnect({ servers: wsUrl(), reconnect: false, timeout: 5000, name: "browser-like" });
    const tnc = await connect({ servers: tcpUrl(), reconnect: false, timeout: 5000 });
    conns.push(wnc, tnc);
    const wsGot: string[] = [];
    wnc.subscribe("room.>", { callback: (_e, m) => void wsGot.push(`${m.subject}:${m.string()}`) });
    wnc.subscribe("svc.ws", { callback: (_e, m) => void m.respond(te.encode(`ws:${m.string()}`)) });
    tnc.subscribe("svc.tcp", { callback: (_e, m) => void m.respond(te.encode(`tcp:${m.string()}`)) });
    let qWs = 0, qTcp = 0;
    wnc.subscribe("work", { queue: "q", callback: () => void qWs++ });
    tnc.subscribe("work", { queue: "q", callback: () => void qTcp++ });
    await wnc.flush();
    await tnc.flush();

    tnc.publish("room.a", "hello");
    assert.equal((await wnc.request("svc.tcp", "1", { timeout: 3000 })).string(), "tcp:1");
    assert.equal((await tnc.request("svc.ws", "2", { timeout: 3000 })).string(), "ws:2");
    for (let i = 0; i < 200; i++) (i % 2 ? wnc : tnc).publish("work", "x");
    await wnc.flush();
    await tnc.flush();
    await wnc.flush();
    assert.deepEqual(wsGot, ["room.a:hello"]);
    assert.equal(qWs + qTcp, 200, "each queued message delivered exactly once");
    assert.ok(qWs > 0 && qTcp > 0, `both members served (${qWs}/${qTcp})`);
  });

  it("lists WebSocket clients in /connz and reports the websocket section in /varz", async () => {
    const connz = await json("/connz?subs=1");
    const list = connz.connections as Array<Record<string, unknown>>;
    const mine = list.find((c) => c.name === "browser-like");
    assert.ok(mine, JSON.stringify(list));
    assert.equal(mine.type, "websocket");
    assert.equal(mine.ip, "127.0.0.1");
    const varz = await json("/varz");
    assert.deepEqual(varz.websocket, { host: "127.0.0.1", port: ws.port, no_tls: true, compression: true });
    assert.ok((varz.connections as number) >= 2);
  });

  it("speaks the client protocol in binary frames and refuses text frames without disturbing others", async () => {
    const raw = await rawWebSocket(ws.port);
    const info = JSON.parse((await raw.readText(/^INFO .*\r\n/)).slice(5)) as Record<string, unknown>;
    assert.equal(info.headers, true);
    assert.equal(info.client_ip, "127.0.0.1");
    raw.sendFrame(OP_BINARY, 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB t 1\r\nPING\r\n');
    await raw.readText(/PONG\r\n/);
    const bad = await rawWebSocket(ws.port);
    await bad.readText(/^INFO /);
    bad.sendFrame(OP_TEXT, "PING\r\n");
    const f = await bad.nextFrame();
    assert.equal(f.opcode, OP_CLOSE);
    assert.equal(closeInfo(f).code, 1003);
    bad.destroy();
    const tnc = await connect({ servers: tcpUrl(), reconnect: false, timeout: 5000 });
    conns.push(tnc);
    tnc.publish("t", "still delivered");
    await tnc.flush();
    assert.match(await raw.readText(/still delivered\r\n/), /^MSG t 1 15\r\nstill delivered\r\n/);
    raw.destroy();
  });

  it("carries ws_connect_urls in INFO once the cluster layer sets them", async () => {
    assert.equal(ws.connectUrl, `127.0.0.1:${ws.port}`);
    assert.equal(ownWsConnectUrl(server), ws.connectUrl, "recorded for the cluster layer");
    const before = await rawWebSocket(ws.port);
    const info0 = JSON.parse((await before.readText(/^INFO .*\r\n/)).slice(5)) as Record<string, unknown>;
    assert.equal(info0.ws_connect_urls, undefined, "a single server sends none, as nats-server");
    before.destroy();
    server.wsConnectUrls = [ws.connectUrl, "10.0.0.2:8080"];
    try {
      const raw = await rawWebSocket(ws.port);
      const info = JSON.parse((await raw.readText(/^INFO .*\r\n/)).slice(5)) as Record<string, unknown>;
      assert.deepEqual(info.ws_connect_urls, [ws.connectUrl, "10.0.0.2:8080"]);
      raw.destroy();
    } finally {
      server.wsConnectUrls = [];
    }
  });

  it("drops a WebSocket client that stops reading, and only that one", async () => {
    const slow = await rawWebSocket(ws.port);
    await slow.readText(/^INFO /);
    slow.sendFrame(OP_BINARY, 'CONNECT {"verbose":false,"pedantic":false,"name":"slow"}\r\nSUB flood 1\r\nPING\r\n');
    await slow.readText(/PONG\r\n/);
    slow.pause();
    const wnc = await wsconnect({ servers: wsUrl(), reconnect: false, timeout: 5000 });
    conns.push(wnc);
    let seen = 0;
    wnc.subscribe("flood", { callback: () => void seen++ });
    await wnc.flush();
    const tnc = await connect({ servers: tcpUrl(), reconnect: false, timeout: 5000 });
    conns.push(tnc);
    const chunk = new Uint8Array(32 * 1024);
    let sent = 0;
    let got!: () => void;
    const all = new Promise<void>((r) => (got = r));
    wnc.subscribe("marker", { callback: () => got() });
    await wnc.flush();
    // Publish 1 MiB bursts (max_pending is 1 MiB) until the server gives up on the client that reads nothing;
    // the kernel's socket buffers absorb a few MiB first. Bounded by bytes, not by the clock: a loaded machine
    // only makes it slower.
    let dropped = false;
    for (let burst = 0; burst < 128 && !dropped; burst++) {
      for (let i = 0; i < 32; i++) tnc.publish("flood", chunk);
      sent += 32;
      await tnc.flush();
      const list = (await json("/connz")).connections as Array<Record<string, unknown>>;
      dropped = !list.some((c) => c.name === "slow");
    }
    assert.ok(dropped, "slow client dropped");
    // The marker follows the flood on the same publisher and the same server: once it arrives, every flood
    // message before it has been delivered to the reading client or is lost.
    tnc.publish("marker");
    await tnc.flush();
    await all;
    assert.equal(seen, sent, "the reading WebSocket client got everything");
    slow.destroy();
  });
});

describe("the websocket extension in a whole broker (startPetrel)", () => {
  it("starts with the broker, appears in the ports file data, and stops with it", async () => {
    const { startPetrel } = await import("../../mod.ts");
    const { webSocketExtension } = await import("../../transports/ws_extension.ts");
    const petrel = await startPetrel({
      options: {
        host: "127.0.0.1",
        port: -1,
        websocket: {
          host: "127.0.0.1",
          port: -1,
          no_tls: true,
          same_origin: false,
          allowed_origins: [],
          compression: false,
          handshake_timeout: 2000,
        },
      },
      extensions: [webSocketExtension()],
    });
    let port = 0;
    try {
      const urls = petrel.ports().websocket ?? [];
      assert.equal(urls.length, 1);
      assert.match(urls[0], /^ws:\/\/127\.0\.0\.1:\d+$/);
      port = Number(new URL(urls[0]).port);
      const nc = await wsconnect({ servers: urls[0], reconnect: false, timeout: 5000 });
      const sub = nc.subscribe("ext", { max: 1 });
      nc.publish("ext", "ok");
      for await (const m of sub) assert.equal(m.string(), "ok");
      await nc.close();
    } finally {
      await petrel.stop();
    }
    await assert.rejects(
      wsconnect({ servers: `ws://127.0.0.1:${port}`, reconnect: false, timeout: 1000 }),
      "the listener is closed with the broker",
    );
  });
});
