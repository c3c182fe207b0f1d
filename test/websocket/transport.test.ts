// The WebSocket transport on its own (no Petrel core): the official client's wsconnect talks through it to
// nats-server's TCP port, raw clients probe framing and bad input against an echo handler.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { wsconnect } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { listenWebSocket } from "../../transports/ws.ts";
import { resolveWebSocketSettings, type WebSocketBlock, type WebSocketSettings } from "../../src/websocket/settings.ts";
import type { Listener } from "../../src/transport/types.ts";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { echo, type Recorder, tcpProxy } from "./accept.ts";
import { closeInfo, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, rawWebSocket } from "./raw_ws.ts";

const te = new TextEncoder();
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

function settings(block: WebSocketBlock = {}, patch: Partial<WebSocketSettings> = {}): WebSocketSettings {
  const r = resolveWebSocketSettings({ host: "127.0.0.1", port: 0, no_tls: true, ...block });
  if (!r.ok) throw new Error(r.error);
  return { ...r.value, ...patch };
}

describe("websocket transport with the official client (nats-server behind)", () => {
  let ns: RunningServer;
  let ws: Listener;
  let proxy: Recorder;
  before(async () => {
    ns = await startServer("nats-server");
    proxy = tcpProxy(ns.port);
    ws = await listenWebSocket(settings(), proxy.accept);
  });
  after(async () => {
    await ws?.close();
    await ns?.stop();
  });

  it("wsconnect subscribes, publishes and does request/reply with a TCP client", async () => {
    const wnc = await wsconnect({ servers: `ws://127.0.0.1:${ws.port}`, reconnect: false, timeout: 5000 });
    const tnc = await connect({ servers: ns.url, reconnect: false, timeout: 5000 });
    try {
      const got: string[] = [];
      wnc.subscribe("from.tcp", { callback: (_e, m) => void got.push(m.string()) });
      tnc.subscribe("svc.echo", { callback: (_e, m) => void m.respond(te.encode(`echo:${m.string()}`)) });
      const fromWs: string[] = [];
      tnc.subscribe("from.ws", { callback: (_e, m) => void fromWs.push(m.string()) });
      await wnc.flush();
      await tnc.flush();
      tnc.publish("from.tcp", "hello browser");
      wnc.publish("from.ws", "hello tcp");
      const reply = await wnc.request("svc.echo", "ping", { timeout: 3000 });
      assert.equal(reply.string(), "echo:ping");
      await wnc.flush();
      await tnc.flush();
      assert.deepEqual(got, ["hello browser"]);
      assert.deepEqual(fromWs, ["hello tcp"]);
      const info = proxy.infos.at(-1)!;
      assert.equal(info.kind, "ws");
      assert.equal(info.remoteHost, "127.0.0.1");
      assert.ok(info.remotePort > 0);
      assert.equal(info.localPort, ws.port);
    } finally {
      await wnc.close();
      await tnc.close();
    }
  });

  it("joins fragments and accepts protocol lines split across messages at any byte", async () => {
    const tnc = await connect({ servers: ns.url, reconnect: false, timeout: 5000 });
    const raw = await rawWebSocket(ws.port);
    try {
      assert.equal(raw.status, 101);
      await raw.readText(/^INFO .*\r\n/);
      const got: string[] = [];
      tnc.subscribe("frag", { callback: (_e, m) => void got.push(m.string()) });
      await tnc.flush();
      raw.sendFrame(OP_BINARY, 'CONNECT {"verbose":false}\r\n');
      const pub = te.encode("PUB frag 11\r\nhello world\r\n");
      for (let i = 1; i < pub.length; i++) {
        // One message in two fragments split at byte i ...
        raw.sendFrame(OP_BINARY, pub.subarray(0, i), false);
        raw.sendFrame(OP_CONT, pub.subarray(i), true);
        // ... and the same bytes as two separate messages split at byte i.
        raw.sendFrame(OP_BINARY, pub.subarray(0, i));
        raw.sendFrame(OP_BINARY, pub.subarray(i));
      }
      // Several operations joined in one message, in three fragments.
      const many = te.encode("PUB frag 1\r\na\r\nPUB frag 1\r\nb\r\nPING\r\n");
      raw.sendFrame(OP_BINARY, many.subarray(0, 5), false);
      raw.sendFrame(OP_CONT, many.subarray(5, 20), false);
      raw.sendFrame(OP_CONT, many.subarray(20), true);
      await raw.readText(/PONG\r\n/);
      await tnc.flush();
      const want = 2 * (pub.length - 1);
      const deadline = Date.now() + 3000;
      while (got.length < want + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got.length, want + 2);
      assert.ok(got.slice(0, want).every((s) => s === "hello world"));
      assert.deepEqual(got.slice(want), ["a", "b"]);
    } finally {
      raw.destroy();
      await tnc.close();
    }
  });
});

describe("websocket transport: bad input", () => {
  let rec: Recorder;
  let ws: Listener;
  before(async () => {
    rec = echo();
    ws = await listenWebSocket(
      settings({ same_origin: true }, { max_message: 4096, max_pending: 1024 * 1024 }),
      rec.accept,
    );
  });
  after(async () => {
    await ws?.close();
  });

  async function echoes(): Promise<void> {
    const raw = await rawWebSocket(ws.port);
    try {
      raw.sendFrame(OP_BINARY, "still here");
      assert.equal(await raw.readText(/still here/), "still here");
    } finally {
      raw.destroy();
    }
  }

  it("answers plain HTTP on the port with a 400 naming the problem", async () => {
    const res = await fetch(`http://127.0.0.1:${ws.port}/varz`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /only WebSocket connections.*Upgrade: websocket/);
  });

  it("refuses bad handshakes with HTTP errors", async () => {
    const post = await rawWebSocket(ws.port, {}, { method: "POST" });
    assert.equal(post.status, 405);
    assert.match(post.body, /request method must be GET/);
    const noKey = await rawWebSocket(ws.port, { "Sec-WebSocket-Key": "" });
    assert.equal(noKey.status, 400);
    assert.match(noKey.body, /key missing/);
    const version = await rawWebSocket(ws.port, { "Sec-WebSocket-Version": "8" });
    assert.equal(version.status, 400);
    assert.match(version.body, /invalid version/);
    const origin = await rawWebSocket(ws.port, { Origin: "http://evil.example" });
    assert.equal(origin.status, 403);
    assert.match(origin.body, /not same origin/);
    const same = await rawWebSocket(ws.port, { Origin: `http://127.0.0.1:${ws.port}` });
    assert.equal(same.status, 101);
    same.destroy();
    assert.equal(rec.infos.length, 1, "only the good handshake reached the core");
    await echoes();
  });

  it("closes a text frame with 1003 and an oversized message with 1009, nothing else disturbed", async () => {
    const bystander = await rawWebSocket(ws.port);
    const first = rec.infos.length;
    const text = await rawWebSocket(ws.port);
    text.sendFrame(OP_TEXT, "PING\r\n");
    const f1 = await text.nextFrame();
    assert.equal(f1.opcode, OP_CLOSE);
    assert.equal(closeInfo(f1).code, 1003);
    assert.match(closeInfo(f1).reason, /text frames are not supported/);
    text.destroy();

    const big = await rawWebSocket(ws.port);
    big.sendFrame(OP_BINARY, new Uint8Array(8192));
    const f2 = await big.nextFrame();
    assert.equal(f2.opcode, OP_CLOSE);
    assert.equal(closeInfo(f2).code, 1009);
    big.destroy();

    assert.match((await rec.waitClose(first))?.message ?? "", /1003/);
    assert.match((await rec.waitClose(first + 1))?.message ?? "", /too big/i);
    bystander.sendFrame(OP_BINARY, "bystander");
    assert.equal(await bystander.readText(/bystander/), "bystander");
    bystander.destroy();
  });

  it("drops a client that stops reading, once max_pending is exceeded", async () => {
    const i = rec.infos.length;
    const slow = await rawWebSocket(ws.port);
    slow.pause();
    slow.sendFrame(OP_BINARY, "FLOOD 256"); // 16 MiB towards a client that reads nothing
    assert.match((await rec.waitClose(i, 5000))?.message ?? "", /slow consumer/);
    slow.destroy();
    await echoes();
  });
});

describe("websocket transport: permessage-deflate", () => {
  let rec: Recorder;
  let ws: Listener;
  before(async () => {
    rec = echo();
    ws = await listenWebSocket(settings({ compression: true }), rec.accept);
  });
  after(async () => {
    await ws?.close();
  });

  it("negotiates compression when asked (Bun) or declines it cleanly (Deno), and data flows either way", async () => {
    const raw = await rawWebSocket(ws.port, {
      "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    });
    assert.equal(raw.status, 101);
    const ext = raw.headers["sec-websocket-extensions"] ?? "";
    if (isBun) assert.match(ext, /permessage-deflate/);
    else assert.equal(ext, "");
    raw.destroy();
    // A runtime WebSocket client (which offers the extension itself) round-trips binary data.
    const client = new WebSocket(`ws://127.0.0.1:${ws.port}`);
    client.binaryType = "arraybuffer";
    const payload = te.encode("x".repeat(10_000));
    const back = await new Promise<Uint8Array>((resolve, reject) => {
      client.onopen = () => client.send(payload);
      client.onmessage = (e) => resolve(new Uint8Array(e.data as ArrayBuffer));
      client.onerror = () => reject(new Error("client error"));
    });
    assert.deepEqual(back, payload);
    client.close();
  });
});
