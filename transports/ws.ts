/**
 * WebSocket transport, whichever runtime we are on: the standalone listener for the `websocket {}` block and
 * the fetch application used by the serverless entry (serve.ts). Both runtimes' native WebSocket servers are
 * used (Bun: uWebSockets with permessage-deflate; Deno: Deno.upgradeWebSocket); the rules live in
 * src/websocket/.
 */
import type { AcceptFn, Listener } from "../src/transport/types.ts";
import { isUpgradeRequest, notWebSocketResponse } from "../src/websocket/handshake.ts";
import type { WebSocketSettings } from "../src/websocket/settings.ts";
import { bunUpgrade, bunWebSocketHandlers, type BunWsData, exemptEventStreams, serveBun } from "./ws_bun.ts";
import { denoPeer, denoUpgrade, serveDeno } from "./ws_deno.ts";

export type HttpFallback = (req: Request) => Response | Promise<Response>;

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** The second argument the host passes to `fetch`: Bun's server, or Deno's handler info. */
export type FetchContext = Bun.Server<BunWsData> | Deno.ServeHandlerInfo;

/**
 * A `{ fetch, websocket }` object as `Bun.serve`, `bun run` and `deno serve` expect from a default export:
 * upgrade requests become NATS clients (on any path, as with nats-server), everything else goes to `fallback`.
 */
export interface WebSocketFetchApp {
  fetch(req: Request, ctx: FetchContext): Response | Promise<Response> | undefined;
  websocket: Bun.WebSocketHandler<BunWsData>;
}

export function webSocketFetchApp(
  settings: WebSocketSettings,
  accept: AcceptFn,
  fallback: HttpFallback = notWebSocketResponse,
): WebSocketFetchApp {
  return {
    fetch(req, ctx) {
      if (!isUpgradeRequest(req)) return "timeout" in ctx ? exemptEventStreams(req, ctx, fallback(req)) : fallback(req);
      if ("upgrade" in ctx) return bunUpgrade(req, ctx, settings, accept);
      return denoUpgrade(req, denoPeer(req, ctx), settings, accept);
    },
    websocket: bunWebSocketHandlers(settings),
  };
}

/** Host a fetch application on host:port with the runtime's HTTP server (port 0 picks a free port). */
export function serveFetchApp(app: WebSocketFetchApp, settings: WebSocketSettings): Promise<Listener> {
  if (isBun) {
    return serveBun(
      { fetch: (req, srv) => app.fetch(req, srv), websocket: app.websocket },
      settings.host,
      settings.port,
      settings.handshake_timeout,
      settings.tls_pem,
    );
  }
  return serveDeno(
    (req, info) => app.fetch(req, info) ?? new Response("upgrade failed\n", { status: 500 }),
    settings.host,
    settings.port,
    settings.tls_pem,
  );
}

/** Listen for WebSocket clients; plain HTTP requests go to `fallback` (or get a 400 naming the problem). */
export function listenWebSocket(
  settings: WebSocketSettings,
  accept: AcceptFn,
  fallback?: HttpFallback,
): Promise<Listener> {
  return serveFetchApp(webSocketFetchApp(settings, accept, fallback), settings);
}
