/**
 * Which extensions a configuration turns on (WebSocket, cluster, gateway, leafnodes, JetStream), bound to the
 * runtime's services. Lives outside src/ because the extensions need runtime adapters (storage, HTTP upgrade).
 */
import type { ServerOptions } from "../src/config/schema.ts";
import type { PetrelExtension } from "../src/petrel.ts";
import type { Runtime } from "../src/runtime/types.ts";
import { clusterExtension } from "../src/cluster/extension.ts";
import { gatewayExtension } from "../src/gateway/extension.ts";
import { leafNodeExtension } from "../src/leafnode/extension.ts";
import { webSocketExtension } from "../transports/ws_extension.ts";
import { jetStreamExtension } from "./storage/jetstream_extension.ts";

export function defaultExtensions(options: ServerOptions, _rt: Runtime): PetrelExtension[] {
  const list: PetrelExtension[] = [];
  // WebSocket first: its client URL must be known before routes exchange INFO.
  if (options.websocket !== undefined && options.websocket.port !== 0) list.push(webSocketExtension());
  if (options.cluster !== undefined) list.push(clusterExtension());
  // After the cluster: the gateway counts the routes' interest as this cluster's.
  if (options.gateway !== undefined && options.gateway.name !== "") list.push(gatewayExtension());
  // After the gateway: leafnodes hear of the cluster's interest but not of other clusters'.
  if (options.leafnodes !== undefined) list.push(leafNodeExtension());
  if (options.jetstream?.enabled) list.push(jetStreamExtension(options.jetstream));
  return list;
}
