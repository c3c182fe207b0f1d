// The dashboard through the serverless entry's fetch application (what serve.ts exports): the page, the event
// stream, and a WebSocket client showing in it, all on the one port; stopping the broker ends the stream.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { wsconnect } from "@nats-io/nats-core";
import { applyDefaults } from "../../src/config/normalize.ts";
import type { Listener } from "../../src/transport/types.ts";
import type { Tick } from "../../src/dashboard/types.ts";
import { serveFetchApp } from "../../transports/ws.ts";
import { createServerlessBroker, type ServerlessBroker } from "../../transports/ws_serverless.ts";
import { openSse } from "./sse.ts";

describe("dashboard on the serverless fetch application", () => {
  let broker: ServerlessBroker;
  let http: Listener;
  before(async () => {
    broker = await createServerlessBroker(applyDefaults({ host: "127.0.0.1", port: -1, server_name: "edge" }));
    http = await serveFetchApp(broker.app, {
      host: "127.0.0.1",
      port: 0,
      // Bun.serve's idle timeout is this in whole seconds (ws_bun.ts): 1 s, cut at the next 4 s tick of its wheel.
      handshake_timeout: 1000,
      no_tls: true,
      same_origin: false,
      allowed_origins: [],
      compression: false,
      max_message: 1 << 23,
      max_pending: 1 << 26,
    });
  });
  after(async () => {
    await broker?.stop();
    await http?.close();
  });

  // On Bun the stream was cut by the HTTP server's idle timeout 2-6 s after it opened (ECONNRESET at the client),
  // whatever it wrote meanwhile, and at times before its first chunk was read (the next test's "0 events seen").
  it("keeps the live stream open past the HTTP server's idle timeout", { timeout: 30_000 }, async () => {
    const s = await openSse(`http://127.0.0.1:${http.port}/dashboard/events?tab=overview`);
    try {
      // A tick a second: the sixth comes well after the cut (at most 4 s after the first chunk).
      const ticks = () => s.events.filter((e) => e.event === "tick").length;
      await s.waitFor((e) => e.event === "tick" && ticks() >= 6, 20_000);
    } finally {
      await s.close();
    }
  });

  it("serves the page and a live stream that lists a WebSocket client", async () => {
    const base = `http://127.0.0.1:${http.port}`;
    const html = await (await fetch(`${base}/`)).text();
    assert.match(html, /<title>Petrel edge<\/title>/);
    assert.match(html, /<a href="\/varz">\/varz<\/a>/);
    const nc = await wsconnect({ servers: `ws://127.0.0.1:${http.port}`, reconnect: false, timeout: 5000, name: "edge-dash" });
    const s = await openSse(`${base}/dashboard/events?tab=connections`);
    try {
      const e = await s.waitFor((x) => x.event === "tick");
      const t = JSON.parse(e.data) as Tick;
      assert.equal(t.server.name, "edge");
      assert.deepEqual(t.connections?.rows.map((r) => r.name), ["edge-dash"]);
      await nc.close();
      await broker.stop();
      await s.ended;
    } finally {
      await s.close();
      await nc.close().catch(() => {});
    }
  });
});
