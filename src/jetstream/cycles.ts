/**
 * Mirror and source cycles: a stream whose mirror or sources lead back to itself through the streams this API
 * knows would feed its own messages to itself forever. nats-server refuses such a create or update with
 * "detected cycle"; origins behind another API (`external`) are another domain's or account's streams and are
 * not followed.
 */
import type { StreamConfig } from "./config.ts";

/** The names of the origins of `cfg` on this API (external ones left out). */
function localOrigins(cfg: StreamConfig): string[] {
  const origins = cfg.mirror ? [cfg.mirror] : (cfg.sources ?? []);
  return origins.filter((o) => !o.external?.api).map((o) => o.name);
}

/** Does `cfg` reach itself through its origins, following the configs `configOf` knows? */
export function sourceCycle(cfg: StreamConfig, configOf: (name: string) => StreamConfig | undefined): boolean {
  const seen = new Set<string>();
  const todo = localOrigins(cfg);
  while (todo.length > 0) {
    const name = todo.pop() as string;
    if (name === cfg.name) return true;
    if (seen.has(name)) continue;
    seen.add(name);
    const next = configOf(name);
    if (next) todo.push(...localOrigins(next));
  }
  return false;
}
