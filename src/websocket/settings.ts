/**
 * The `websocket {}` block, normalized for the WebSocket transports. Keys keep nats-server's snake_case names;
 * durations are milliseconds and sizes bytes, like the rest of ServerOptions.
 */
import type { ServerOptions, WebSocketOptions } from "../config/schema.ts";

/** The listener's settings: the `websocket` block (with `port` 0 meaning a free port) plus derived limits. */
export interface WebSocketSettings extends WebSocketOptions {
  /** Largest WebSocket message accepted from a client; larger ones are closed with 1009. */
  max_message: number;
  /** Bytes queued towards one client before the transport drops it as a slow consumer (1008). */
  max_pending: number;
  /** wss://: the listener's certificate chain and key (PEM), read at start from the block's tls {}. */
  tls_pem?: { cert: string; key: string };
}

/** What may be written in the block (any subset); unknown keys are the config layer's business. */
export interface WebSocketBlock {
  host?: string;
  port?: number;
  listen?: string;
  advertise?: string;
  no_tls?: boolean;
  same_origin?: boolean;
  allowed_origins?: string[];
  compression?: boolean;
  handshake_timeout?: number;
}

export interface WebSocketSettingsContext {
  /** Server max_payload: one message must hold at least a full PUB. */
  max_payload?: number;
  /** Server max_pending (default 64 MiB as in nats-server). */
  max_pending?: number;
}

export type SettingsResult = { ok: true; value: WebSocketSettings } | { ok: false; error: string };

const MiB = 1024 * 1024;
/** nats-server's default handshake timeout is 2s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000;

/**
 * Validate and complete a websocket block written by hand (tests, the serverless entry). Petrel's listener
 * has no TLS; the config layer warns when no_tls is not set, and TLS is terminated in front of Petrel.
 */
export function resolveWebSocketSettings(
  block: WebSocketBlock,
  ctx: WebSocketSettingsContext = {},
): SettingsResult {
  let host = block.host ?? "0.0.0.0";
  let port = block.port ?? 443;
  if (block.listen !== undefined) {
    const hp = splitHostPort(block.listen);
    if (!hp) return { ok: false, error: `websocket.listen: invalid "host:port" value "${block.listen}"` };
    if (hp.host !== "") host = hp.host;
    port = hp.port;
  }
  if (port === -1) port = 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return { ok: false, error: `websocket.port: ${port} is not a valid port` };
  }
  const allowed = block.allowed_origins ?? [];
  for (const o of allowed) {
    if (parseOrigin(o) === undefined) {
      return { ok: false, error: `websocket.allowed_origins: "${o}" is not a URL with a scheme and a host` };
    }
  }
  if (block.advertise !== undefined && !splitHostPort(block.advertise)) {
    return { ok: false, error: `websocket.advertise: invalid "host:port" value "${block.advertise}"` };
  }
  const handshake = block.handshake_timeout ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!(handshake >= 0)) return { ok: false, error: `websocket.handshake_timeout: ${handshake} is negative` };
  const maxPayload = ctx.max_payload ?? MiB;
  return {
    ok: true,
    value: {
      host,
      port,
      advertise: block.advertise,
      no_tls: block.no_tls ?? false,
      same_origin: block.same_origin ?? false,
      allowed_origins: allowed,
      compression: block.compression ?? false,
      handshake_timeout: handshake,
      max_message: maxMessageFor(maxPayload),
      max_pending: ctx.max_pending ?? 64 * MiB,
    },
  };
}

/** The normalized `websocket` option and the limits it inherits from the top level. */
export type ServerWebSocketOptions = Pick<ServerOptions, "max_payload" | "max_pending" | "websocket">;

/** Settings for the listener from normalized ServerOptions; undefined when no WebSocket listener is wanted. */
export function webSocketSettingsFor(o: ServerWebSocketOptions): WebSocketSettings | undefined {
  const w = o.websocket;
  if (w === undefined || w.port === 0) return undefined;
  return {
    host: w.host,
    port: w.port < 0 ? 0 : w.port,
    advertise: w.advertise,
    no_tls: w.no_tls,
    same_origin: w.same_origin,
    allowed_origins: w.allowed_origins,
    compression: w.compression,
    handshake_timeout: w.handshake_timeout,
    max_message: maxMessageFor(o.max_payload),
    max_pending: o.max_pending,
  };
}

function maxMessageFor(maxPayload: number): number {
  // Clients batch many operations into one message, so leave generous room above one PUB.
  return Math.max(8 * MiB, 2 * maxPayload + 64 * 1024);
}

export function splitHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(-?\d+)$/.exec(s.trim());
  if (m) return { host: m[1] ?? m[2] ?? "", port: Number(m[3]) };
  if (/^-?\d+$/.test(s.trim())) return { host: "", port: Number(s.trim()) };
  return undefined;
}

/** Scheme, host and port of an origin, with the scheme's default port filled in. */
export interface OriginParts {
  scheme: string;
  host: string;
  port: number;
}

export function parseOrigin(s: string): OriginParts | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  if (u.hostname === "") return undefined;
  const scheme = u.protocol.replace(/:$/, "").toLowerCase();
  const port = u.port !== "" ? Number(u.port) : defaultPort(scheme);
  return { scheme, host: u.hostname.toLowerCase(), port };
}

function defaultPort(scheme: string): number {
  return scheme === "https" || scheme === "wss" ? 443 : 80;
}
