/**
 * JetStream's config schemas (config_schema.ts, and with them zod) load on demand. On Deno, zod's code costs an
 * idle JetStream server about 10 MB resident, which a server that is never asked to create a stream or consumer
 * does not need. Whoever can need a schema awaits `loadJsSchemas()` first: the JetStream extension before it starts
 * a cluster, the engine before it serves an API request that carries a config (stream create/update, consumer
 * create; requests wait in order meanwhile), the STAN server before it opens channels. Recovery of stored streams
 * needs none (stored_config.ts). A schema used before that is a bug and throws.
 */
import type * as ConfigSchema from "./config_schema.ts";

let loaded: typeof ConfigSchema | undefined;
let loading: Promise<void> | undefined;

/** Loads the schemas once; later calls return the same promise, settled once they are usable. */
export function loadJsSchemas(): Promise<void> {
  loading ??= import("./config_schema.ts").then((mod) => {
    loaded = mod;
  });
  return loading;
}

/** Whether `jsSchemas()` may be called now. */
export function jsSchemasLoaded(): boolean {
  return loaded !== undefined;
}

/** The loaded schemas; throws when loadJsSchemas() has not settled (a bug in the caller). */
export function jsSchemas(): typeof ConfigSchema {
  if (loaded === undefined) throw new Error("bug: a JetStream config schema was used before loadJsSchemas()");
  return loaded;
}
