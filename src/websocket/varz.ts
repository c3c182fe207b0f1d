/** The `websocket` section of /varz, shaped like nats-server's (empty fields omitted as it does). */
import type { WebSocketSettings } from "./settings.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./settings.ts";

export function websocketVarz(s: WebSocketSettings, boundPort: number): Record<string, unknown> {
  const out: Record<string, unknown> = { host: s.host, port: boundPort };
  if (s.advertise) out.advertise = s.advertise;
  // nats-server reports the configured duration (nanoseconds), and nothing when left at its default.
  if (s.handshake_timeout !== DEFAULT_HANDSHAKE_TIMEOUT_MS) out.handshake_timeout = s.handshake_timeout * 1_000_000;
  out.no_tls = s.no_tls;
  if (s.tls_pem !== undefined) out.tls_required = true;
  if (s.same_origin) out.same_origin = true;
  if (s.allowed_origins.length > 0) out.allowed_origins = s.allowed_origins;
  if (s.compression) out.compression = true;
  return out;
}

/** This server's entry for ws_connect_urls (what the cluster layer gossips to peers): "host:port". */
export function wsConnectUrl(s: WebSocketSettings, boundPort: number, clientHost: string): string {
  if (s.advertise) return s.advertise;
  const host = s.host === "0.0.0.0" || s.host === "::" || s.host === "" ? clientHost : s.host;
  return host.includes(":") ? `[${host}]:${boundPort}` : `${host}:${boundPort}`;
}

/**
 * This server's own ws_connect_urls entry, recorded when its WebSocket listener starts, for the cluster
 * layer to gossip (route INFO `ws_connect_urls`) and to merge with its peers' into `server.wsConnectUrls`.
 */
const ownUrls = new WeakMap<object, string>();

export function setOwnWsConnectUrl(server: object, url: string): void {
  ownUrls.set(server, url);
}

export function ownWsConnectUrl(server: object): string | undefined {
  return ownUrls.get(server);
}
