/**
 * WebSocket on Deno: Deno.serve + Deno.upgradeWebSocket feeding the runtime-agnostic WsConnection.
 * Deno's server declines permessage-deflate (RFC 7692 lets a server do so; clients then send plain frames),
 * has no drain event (WsConnection polls bufferedAmount) and no hook for a handshake timeout.
 */
import type { AcceptFn, ConnInfo, Listener } from "../src/transport/types.ts";
import { type NativeSocket, WsConnection } from "../src/websocket/connection.ts";
import { rejectionResponse, validateHandshake } from "../src/websocket/handshake.ts";
import type { WebSocketSettings } from "../src/websocket/settings.ts";

/** Where the request came from and arrived: read synchronously, Deno forgets it once the request is upgraded. */
export interface DenoPeer {
  remoteHost: string;
  remotePort: number;
  localHost: string;
  localPort: number;
}

export function denoPeer(req: Request, info: Deno.ServeHandlerInfo): DenoPeer {
  const url = new URL(req.url);
  const r = info.remoteAddr;
  return {
    remoteHost: r.transport === "tcp" || r.transport === "udp" ? r.hostname : "",
    remotePort: r.transport === "tcp" || r.transport === "udp" ? r.port : 0,
    localHost: url.hostname,
    localPort: Number(url.port || "80"),
  };
}

/** Upgrade a request inside any Deno fetch handler, or answer why not. */
export function denoUpgrade(req: Request, peer: DenoPeer, settings: WebSocketSettings, accept: AcceptFn): Response {
  const rejection = validateHandshake(req, settings);
  if (rejection) return rejectionResponse(rejection);
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(req);
  } catch (e) {
    return rejectionResponse({ status: 400, message: e instanceof Error ? e.message : "upgrade failed" });
  }
  const { socket: ws, response } = upgraded;
  ws.binaryType = "arraybuffer";
  const info: ConnInfo = { kind: "ws", ...peer };
  const socket: NativeSocket = {
    send: (data) => ws.send(data as Uint8Array<ArrayBuffer>),
    bufferedAmount: () => ws.bufferedAmount,
    close: (code, reason) => {
      try {
        ws.close(code, reason);
      } catch {
        // A reason over 123 bytes throws; close with the code alone (a no-op when already closing).
        try {
          ws.close(code);
        } catch { /* already closing */ }
      }
    },
    // Deno has no abrupt close; a close frame is the best available.
    terminate: () => socket.close(1008, "slow consumer"),
    drainEvents: false,
  };
  const conn = new WsConnection(info, socket, settings);
  ws.onopen = () => conn.open(accept);
  ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
    conn.message(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
  };
  ws.onclose = (e) => conn.closed(e.code, e.reason);
  ws.onerror = () => {};
  return response;
}

/** Host a fetch handler with Deno.serve (what `deno serve serve.ts` does for a default export). */
export function serveDeno(
  fetch: (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
  host: string,
  port: number,
  tls?: { cert: string; key: string },
): Promise<Listener> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      ...(tls !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      onListen: (addr) => {
        resolve({ host, port: addr.transport === "tcp" ? addr.port : port, close: () => server.shutdown() });
      },
    }, fetch);
  });
}
