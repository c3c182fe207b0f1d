/**
 * The zod-free check of a plain configuration file: one whose every key is a plain leaf (ports, hosts, sizes,
 * durations, log and pid files, ...) at the top level or in `jetstream {}`, with a value its leaf check accepts.
 * Such a file, as most deployments and every single-server bench scenario write, then starts without loading
 * zod and the config schemas (~11 MB RSS on both runtimes; a flags start loads neither).
 *
 * It answers only "yes, and here is exactly what validate.ts would have produced" or "not plain": anything else
 * (an unknown, unsupported or not-implemented key, a $VARIABLE key, a value a check refuses, any other block)
 * goes to the full check, so every error, warning and refusal still comes from validate.ts, worded as before.
 * The keys below are a subset of schema.ts's with the same check functions (leaf_checks.ts), walked the way
 * validate.ts's canonicalize walks them; test/config/plain.test.ts checks both against each other.
 */
import * as L from "./leaf_checks.ts";
import type { LeafCheck } from "./leaf_checks.ts";
import type { RawConfig } from "./schema.ts";
import type { ValidatedConfig } from "./validate.ts";
import { type ConfMap, type ConfPath, type ConfValue, isConfMap, type ParsedConfig, pathKey, type SourceLoc } from "./types.ts";

type PlainTable = Readonly<Record<string, LeafCheck>>;

/** `jetstream {}` keys checked without zod (schema.ts: jetstreamSchema). */
export const PLAIN_JETSTREAM_KEYS: PlainTable = {
  enabled: L.BOOL,
  enable: L.BOOL,
  store_dir: L.STRING,
  storedir: L.STRING,
  max_memory_store: L.SIZE_OR_UNLIMITED,
  max_mem_store: L.SIZE_OR_UNLIMITED,
  max_mem: L.SIZE_OR_UNLIMITED,
  max_file_store: L.SIZE_OR_UNLIMITED,
  max_file: L.SIZE_OR_UNLIMITED,
  domain: L.STRING,
  sync_interval: L.SYNC_INTERVAL,
  storage: L.STORAGE,
};

/** Top-level keys checked without zod (schema.ts: rawConfigSchema); `jetstream` is handled on its own. */
export const PLAIN_TOP_KEYS: PlainTable = {
  port: L.PORT,
  host: L.STRING,
  net: L.STRING,
  listen: L.LISTEN,
  server_name: L.STRING,
  client_advertise: L.STRING,
  http: L.LISTEN,
  http_port: L.PORT,
  monitor_port: L.PORT,
  max_payload: L.SIZE,
  max_pending: L.SIZE,
  max_control_line: L.SIZE,
  max_connections: L.COUNT,
  max_conn: L.COUNT,
  max_subscriptions: L.COUNT,
  max_subs: L.COUNT,
  ping_interval: L.DURATION,
  ping_max: L.COUNT,
  write_deadline: L.DURATION,
  lame_duck_duration: L.DURATION_STRING,
  lame_duck_grace_period: L.DURATION_STRING,
  debug: L.BOOL,
  trace: L.BOOL,
  trace_verbose: L.BOOL,
  logtime: L.BOOL,
  log_file: L.STRING,
  logfile: L.STRING,
  pid_file: L.STRING,
  pidfile: L.STRING,
  ports_file_dir: L.STRING,
  store_dir: L.STRING,
  storedir: L.STRING,
  server_tags: L.STRING_LIST,
};

/** Not plain: hand the file to the full check. */
const NOT_PLAIN = undefined;

/** What validate.ts's validateConfig returns for `parsed`, when the file is plain; undefined when it is not. */
export function checkPlain(parsed: ParsedConfig): ValidatedConfig | undefined {
  const locs = new Map<string, SourceLoc>();
  const raw: ConfMap = {};
  for (const [k, v] of Object.entries(parsed.value)) {
    const key = k.toLowerCase();
    const path = [key];
    // schema.ts's keys are all lower-case, so validate.ts resolves a key as written or lower-cased to `key`. No
    // plain key is a not-implemented one (not_implemented.ts; the test checks it), so that check is not needed.
    if (key === "jetstream") {
      const js = plainJetStream(parsed, v, [k], locs);
      if (js === NOT_PLAIN) return NOT_PLAIN;
      record(parsed, [k], path, locs);
      raw[key] = js;
      continue;
    }
    const check = Object.hasOwn(PLAIN_TOP_KEYS, key) ? PLAIN_TOP_KEYS[key] : undefined;
    if (check === undefined || !check.test(v)) return NOT_PLAIN;
    record(parsed, [k], path, locs);
    raw[key] = v;
  }
  const locate = (path: ConfPath): SourceLoc => {
    for (let n = path.length; n > 0; n--) {
      const loc = locs.get(pathKey(path.slice(0, n)));
      if (loc) return loc;
    }
    return { file: parsed.file, line: 0 };
  };
  // Every key is one of rawConfigSchema's with a value its check accepts: zod's output is the same map.
  return { raw: raw as RawConfig, file: parsed.file, locate, warnings: [] };
}

/** The `jetstream` value as zod would output it (the short form expanded), or NOT_PLAIN. */
function plainJetStream(parsed: ParsedConfig, v: ConfValue, origPath: ConfPath, locs: Map<string, SourceLoc>): ConfMap | undefined {
  if (!isConfMap(v)) {
    const expanded = L.jetstreamShortForm(v);
    return isConfMap(expanded) && L.BOOL.test(expanded.enabled) ? expanded : NOT_PLAIN;
  }
  const out: ConfMap = {};
  for (const [k, child] of Object.entries(v)) {
    const key = k.toLowerCase();
    const check = Object.hasOwn(PLAIN_JETSTREAM_KEYS, key) ? PLAIN_JETSTREAM_KEYS[key] : undefined;
    if (check === undefined || !check.test(child)) return NOT_PLAIN;
    record(parsed, [...origPath, k], ["jetstream", key], locs);
    out[key] = child;
  }
  return out;
}

/** Where a key was written, under its canonical path (as validate.ts records it). */
function record(parsed: ParsedConfig, origPath: ConfPath, path: ConfPath, locs: Map<string, SourceLoc>): void {
  const loc = parsed.locs.get(pathKey(origPath));
  if (loc) locs.set(pathKey(path), loc);
}
