/**
 * A zod-free parse of the plain stream and consumer configs that API requests carry (every field a string, a
 * number, a boolean, a list of those, or absent), giving exactly what the zod schemas (config_schema.ts) give for
 * them: the same defaults, the schema's key order, unknown keys kept after. Anything else (a mirror, sources,
 * republish, metadata, placement, a null where the schema does not take one, a wrong type) is declined, and the
 * caller loads the schemas and lets zod parse it, so errors and nested defaults stay zod's.
 *
 * Why: the first `$JS.API.STREAM.CREATE` loaded zod and the schemas (schemas_on_demand.ts): +11 MB resident on
 * Deno and +12 MB on Bun for the rest of the process, for a config like the one natsbench (libnats) sends:
 * `{"name":..,"subjects":[..],"retention":"limits","max_consumers":-1,...,"num_replicas":1}`.
 * test/jetstream/config_plain.test.ts keeps these tables in step with the schemas and compares the outputs.
 */
import type { ConsumerConfig, StreamConfig } from "./config.ts";
import { fits, type Kind } from "./config_kinds.ts";

/**
 * How a field is taken: `def` (absent: the default; must fit otherwise), `opt` (absent: left out; null is
 * declined), `nullish` (absent: left out; null kept), `list` (the stream's subjects: absent or null give []),
 * `decline` (a nested schema: absent is left out, null kept, anything else goes to zod).
 */
type Mode = "def" | "opt" | "nullish" | "list" | "decline";
type Field = readonly [Mode, Kind, unknown?];

const ENUM_RETENTION = ["limits", "interest", "workqueue"] as const;
const ENUM_DISCARD = ["old", "new"] as const;
const ENUM_STORAGE = ["file", "memory"] as const;

/** In the order of streamConfigSchema's shape (the output's key order). */
export const PLAIN_STREAM: ReadonlyArray<readonly [string, Field]> = [
  ["name", ["def", "string", ""]],
  ["description", ["opt", "string"]],
  ["subjects", ["list", "strings"]],
  ["retention", ["def", ENUM_RETENTION, "limits"]],
  ["max_consumers", ["def", "int", -1]],
  ["max_msgs", ["def", "int", -1]],
  ["max_bytes", ["def", "int", -1]],
  ["max_age", ["def", "int", 0]],
  ["max_msgs_per_subject", ["def", "int", -1]],
  ["max_msg_size", ["def", "int", -1]],
  ["discard", ["def", ENUM_DISCARD, "old"]],
  ["storage", ["def", ENUM_STORAGE, "file"]],
  ["num_replicas", ["def", "int", 1]],
  ["no_ack", ["def", "bool", false]],
  ["duplicate_window", ["def", "int", 0]],
  ["mirror", ["decline", "string"]],
  ["sources", ["decline", "string"]],
  ["sealed", ["def", "bool", false]],
  ["deny_delete", ["def", "bool", false]],
  ["deny_purge", ["def", "bool", false]],
  ["allow_rollup_hdrs", ["def", "bool", false]],
  ["allow_direct", ["def", "bool", false]],
  ["mirror_direct", ["def", "bool", false]],
  ["discard_new_per_subject", ["opt", "bool"]],
  ["republish", ["decline", "string"]],
  ["metadata", ["decline", "string"]],
  ["placement", ["decline", "string"]],
  ["first_seq", ["opt", "int"]],
];

/** In the order of consumerConfigSchema's shape. */
export const PLAIN_CONSUMER: ReadonlyArray<readonly [string, Field]> = [
  ["durable_name", ["opt", "string"]],
  ["name", ["opt", "string"]],
  ["description", ["opt", "string"]],
  ["deliver_subject", ["opt", "string"]],
  ["deliver_group", ["opt", "string"]],
  ["deliver_policy", ["def", ["all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"], "all"]],
  ["opt_start_seq", ["opt", "int"]],
  ["opt_start_time", ["opt", "string"]],
  ["ack_policy", ["def", ["none", "all", "explicit"], "none"]],
  ["ack_wait", ["def", "int", 0]],
  ["max_deliver", ["def", "int", -1]],
  ["backoff", ["nullish", "ints"]],
  ["filter_subject", ["opt", "string"]],
  ["filter_subjects", ["nullish", "strings"]],
  ["replay_policy", ["def", ["instant", "original"], "instant"]],
  ["rate_limit_bps", ["opt", "int"]],
  ["sample_freq", ["opt", "string"]],
  ["max_waiting", ["def", "int", 0]],
  ["max_ack_pending", ["def", "int", 0]],
  ["flow_control", ["opt", "bool"]],
  ["idle_heartbeat", ["opt", "int"]],
  ["headers_only", ["opt", "bool"]],
  ["max_batch", ["opt", "int"]],
  ["max_expires", ["opt", "int"]],
  ["max_bytes", ["opt", "int"]],
  ["inactive_threshold", ["opt", "int"]],
  ["num_replicas", ["def", "int", 0]],
  ["mem_storage", ["opt", "bool"]],
  ["metadata", ["decline", "string"]],
  ["direct", ["opt", "bool"]],
];

const STREAM_KEYS = new Set(PLAIN_STREAM.map(([k]) => k));
const CONSUMER_KEYS = new Set(PLAIN_CONSUMER.map(([k]) => k));

/** The parsed config, or undefined when zod must parse it. */
function parse(
  fields: ReadonlyArray<readonly [string, Field]>,
  known: ReadonlySet<string>,
  v: unknown,
): Record<string, unknown> | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const src = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, [mode, kind, def]] of fields) {
    const x = Object.hasOwn(src, key) ? src[key] : undefined;
    if (x === undefined) {
      if (mode === "def") out[key] = def;
      else if (mode === "list") out[key] = [];
      continue;
    }
    if (x === null) {
      if (mode === "nullish" || mode === "decline") out[key] = null;
      else if (mode === "list") out[key] = [];
      else return undefined;
      continue;
    }
    if (mode === "decline" || !fits(kind, x)) return undefined;
    // zod hands out arrays of its own.
    out[key] = Array.isArray(x) ? x.slice() : x;
  }
  for (const key of Object.keys(src)) {
    if (known.has(key)) continue;
    // A key JSON.parse made an own property that plain assignment would not (zod's copy defines it).
    if (key === "__proto__") return undefined;
    out[key] = src[key];
  }
  return out;
}

/** `streamConfigSchema.parse(v)` for a plain config, without zod; undefined: not plain, let zod parse it. */
export function plainStreamConfig(v: unknown): StreamConfig | undefined {
  return parse(PLAIN_STREAM, STREAM_KEYS, v) as StreamConfig | undefined;
}

/** `consumerConfigSchema.parse(v)` for a plain config, without zod; undefined: not plain, let zod parse it. */
export function plainConsumerConfig(v: unknown): ConsumerConfig | undefined {
  return parse(PLAIN_CONSUMER, CONSUMER_KEYS, v) as ConsumerConfig | undefined;
}
