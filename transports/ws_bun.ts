/**
 * WebSocket on Bun: Bun.serve's native WebSocket server (uWebSockets, with permessage-deflate) feeding the
 * runtime-agnostic WsConnection. Used by the standalone listener and by the serverless fetch handler.
 */
import type { AcceptFn, ConnInfo, Listener } from "../src/transport/types.ts";
import { type NativeSocket, WsConnection } from "../src/websocket/connection.ts";
import { rejectionResponse, validateHandshake } from "../src/websocket/handshake.ts";
import type { WebSocketSettings } from "../src/websocket/settings.ts";

/** Per-socket data carried from the upgrade to the open handler. */
export interface BunWsData {
  info: ConnInfo;
  accept: AcceptFn;
  conn?: WsConnection;
}

type BunServer = Bun.Server<BunWsData>;

/** Upgrade a request on an existing Bun server, or answer why not. undefined = upgraded. */
export function bunUpgrade(
  req: Request,
  server: BunServer,
  settings: WebSocketSettings,
  accept: AcceptFn,
): Response | undefined {
  const rejection = validateHandshake(req, settings);
  if (rejection) return rejectionResponse(rejection);
  const remote = server.requestIP(req);
  const url = new URL(req.url);
  const info: ConnInfo = {
    kind: "ws",
    remoteHost: remote?.address ?? "",
    remotePort: remote?.port ?? 0,
    localHost: server.hostname ?? url.hostname,
    localPort: server.port ?? Number(url.port),
  };
  if (server.upgrade(req, { data: { info, accept } })) return undefined;
  return rejectionResponse({ status: 400, message: "upgrade failed" });
}

/** The `websocket` handlers for Bun.serve. */
export function bunWebSocketHandlers(settings: WebSocketSettings): Bun.WebSocketHandler<BunWsData> {
  return {
    open(ws) {
      const socket: NativeSocket = {
        send: (data) => void ws.sendBinary(data, settings.compression),
        bufferedAmount: () => ws.getBufferedAmount(),
        close: (code, reason) => ws.close(code, reason),
        terminate: () => ws.terminate(),
        drainEvents: true,
      };
      const conn = new WsConnection(ws.data.info, socket, settings);
      ws.data.conn = conn;
      conn.open(ws.data.accept);
    },
    message(ws, message) {
      ws.data.conn?.message(message);
    },
    drain(ws) {
      ws.data.conn?.drained();
    },
    close(ws, code, reason) {
      ws.data.conn?.closed(code, reason);
    },
    perMessageDeflate: settings.compression,
    // Bun closes larger messages with 1009 itself.
    maxPayloadLength: settings.max_message,
    // The connection enforces max_pending; Bun's own limit would silently drop messages.
    backpressureLimit: 0,
    closeOnBackpressureLimit: false,
    // Liveness is the NATS protocol's PING/PONG, as on TCP.
    idleTimeout: 0,
  };
}

/**
 * Bun.serve's `idleTimeout` also cuts a response still streaming (its request is done; what the server writes does
 * not count as activity), at the first tick of uSockets' 4 s timer wheel past it: a dashboard event stream served
 * here (the serverless entry's live view) was reset 2-6 s after it opened, its client seeing ECONNRESET, whatever
 * came meanwhile (and at times before its first chunk was read: serverless's live-stream test failure, "0 events
 * seen"); under `bun run serve.ts` (Bun's default of 10 s) after 10-14 s. An event stream is exempt
 * (`server.timeout(req, 0)`); it ends with the client or the server.
 */
export function exemptEventStreams(
  req: Request,
  srv: Pick<BunServer, "timeout">,
  res: Response | Promise<Response> | undefined,
): Response | Promise<Response> | undefined {
  const exempt = (r: Response) => {
    if (r.headers.get("content-type")?.startsWith("text/event-stream")) srv.timeout(req, 0);
    return r;
  };
  if (res === undefined) return res;
  return res instanceof Response ? exempt(res) : res.then(exempt);
}

/** Host a `{ fetch, websocket }` application with Bun.serve (what `bun run serve.ts` does for a default export). */
export function serveBun(
  app: {
    fetch(req: Request, server: BunServer): Response | Promise<Response> | undefined;
    websocket: Bun.WebSocketHandler<BunWsData>;
  },
  host: string,
  port: number,
  handshakeTimeoutMs: number,
  tls?: { cert: string; key: string },
): Promise<Listener> {
  const server: BunServer = Bun.serve<BunWsData>({
    hostname: host,
    port,
    ...(tls !== undefined ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    // Bun's HTTP idle timeout (whole seconds) is the closest knob to handshake_timeout; it closes idle
    // keep-alive connections but does not bound a request that is still arriving.
    idleTimeout: Math.min(255, Math.max(1, Math.ceil(handshakeTimeoutMs / 1000))),
    fetch: (req, srv) => app.fetch(req, srv),
    websocket: app.websocket,
  });
  return Promise.resolve({ host, port: server.port ?? port, close: () => server.stop(true) });
}
