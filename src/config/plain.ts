/**
 * The zod-free check of a plain configuration file: one whose every key is a plain leaf (ports, hosts, sizes,
 * durations, log and pid files, ...) at the top level or in one of the PLAIN_BLOCKS below (`jetstream`, `cluster`,
 * `authorization` with one user or a token, `websocket` and a leafnode hub's listener, without TLS), with a value
 * its leaf check accepts. Such a file, as most deployments and every bench
 * scenario write, then starts without loading the config schemas, nor zod unless something else needs it (~11 MB
 * RSS on both runtimes; a flags start loads neither).
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
import { notImplementedAt } from "./not_implemented.ts";
import { secretNeedsAuthLibs } from "../server/auth_libs.ts";
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

/** `cluster {}` keys checked without zod (schema.ts: clusterSchema): no authorization, TLS or route permissions. */
export const PLAIN_CLUSTER_KEYS: PlainTable = {
  listen: L.LISTEN,
  host: L.STRING,
  net: L.STRING,
  port: L.PORT,
  name: L.STRING,
  advertise: L.STRING,
  cluster_advertise: L.STRING,
  no_advertise: L.BOOL,
  routes: L.STRING_LIST,
  connect_retries: L.COUNT,
};

/**
 * `authorization {}` keys checked without zod (schema.ts: authorizationSchema): one user or a token. A users
 * list, permissions and every other key go to the full check (an unknown key there is refused, not warned).
 */
export const PLAIN_AUTHORIZATION_KEYS: PlainTable = {
  user: L.STRING,
  username: L.STRING,
  password: L.STRING,
  pass: L.STRING,
  token: L.STRING,
  timeout: L.DURATION,
};

/** `websocket {}` (alias `ws`) keys checked without zod (schema.ts: websocketSchema): no TLS, no authorization. */
export const PLAIN_WEBSOCKET_KEYS: PlainTable = {
  listen: L.LISTEN,
  host: L.STRING,
  net: L.STRING,
  port: L.PORT,
  advertise: L.STRING,
  no_tls: L.BOOL,
  same_origin: L.BOOL,
  allowed_origins: L.STRING_LIST,
  allowed_origin: L.STRING_LIST,
  compression: L.BOOL,
  handshake_timeout: L.DURATION,
};

/** `leafnodes {}` (alias `leaf`) keys checked without zod (schema.ts: leafnodesSchema): a hub's listener only. */
export const PLAIN_LEAFNODES_KEYS: PlainTable = {
  listen: L.LISTEN,
  host: L.STRING,
  net: L.STRING,
  port: L.PORT,
  advertise: L.STRING,
  no_advertise: L.BOOL,
};

interface PlainBlock {
  keys: PlainTable;
  /** The schema's preprocess of a value that is not a map (a short form), if it has one. */
  shortForm?: (v: unknown) => unknown;
}

/** Blocks checked without zod, by top-level key. */
export const PLAIN_BLOCKS: Readonly<Record<string, PlainBlock>> = {
  jetstream: { keys: PLAIN_JETSTREAM_KEYS, shortForm: L.jetstreamShortForm },
  cluster: { keys: PLAIN_CLUSTER_KEYS },
  authorization: { keys: PLAIN_AUTHORIZATION_KEYS },
  websocket: { keys: PLAIN_WEBSOCKET_KEYS },
  ws: { keys: PLAIN_WEBSOCKET_KEYS },
  leafnodes: { keys: PLAIN_LEAFNODES_KEYS },
  leaf: { keys: PLAIN_LEAFNODES_KEYS },
};

/** Top-level keys checked without zod (schema.ts: rawConfigSchema); the blocks above are handled on their own. */
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

/**
 * Every top-level key of schema.ts's rawConfigSchema (the test checks the list): a variable defined at the top
 * level under one of these names is that option to validate.ts, not a variable, and is left to the full check.
 */
export const SCHEMA_TOP_KEYS: ReadonlySet<string> = new Set([
  "listen", "host", "net", "port", "server_name", "client_advertise", "http", "http_port", "monitor_port",
  "max_payload", "max_pending", "max_control_line", "max_connections", "max_conn", "max_subscriptions", "max_subs",
  "ping_interval", "ping_max", "write_deadline", "lame_duck_duration", "lame_duck_grace_period", "debug", "trace",
  "trace_verbose", "logtime", "log_file", "logfile", "pid_file", "pidfile", "ports_file_dir", "no_auth_user",
  "store_dir", "storedir", "authorization", "cluster", "gateway", "jetstream", "streaming", "websocket", "ws",
  "leafnodes", "leaf", "accounts", "system_account", "system", "no_system_account", "mappings", "maps", "tls",
  "allow_non_tls", "https", "https_port", "http_base_path", "mqtt", "operator", "operators", "trusted",
  "trusted_keys", "resolver", "resolver_preload", "resolver_tls", "ocsp", "syslog", "remote_syslog", "logtime_utc",
  "logfile_size_limit", "log_size_limit", "max_traced_msg_len", "max_sub_tokens", "disable_sublist_cache",
  "no_sublist_cache", "prof_port", "server_tags", "default_js_domain", "connect_error_reports",
  "reconnect_error_reports", "max_closed_clients", "no_header_support",
]);

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
    // plain key is a not-implemented one (not_implemented.ts; the test checks it), so that check is only needed
    // for a variable below.
    const block = Object.hasOwn(PLAIN_BLOCKS, key) ? PLAIN_BLOCKS[key] : undefined;
    if (block !== undefined) {
      const out = plainBlock(parsed, block, key, v, [k], locs);
      if (out === NOT_PLAIN) return NOT_PLAIN;
      record(parsed, [k], path, locs);
      raw[key] = out;
      continue;
    }
    const check = Object.hasOwn(PLAIN_TOP_KEYS, key) ? PLAIN_TOP_KEYS[key] : undefined;
    if (check === undefined) {
      // A top-level variable used as $NAME is not an option: validate.ts skips it without a word, unless its name
      // is a schema key or a refused one (then it is that option, left to the full check).
      if (parsed.usedVariables.has(pathKey([k])) && !SCHEMA_TOP_KEYS.has(key) && notImplementedAt(path) === undefined) continue;
      return NOT_PLAIN;
    }
    if (!check.test(v)) return NOT_PLAIN;
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

/**
 * Does a plain file need the password libraries? Of its keys only `authorization {}`'s password or token can name
 * something they handle (a bcrypt hash, `$2a$`...); any string value that would need them as a secret counts
 * (errs towards loading).
 */
export function plainNeedsAuthLibs(plain: ValidatedConfig): boolean {
  const walk = (v: unknown): boolean =>
    typeof v === "string" ? secretNeedsAuthLibs(v) : Array.isArray(v) ? v.some(walk) : isConfMap(v) && Object.values(v).some(walk);
  return walk(plain.raw);
}

/** A block's value as zod would output it (a short form expanded), or NOT_PLAIN. */
function plainBlock(
  parsed: ParsedConfig,
  block: PlainBlock,
  name: string,
  v: ConfValue,
  origPath: ConfPath,
  locs: Map<string, SourceLoc>,
): ConfMap | undefined {
  if (!isConfMap(v)) {
    // validate.ts records no location inside a short form: it was not a map when it walked it.
    const expanded = block.shortForm?.(v);
    return isConfMap(expanded) && entriesPass(block.keys, expanded) ? expanded : NOT_PLAIN;
  }
  const out: ConfMap = {};
  for (const [k, child] of Object.entries(v)) {
    const key = k.toLowerCase();
    const check = Object.hasOwn(block.keys, key) ? block.keys[key] : undefined;
    if (check === undefined || !check.test(child)) return NOT_PLAIN;
    record(parsed, [...origPath, k], [name, key], locs);
    out[key] = child;
  }
  return out;
}

function entriesPass(keys: PlainTable, map: ConfMap): boolean {
  for (const [k, v] of Object.entries(map)) {
    if (!Object.hasOwn(keys, k) || !keys[k].test(v)) return false;
  }
  return true;
}

/** Where a key was written, under its canonical path (as validate.ts records it). */
function record(parsed: ParsedConfig, origPath: ConfPath, path: ConfPath, locs: Map<string, SourceLoc>): void {
  const loc = parsed.locs.get(pathKey(origPath));
  if (loc) locs.set(pathKey(path), loc);
}
