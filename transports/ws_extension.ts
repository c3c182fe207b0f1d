/**
 * The `websocket {}` block as a Petrel extension: starts the listener after the core server, reports it in
 * the ports file ("websocket": ["ws://host:port"]) and stops it with the broker.
 */
import type { ExtensionHandle, PetrelExtension } from "../src/petrel.ts";
import { hostPort } from "../src/server/server.ts";
import type { HttpFallback } from "./ws.ts";
import { startWebSocket } from "./ws_server.ts";

export function webSocketExtension(fallback?: HttpFallback): PetrelExtension {
  return {
    name: "websocket",
    async start(server): Promise<ExtensionHandle | void> {
      const l = await startWebSocket(server, fallback);
      if (l === undefined) return;
      return {
        ports: { websocket: [`ws://${hostPort(reachableHost(l.host), l.port)}`] },
        stop: () => l.close(),
      };
    },
  };
}

/** A wildcard bind address is reached through loopback (as the lead's ports file does for nats://). */
function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}
