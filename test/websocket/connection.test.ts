// WsConnection's rules against a fake native socket: the same code runs under Bun's and Deno's servers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type NativeSocket, WsConnection } from "../../src/websocket/connection.ts";
import type { ConnHandler } from "../../src/transport/types.ts";
import { websocketVarz, wsConnectUrl } from "../../src/websocket/varz.ts";
import { resolveWebSocketSettings } from "../../src/websocket/settings.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";

const info = { kind: "ws", remoteHost: "127.0.0.1", remotePort: 5000, localHost: "127.0.0.1", localPort: 8080 };

function fake(drainEvents: boolean) {
  const log: string[] = [];
  let buffered = 0;
  const socket: NativeSocket = {
    send: (d) => void (buffered += d.byteLength),
    bufferedAmount: () => buffered,
    close: (code, reason) => void log.push(`close ${code} ${reason}`),
    terminate: () => void log.push("terminate"),
    drainEvents,
  };
  const events: string[] = [];
  const handler: ConnHandler = {
    onData: (d) => void events.push(`data ${new TextDecoder().decode(d)}`),
    onDrain: () => void events.push("drain"),
    onClose: (e) => void events.push(`close ${e?.message ?? "clean"}`),
  };
  const conn = new WsConnection(info, socket, { max_message: 100, max_pending: 1 << 20 });
  conn.open(() => handler);
  return { conn, log, events, setBuffered: (n: number) => void (buffered = n) };
}

describe("WsConnection", () => {
  it("passes binary messages to the core and reports a peer close once", () => {
    const f = fake(true);
    f.conn.message(new TextEncoder().encode("PING\r\n"));
    f.conn.closed(1006, "");
    f.conn.closed(1006, "");
    f.conn.message(new TextEncoder().encode("late"));
    assert.deepEqual(f.events, ["data PING\r\n", "close websocket closed with 1006"]);
  });

  it("closes text frames with 1003 and oversized messages with 1009", () => {
    const t = fake(true);
    t.conn.message("PING\r\n");
    assert.match(t.log[0], /^close 1003 text frames are not supported/);
    assert.equal(t.events.length, 1);
    const b = fake(true);
    b.conn.message(new Uint8Array(101));
    assert.match(b.log[0], /^close 1009 message too big/);
    assert.match(b.events[0], /close .*1009/);
  });

  it("polls a socket without drain events on a light timer (on Deno a runtime setTimeout loads Node's timer layer)", async () => {
    const f = fake(false);
    const before = lightTimersPending();
    assert.equal(f.conn.write(new Uint8Array(300 * 1024)), false);
    assert.equal(lightTimersPending(), before + 1, "the poll is one light timer");
    let drained: () => void = () => {};
    const told = new Promise<void>((r) => (drained = r));
    f.conn.open(() => ({ onData: () => {}, onDrain: () => drained(), onClose: () => {} }));
    f.setBuffered(0);
    await told;
    assert.equal(lightTimersPending(), before, "no poll left once drained");
  });

  it("asks the core to wait above the high-water mark and signals drain (event or polling)", async () => {
    for (const drainEvents of [true, false]) {
      const f = fake(drainEvents);
      assert.equal(f.conn.write(new Uint8Array(1000)), true);
      assert.equal(f.conn.write(new Uint8Array(300 * 1024)), false);
      f.setBuffered(0);
      if (drainEvents) f.conn.drained();
      else await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(f.events, ["drain"], `drainEvents=${drainEvents}`);
    }
  });

  it("keeps watching after a partial drain event until everything is out", async () => {
    const f = fake(true);
    f.conn.write(new Uint8Array(300 * 1024));
    f.setBuffered(1000);
    f.conn.drained();
    assert.deepEqual(f.events, []);
    f.setBuffered(0);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(f.events, ["drain"]);
  });

  it("closes with 1011 when the core throws, instead of taking the process down", () => {
    const log: string[] = [];
    const socket: NativeSocket = {
      send: () => {},
      bufferedAmount: () => 0,
      close: (code) => void log.push(`close ${code}`),
      terminate: () => void log.push("terminate"),
      drainEvents: true,
    };
    const closes: string[] = [];
    const conn = new WsConnection(info, socket, { max_message: 100, max_pending: 100 });
    conn.open(() => ({
      onData: () => {
        throw new Error("boom");
      },
      onDrain: () => {},
      onClose: (e) => void closes.push(e?.message ?? ""),
    }));
    conn.message(new Uint8Array(1));
    assert.deepEqual(log, ["close 1011"]);
    assert.match(closes[0], /1011: internal error: boom/);
  });

  it("drops the connection when max_pending is exceeded, and terminates a stuck close", () => {
    const f = fake(true);
    f.conn.write(new Uint8Array((1 << 20) + 1));
    assert.deepEqual(f.log, ["terminate"]);
    assert.match(f.events[0], /slow consumer/);
    assert.equal(f.conn.write(new Uint8Array(1)), false);

    const g = fake(true);
    g.conn.write(new Uint8Array(300 * 1024));
    g.conn.close();
    assert.deepEqual(g.log, ["terminate"]);
    assert.deepEqual(g.events, ["close clean"]);

    const h = fake(true);
    h.conn.close();
    assert.deepEqual(h.log, ["close 1000 "]);
  });
});

describe("websocket monitoring helpers", () => {
  it("shapes the /varz section like nats-server and builds ws_connect_urls entries", () => {
    const r = resolveWebSocketSettings({
      host: "0.0.0.0",
      port: -1,
      no_tls: true,
      allowed_origins: ["http://a.example"],
    });
    assert.ok(r.ok);
    assert.deepEqual(websocketVarz(r.value, 8080), {
      host: "0.0.0.0",
      port: 8080,
      no_tls: true,
      allowed_origins: ["http://a.example"],
    });
    const slow = { ...r.value, handshake_timeout: 5000, compression: true, same_origin: true };
    assert.deepEqual(websocketVarz(slow, 1), {
      host: "0.0.0.0",
      port: 1,
      handshake_timeout: 5_000_000_000,
      no_tls: true,
      same_origin: true,
      allowed_origins: ["http://a.example"],
      compression: true,
    });
    assert.equal(wsConnectUrl(r.value, 8080, "10.0.0.1"), "10.0.0.1:8080");
    assert.equal(wsConnectUrl({ ...r.value, advertise: "ws.example:443" }, 8080, "x"), "ws.example:443");
    assert.equal(wsConnectUrl({ ...r.value, host: "::1" }, 8080, "x"), "[::1]:8080");
  });
});
