/**
 * Checks on the HTTP upgrade request, done before the runtime's native upgrade so that every refusal is a
 * plain HTTP answer naming the problem (nats-server logs the same texts, prefixed "websocket handshake error").
 */
import { parseOrigin, type WebSocketSettings } from "./settings.ts";

export interface HandshakeRejection {
  status: number;
  message: string;
}

type OriginPolicy = Pick<WebSocketSettings, "same_origin" | "allowed_origins"> & { tls_pem?: unknown };

/** True when the request asks for a WebSocket upgrade at all (anything else is plain HTTP). */
export function isUpgradeRequest(req: Request): boolean {
  return headerHasToken(req.headers.get("upgrade"), "websocket");
}

/** undefined when the request is a valid WebSocket opening handshake from an allowed origin. */
export function validateHandshake(req: Request, policy: OriginPolicy): HandshakeRejection | undefined {
  if (req.method !== "GET") return { status: 405, message: "request method must be GET" };
  if (!headerHasToken(req.headers.get("upgrade"), "websocket")) {
    return { status: 400, message: "invalid value for header 'Upgrade'" };
  }
  if (!headerHasToken(req.headers.get("connection"), "upgrade")) {
    return { status: 400, message: "invalid value for header 'Connection'" };
  }
  if (req.headers.get("sec-websocket-version")?.trim() !== "13") {
    return { status: 400, message: "invalid version" };
  }
  const key = req.headers.get("sec-websocket-key");
  if (key === null || key.trim() === "") return { status: 400, message: "key missing" };
  if (!isNonceKey(key.trim())) return { status: 400, message: "invalid key" };
  const originError = checkOrigin(req.headers.get("origin"), req.headers.get("host"), policy, policy.tls_pem !== undefined);
  if (originError !== undefined) return { status: 403, message: originError };
  return undefined;
}

/**
 * Origin policy. Only browsers send Origin; without one there is nothing to check (as in nats-server).
 * same_origin: the origin's host and port must be the request's Host. allowed_origins: scheme, host and
 * port must equal one entry. Both may apply.
 */
export function checkOrigin(origin: string | null, host: string | null, policy: OriginPolicy, tls = false): string | undefined {
  if (origin === null || origin === "") return undefined;
  if (!policy.same_origin && policy.allowed_origins.length === 0) return undefined;
  const o = parseOrigin(origin);
  if (o === undefined) return `origin ${JSON.stringify(origin)} not allowed: not a valid origin`;
  if (policy.same_origin) {
    // A Host without a port means the scheme's default: 443 on a wss:// listener, 80 otherwise.
    const h = host === null ? undefined : parseOrigin(`${tls ? "https" : "http"}://${host}`);
    if (h === undefined || h.host !== o.host || h.port !== o.port) {
      return `origin ${JSON.stringify(origin)} not allowed: not same origin`;
    }
  }
  if (policy.allowed_origins.length > 0) {
    const ok = policy.allowed_origins.some((a) => {
      const p = parseOrigin(a);
      return p !== undefined && p.scheme === o.scheme && p.host === o.host && p.port === o.port;
    });
    if (!ok) return `origin ${JSON.stringify(origin)} not allowed: not in allowed_origins`;
  }
  return undefined;
}

/** The HTTP answer to a refused handshake. */
export function rejectionResponse(r: HandshakeRejection): Response {
  return new Response(`websocket handshake error: ${r.message}\n`, {
    status: r.status,
    headers: { "content-type": "text/plain; charset=utf-8", "sec-websocket-version": "13" },
  });
}

/** Plain HTTP to a WebSocket-only port. */
export function notWebSocketResponse(): Response {
  return rejectionResponse({
    status: 400,
    message: "this port accepts only WebSocket connections (NATS over WebSocket); missing 'Upgrade: websocket'",
  });
}

function headerHasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  return value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/** RFC 6455: the key is a base64-encoded 16-byte nonce (24 characters ending in "=="). */
function isNonceKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}
