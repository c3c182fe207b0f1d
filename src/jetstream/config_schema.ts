/**
 * The zod schemas of JetStream's stream and consumer configs (nats-server's JSON: snake_case, durations in
 * nanoseconds). Loaded on demand (schemas_on_demand.ts): zod's code is the largest part of an idle JetStream
 * server's memory on Deno, and a server that is never asked to create a stream or consumer and has none stored
 * never needs it. Import the types from config.ts; reach the schemas through `jsSchemas()`.
 */
import { z } from "zod";

const int = z.number().int();
const ns = z.number().int();

// nats-server takes an `external` without `api` (the origin is then looked for on this API).
const externalSchema = z.looseObject({ api: z.string().optional(), deliver: z.string().optional() });
export const streamSourceSchema = z.looseObject({
  // nats-server takes a mirror or source without a name (it then feeds nothing).
  name: z.string().default(""),
  opt_start_seq: int.optional(),
  opt_start_time: z.string().optional(),
  filter_subject: z.string().optional(),
  external: externalSchema.optional(),
});

export const streamConfigSchema = z.looseObject({
  name: z.string().default(""),
  description: z.string().optional(),
  subjects: z.array(z.string()).nullish().transform((v) => v ?? []),
  retention: z.enum(["limits", "interest", "workqueue"]).default("limits"),
  max_consumers: int.default(-1),
  max_msgs: int.default(-1),
  max_bytes: int.default(-1),
  max_age: ns.default(0),
  max_msgs_per_subject: int.default(-1),
  max_msg_size: int.default(-1),
  discard: z.enum(["old", "new"]).default("old"),
  storage: z.enum(["file", "memory"]).default("file"),
  num_replicas: int.default(1),
  no_ack: z.boolean().default(false),
  duplicate_window: ns.default(0),
  mirror: streamSourceSchema.nullish(),
  sources: z.array(streamSourceSchema).nullish(),
  sealed: z.boolean().default(false),
  deny_delete: z.boolean().default(false),
  deny_purge: z.boolean().default(false),
  allow_rollup_hdrs: z.boolean().default(false),
  allow_direct: z.boolean().default(false),
  mirror_direct: z.boolean().default(false),
  discard_new_per_subject: z.boolean().optional(),
  republish: z.looseObject({ src: z.string().optional(), dest: z.string(), headers_only: z.boolean().optional() })
    .nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  placement: z.looseObject({}).nullish(),
  first_seq: int.optional(),
});

export const consumerConfigSchema = z.looseObject({
  durable_name: z.string().optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  deliver_subject: z.string().optional(),
  deliver_group: z.string().optional(),
  deliver_policy: z.enum(["all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"]).default(
    "all",
  ),
  opt_start_seq: int.optional(),
  opt_start_time: z.string().optional(),
  ack_policy: z.enum(["none", "all", "explicit"]).default("none"),
  ack_wait: ns.default(0),
  max_deliver: int.default(-1),
  backoff: z.array(ns).nullish(),
  filter_subject: z.string().optional(),
  filter_subjects: z.array(z.string()).nullish(),
  replay_policy: z.enum(["instant", "original"]).default("instant"),
  rate_limit_bps: int.optional(),
  sample_freq: z.string().optional(),
  max_waiting: int.default(0),
  max_ack_pending: int.default(0),
  flow_control: z.boolean().optional(),
  idle_heartbeat: ns.optional(),
  headers_only: z.boolean().optional(),
  max_batch: int.optional(),
  max_expires: ns.optional(),
  max_bytes: int.optional(),
  inactive_threshold: ns.optional(),
  num_replicas: int.default(0),
  mem_storage: z.boolean().optional(),
  metadata: z.record(z.string(), z.string()).nullish(),
  /** A mirror's or source's feed: left out of consumer listings and counts, as nats-server does. */
  direct: z.boolean().optional(),
});

/** Zod's first issue, worded like Go's json error so clients see something familiar. */
export function describeZodError(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return "invalid";
  const path = i.path.join(".");
  return path ? `${path}: ${i.message}` : i.message;
}
