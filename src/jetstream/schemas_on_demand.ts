/**
 * JetStream's config schemas (config_schema.ts, and with them zod) load on demand. On Deno, zod's code costs an
 * idle JetStream server about 10 MB resident, which a server that has no stored streams and is never asked to
 * create one does not need. Whoever can need a schema awaits `loadJsSchemas()` first: the JetStream extension
 * before it recovers stored streams or starts a cluster, the engine before the first API request it serves
 * (requests wait in order meanwhile), the STAN server before it opens channels. A schema used before that is a bug
 * and throws.
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
