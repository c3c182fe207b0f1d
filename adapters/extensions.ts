/**
 * Which extensions a configuration turns on (JetStream, WebSocket, cluster), bound to the runtime's
 * services. Lives outside src/ because the extensions need runtime adapters (storage, HTTP upgrade).
 */
import type { ServerOptions } from "../src/config/schema.ts";
import type { PetrelExtension } from "../src/petrel.ts";
import type { Runtime } from "../src/runtime/types.ts";

export function defaultExtensions(_options: ServerOptions, _rt: Runtime): PetrelExtension[] {
  const list: PetrelExtension[] = [];
  return list;
}
