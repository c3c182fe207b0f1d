// Chromium over wss://: Petrel serves the test page over HTTPS and NATS over WebSocket-over-TLS on the same port
// (`websocket { tls {} }`), with a certificate from a test CA made by openssl. The browser trusts it through
// Chromium's --ignore-certificate-errors-spki-list (the server key's SPKI hash): the nearest honest stand-in for
// installing the test CA, which needs an NSS database tool not on this machine. Everything else is verified:
// a page on https:// and the official client's wsconnect to wss://, exchanging messages with a TCP client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Page } from "playwright-core";
import { Server } from "../../src/server/server.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import type { Listener } from "../../src/transport/types.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { startWebSocket } from "../../transports/ws_server.ts";
import { testCerts } from "../helpers/certs.ts";
import { buildPageBundle, pageFallback } from "./bundle.ts";
import { launchChromium } from "./chromium.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

describe("browser client over wss://", () => {
  let server: Server;
  let ws: Listener;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let tcp: NatsConnection;

  before(async () => {
    const certs = testCerts();
    const bundle = buildPageBundle();
    server = new Server(
      applyDefaults({
        host: "127.0.0.1",
        port: -1,
        websocket: {
          host: "127.0.0.1",
          port: -1,
          no_tls: false,
          same_origin: true,
          allowed_origins: [],
          compression: false,
          handshake_timeout: 2000,
          tls: { cert_file: certs.serverCert, key_file: certs.serverKey, verify: false, verify_and_map: false, insecure: false, timeout: 2000 },
        },
      }),
      { transport: tcpTransport, readFile: (p) => readFileSync(p, "utf8") },
    );
    await server.start();
    const l = await startWebSocket(server, pageFallback(bundle));
    if (!l) throw new Error("no websocket listener");
    ws = l;
    tcp = await connect({ servers: `nats://127.0.0.1:${server.clientPort}`, reconnect: false, timeout: 5000 });
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spkiHash(certs.pem(certs.serverCert))}`]);
    page = await browser.context.newPage();
    await page.goto(`https://localhost:${ws.port}/`);
    await page.waitForFunction(() => document.title === "petrel-ready", undefined, { timeout: 10_000 });
  }, { timeout: 60_000 });
  after(async () => {
    await browser?.close();
    await tcp?.close().catch(() => {});
    await server?.shutdown();
  });

  it("loads the page over HTTPS and talks NATS over wss:// with a TCP client", async () => {
    const fromBrowser: string[] = [];
    tcp.subscribe("wss.out", { callback: (_e, m) => void fromBrowser.push(m.string()) });
    await tcp.flush();
    assert.equal(await page.evaluate(() => location.protocol), "https:");
    await page.evaluate(async (url: string) => {
      type Nc = { subscribe(s: string, o: { callback(e: unknown, m: { string(): string }): void }): void; flush(): Promise<void> };
      const g = globalThis as unknown as {
        nats: { wsconnect(o: { servers: string; reconnect: boolean }): Promise<Nc> };
        nc: Nc;
        got: string[];
      };
      g.got = [];
      g.nc = await g.nats.wsconnect({ servers: url, reconnect: false });
      g.nc.subscribe("wss.in", { callback: (_e, m) => void g.got.push(m.string()) });
      await g.nc.flush();
    }, `wss://localhost:${ws.port}`);
    tcp.publish("wss.in", "over tls");
    await tcp.flush();
    const got = await page.evaluate(async () => {
      type Nc = { publish(s: string, d: string): void; flush(): Promise<void>; close(): Promise<void> };
      const g = globalThis as unknown as { nc: Nc; got: string[] };
      for (let i = 0; i < 100 && g.got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      g.nc.publish("wss.out", "from the browser");
      await g.nc.flush();
      const out = [...g.got];
      await g.nc.close();
      return out;
    });
    assert.deepEqual(got, ["over tls"]);
    await tcp.flush();
    for (let i = 0; i < 100 && fromBrowser.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(fromBrowser, ["from the browser"]);
  });
});
