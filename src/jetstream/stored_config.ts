/**
 * A zod-free structural check of the stream and consumer configs Petrel stored itself (engine recovery). They were
 * written after the zod schemas (config_schema.ts) validated them, so a restart that only reads needs no zod: on
 * Deno, loading zod's code costs ~12 MB resident. Each field the schema defaults is checked for its type and
 * filled with the schema's default when a store from an older version lacks it; optional fields are checked when
 * present. What does not pass is reported (errors as values) and the caller fails loudly, naming the stream.
 * test/jetstream/stored_config.test.ts keeps this table in step with the schemas.
 */
import type { ConsumerConfig, StreamConfig } from "./config.ts";
import { fits, isObject, type Kind } from "./config_kinds.ts";

/** [kind, default]: a field with a default must be there (or is filled); one without may be absent or null. */
type Field = readonly [Kind, unknown?];

const STREAM: Record<string, Field> = {
  name: ["string", ""],
  description: ["string"],
  subjects: ["strings", []],
  retention: [["limits", "interest", "workqueue"], "limits"],
  max_consumers: ["int", -1],
  max_msgs: ["int", -1],
  max_bytes: ["int", -1],
  max_age: ["int", 0],
  max_msgs_per_subject: ["int", -1],
  max_msg_size: ["int", -1],
  discard: [["old", "new"], "old"],
  storage: [["file", "memory"], "file"],
  num_replicas: ["int", 1],
  no_ack: ["bool", false],
  duplicate_window: ["int", 0],
  mirror: ["object"],
  sources: ["objects"],
  sealed: ["bool", false],
  deny_delete: ["bool", false],
  deny_purge: ["bool", false],
  allow_rollup_hdrs: ["bool", false],
  allow_direct: ["bool", false],
  mirror_direct: ["bool", false],
  discard_new_per_subject: ["bool"],
  republish: ["object"],
  metadata: ["object"],
  placement: ["object"],
  first_seq: ["int"],
};

const CONSUMER: Record<string, Field> = {
  durable_name: ["string"],
  name: ["string"],
  description: ["string"],
  deliver_subject: ["string"],
  deliver_group: ["string"],
  deliver_policy: [["all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"], "all"],
  opt_start_seq: ["int"],
  opt_start_time: ["string"],
  ack_policy: [["none", "all", "explicit"], "none"],
  ack_wait: ["int", 0],
  max_deliver: ["int", -1],
  backoff: ["ints"],
  filter_subject: ["string"],
  filter_subjects: ["strings"],
  replay_policy: [["instant", "original"], "instant"],
  rate_limit_bps: ["int"],
  sample_freq: ["string"],
  max_waiting: ["int", 0],
  max_ack_pending: ["int", 0],
  flow_control: ["bool"],
  idle_heartbeat: ["int"],
  headers_only: ["bool"],
  max_batch: ["int"],
  max_expires: ["int"],
  max_bytes: ["int"],
  inactive_threshold: ["int"],
  num_replicas: ["int", 0],
  mem_storage: ["bool"],
  metadata: ["object"],
  direct: ["bool"],
};

/** The checked config with its defaults filled, or what is wrong with it. */
function check(fields: Record<string, Field>, v: unknown): { config: Record<string, unknown> } | { error: string } {
  if (!isObject(v)) return { error: "not a JSON object" };
  const out: Record<string, unknown> = { ...v };
  for (const [key, [kind, def]] of Object.entries(fields)) {
    const x = out[key];
    // The schema's `subjects` turns null into []; its other nullish fields keep what they were given.
    if (x === null && key === "subjects") {
      out[key] = [];
      continue;
    }
    if (x === undefined || (x === null && def === undefined)) {
      if (def !== undefined) out[key] = structuredClone(def);
      continue;
    }
    if (!fits(kind, x)) return { error: `${key}: ${JSON.stringify(x)} is not ${typeof kind === "string" ? kind : kind.join("|")}` };
  }
  return { config: out };
}

export function checkStoredStreamConfig(v: unknown): { config: StreamConfig } | { error: string } {
  const r = check(STREAM, v);
  return "error" in r ? r : { config: r.config as unknown as StreamConfig };
}

export function checkStoredConsumerConfig(v: unknown): { config: ConsumerConfig } | { error: string } {
  const r = check(CONSUMER, v);
  return "error" in r ? r : { config: r.config as unknown as ConsumerConfig };
}
