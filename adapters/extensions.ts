/**
 * Which extensions a configuration turns on (WebSocket, cluster, gateway, leafnodes, JetStream), bound to the
 * runtime's services. Lives outside src/ because the extensions need runtime adapters (storage, HTTP upgrade).
 * Each extension's code is imported only when the configuration turns it on: a plain server neither parses
 * nor holds JetStream, Raft, routes, gateways, leafnodes or WebSocket (cold start and idle memory).
 */
import type { ServerOptions } from "../src/config/schema.ts";
import type { ExtensionHandle, PetrelExtension } from "../src/petrel.ts";
import type { Runtime } from "../src/runtime/types.ts";

/** An extension whose module is loaded when it starts. */
function lazy(name: string, load: () => Promise<PetrelExtension>): PetrelExtension {
  return {
    name,
    async start(server, ctx): Promise<ExtensionHandle | void> {
      const ext = await load();
      return ext.start(server, ctx);
    },
  };
}

export function defaultExtensions(options: ServerOptions, _rt: Runtime): PetrelExtension[] {
  const list: PetrelExtension[] = [];
  // WebSocket first: its client URL must be known before routes exchange INFO.
  if (options.websocket !== undefined && options.websocket.port !== 0) {
    list.push(lazy("websocket", async () => (await import("../transports/ws_extension.ts")).webSocketExtension()));
  }
  if (options.cluster !== undefined) {
    list.push(lazy("cluster", async () => (await import("../src/cluster/extension.ts")).clusterExtension()));
  }
  // After the cluster: the gateway counts the routes' interest as this cluster's.
  if (options.gateway !== undefined && options.gateway.name !== "") {
    list.push(lazy("gateway", async () => (await import("../src/gateway/extension.ts")).gatewayExtension()));
  }
  // After the gateway: leafnodes hear of the cluster's interest but not of other clusters'.
  if (options.leafnodes !== undefined) {
    list.push(lazy("leafnode", async () => (await import("../src/leafnode/extension.ts")).leafNodeExtension()));
  }
  const js = options.jetstream;
  if (js?.enabled) {
    list.push(lazy("jetstream", async () => (await import("./storage/jetstream_extension.ts")).jetStreamExtension(js)));
  }
  const stan = options.streaming;
  if (stan !== undefined) {
    list.push(lazy("streaming", async () => (await import("./storage/stan_extension.ts")).stanExtension(stan)));
  }
  return list;
}
