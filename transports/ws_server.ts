/**
 * Wires the WebSocket listener of the `websocket {}` block into a Server: clients go to acceptConnection,
 * /varz gets its websocket section, shutdown closes the listener. One call from the start-up code.
 */
import type { Listener } from "../src/transport/types.ts";
import type { Server } from "../src/server/server.ts";
import { webSocketSettingsFor } from "../src/websocket/settings.ts";
import { setOwnWsConnectUrl, websocketVarz, wsConnectUrl } from "../src/websocket/varz.ts";
import { type HttpFallback, listenWebSocket } from "./ws.ts";

export interface WebSocketListener extends Listener {
  /**
   * This server's entry for ws_connect_urls ("host:port", or `advertise`). nats-server sends ws_connect_urls
   * only in a cluster: the cluster layer puts every member's entry into `server.wsConnectUrls`.
   */
  readonly connectUrl: string;
}

/** Start the WebSocket listener if the options ask for one; undefined when they do not. */
export async function startWebSocket(server: Server, fallback?: HttpFallback): Promise<WebSocketListener | undefined> {
  const base = webSocketSettingsFor(server.options);
  if (base === undefined) return undefined;
  // wss://: the certificate is read and checked now; a bad file stops start-up (no plain fallback).
  const tlsCfg = server.options.websocket?.tls;
  let settings = base;
  if (tlsCfg !== undefined) {
    const t = server.prepareTls("websocket.tls", tlsCfg, "server");
    if (t?.cert === undefined || t.key === undefined) throw new Error("websocket.tls: cert_file and key_file are required");
    settings = { ...base, tls_pem: { cert: t.cert, key: t.key } };
  }
  const listener = await listenWebSocket(settings, (d) => server.acceptConnection(d), fallback);
  server.monitorSections.set("varz.websocket", () => websocketVarz(settings, listener.port));
  server.onShutdown(() => listener.close());
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  server.logger.info(`Listening for websocket clients on ${settings.tls_pem ? "wss" : "ws"}://${host}:${listener.port}`);
  // as nats-server warns for no_tls
  if (settings.tls_pem === undefined) server.logger.warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
  const connectUrl = wsConnectUrl(settings, listener.port, server.clientHost);
  setOwnWsConnectUrl(server, connectUrl);
  return { host: listener.host, port: listener.port, close: () => listener.close(), connectUrl };
}
