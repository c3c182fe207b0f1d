// A real browser (Debian's chromium, headless, via playwright-core) loads a page served by Petrel on its
// WebSocket port, connects with the official client's wsconnect, and exchanges messages with a TCP client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Page } from "playwright-core";
import { Server } from "../../src/server/server.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import type { Listener } from "../../src/transport/types.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { startWebSocket } from "../../transports/ws_server.ts";
import { buildPageBundle, pageFallback } from "./bundle.ts";
import { launchChromium } from "./chromium.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

const te = new TextEncoder();
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

describe("browser client over WebSocket", () => {
  let server: Server;
  let ws: Listener;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let tcp: NatsConnection;

  before(async () => {
    const bundle = buildPageBundle();
    server = new Server(
      applyDefaults({
        host: "127.0.0.1",
        port: -1,
        websocket: {
          host: "127.0.0.1",
          port: -1,
          no_tls: true,
          // The page's origin is the WebSocket port itself; browsers also offer permessage-deflate.
          same_origin: true,
          allowed_origins: [],
          compression: true,
          handshake_timeout: 2000,
        },
      }),
      { transport: tcpTransport },
    );
    await server.start();
    const l = await startWebSocket(server, pageFallback(bundle));
    if (!l) throw new Error("no websocket listener");
    ws = l;
    tcp = await connect({ servers: `nats://127.0.0.1:${server.clientPort}`, reconnect: false, timeout: 5000 });
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${ws.port}/`);
    await page.waitForFunction(() => document.title === "petrel-ready", undefined, { timeout: 10_000 });
  }, { timeout: 60_000 }); // a cold chromium start on a busy 2-core machine takes seconds
  after(async () => {
    await browser?.close();
    await tcp?.close().catch(() => {});
    await server?.shutdown();
  });

  it("subscribes, publishes and does request/reply in both directions with a TCP client", async () => {
    tcp.subscribe("svc.tcp", { callback: (_e, m) => void m.respond(te.encode(`tcp:${m.string()}`)) });
    const fromBrowser: string[] = [];
    tcp.subscribe("browser.out", { callback: (_e, m) => void fromBrowser.push(m.string()) });
    await tcp.flush();

    // Same origin as the page, so same_origin: true lets the browser in.
    await page.evaluate(async (url: string) => {
      type Nc = {
        subscribe(
          s: string,
          o: { callback(e: unknown, m: { string(): string; respond(d: string): boolean }): void },
        ): void;
        flush(): Promise<void>;
      };
      const g = globalThis as unknown as {
        nats: { wsconnect(o: { servers: string; reconnect: boolean }): Promise<Nc> };
        nc: Nc;
        got: string[];
      };
      g.got = [];
      g.nc = await g.nats.wsconnect({ servers: url, reconnect: false });
      g.nc.subscribe("browser.in", { callback: (_e, m) => void g.got.push(m.string()) });
      g.nc.subscribe("svc.browser", { callback: (_e, m) => void m.respond(`browser:${m.string()}`) });
      await g.nc.flush();
    }, `ws://127.0.0.1:${ws.port}`);

    tcp.publish("browser.in", "one");
    tcp.publish("browser.in", "two");
    const answer = await tcp.request("svc.browser", "hello", { timeout: 5000 });
    assert.equal(answer.string(), "browser:hello");

    const result = await page.evaluate(async () => {
      type Nc = {
        request(s: string, d: string, o: { timeout: number }): Promise<{ string(): string }>;
        publish(s: string, d: string): void;
        flush(): Promise<void>;
        close(): Promise<void>;
      };
      const g = globalThis as unknown as { nc: Nc; got: string[] };
      const reply = await g.nc.request("svc.tcp", "ping", { timeout: 5000 });
      g.nc.publish("browser.out", "from the browser");
      await g.nc.flush();
      const got = [...g.got];
      await g.nc.close();
      return { reply: reply.string(), got };
    });
    assert.equal(result.reply, "tcp:ping");
    assert.deepEqual(result.got, ["one", "two"]);
    await tcp.flush();
    assert.deepEqual(fromBrowser, ["from the browser"]);
  });

  it("gets permessage-deflate from Petrel on Bun (Deno's server declines it) and binary INFO either way", async () => {
    const seen = await page.evaluate(async (url: string) => {
      const sock = new WebSocket(url);
      sock.binaryType = "arraybuffer";
      const first = await new Promise<string>((resolve, reject) => {
        sock.onmessage = (e) => resolve(typeof e.data === "string" ? "text" : new TextDecoder().decode(e.data));
        sock.onerror = () => reject(new Error("socket error"));
      });
      const extensions = sock.extensions;
      sock.close();
      return { extensions, first };
    }, `ws://127.0.0.1:${ws.port}`);
    if (isBun) assert.match(seen.extensions, /permessage-deflate/);
    else assert.equal(seen.extensions, "");
    assert.match(seen.first, /^INFO \{.*"headers":true/);
  });
});
