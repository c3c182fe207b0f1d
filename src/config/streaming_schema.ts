// The zod schema of the `streaming {}` block, apart from streaming.ts so that normalizing options loads no zod
// (only validating a config file does).

import { z } from "zod";
import { toBytes, toDurationMs } from "./units.ts";

const confString = z.custom<string | number>((v) => typeof v === "string" || typeof v === "number", {
  error: "a string",
});
const confCount = z.custom<number>((v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0, {
  error: "a non-negative integer",
});
const confSize = z.custom<number | string>((v) => (toBytes(v) ?? -1) >= 0, { error: 'a size (e.g. 1024, "1MB")' });
const confDuration = z.custom<number | string>((v) => (toDurationMs(v) ?? -1) >= 0, {
  error: 'a duration (e.g. "30s", "24h")',
});
const STORE_WORDS = new Set(["file", "memory", "sqlite"]);
const confStore = z.custom<string>((v) => typeof v === "string" && STORE_WORDS.has(v.toLowerCase()), {
  error: 'one of "file", "memory", "sqlite" (the SQL store for MySQL/Postgres is not implemented by Petrel)',
});
const unsupported = z.unknown().optional();
const confStrings = z.custom<string[] | string>(
  (v) => typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")),
  { error: "a list of node IDs" },
);

/** nats-streaming-server's `cluster {}` block; the Raft tuning keys are accepted and left to Petrel's Raft. */
export const streamingClusterSchema = z.looseObject({
  node_id: z.custom<string | number>((v) => typeof v === "string" || typeof v === "number", { error: "a node ID" }).optional(),
  peers: confStrings.optional(),
  log_path: z.custom<string>((v) => typeof v === "string", { error: "a directory" }).optional(),
  bootstrap: z.boolean().optional(),
  sync: z.boolean().optional(),
  trailing_logs: z.unknown().optional(),
  raft_logging: z.unknown().optional(),
  raft_heartbeat_timeout: z.unknown().optional(),
  raft_election_timeout: z.unknown().optional(),
  raft_lease_timeout: z.unknown().optional(),
  raft_commit_timeout: z.unknown().optional(),
  proceed_on_restore_failure: z.unknown().optional(),
  allow_add_remove_node: z.unknown().optional(),
  log_cache_size: z.unknown().optional(),
  log_snapshots: z.unknown().optional(),
}, { error: "a map (cluster { node_id, peers, log_path })" });
const opt = <T extends z.ZodType>(t: T) => t.optional();

const limitKeys = {
  max_msgs: opt(confCount),
  mm: opt(confCount),
  max_bytes: opt(confSize),
  mb: opt(confSize),
  max_age: opt(confDuration),
  ma: opt(confDuration),
  max_subs: opt(confCount),
  msu: opt(confCount),
  max_subscriptions: opt(confCount),
  max_inactivity: opt(confDuration),
  mi: opt(confDuration),
};

const channelLimitsSchema = z.looseObject(limitKeys, {
  error: "a map (channel limits { max_msgs, max_bytes, max_age, max_subs, max_inactivity })",
});

export const storeLimitsSchema = z.looseObject({
  ...limitKeys,
  max_channels: opt(confCount),
  mc: opt(confCount),
  channels: opt(z.record(z.string(), channelLimitsSchema, { error: "a map of channel name to limits" })),
  channels_limits: opt(z.record(z.string(), channelLimitsSchema, { error: "a map of channel name to limits" })),
}, { error: "a map (store_limits { max_channels, max_msgs, max_bytes, max_age, max_subs, channels })" });

export const streamingSchema = z.looseObject({
  cluster_id: opt(confString),
  id: opt(confString),
  discover_prefix: opt(confString),
  store: opt(confStore),
  store_type: opt(confStore),
  st: opt(confStore),
  dir: opt(confString),
  datastore: opt(confString),
  hb_interval: opt(confDuration),
  hb_timeout: opt(confDuration),
  hb_fail_count: opt(confCount),
  store_limits: opt(storeLimitsSchema),
  limits: opt(storeLimitsSchema),
  cluster: opt(streamingClusterSchema),
  ft_group: opt(confString),
  ft_group_name: opt(confString),
  // Refused (not_implemented.ts): they change where or how messages are kept or who may connect.
  nats_server_url: unsupported,
  ns: unsupported,
  partitioning: unsupported,
  encrypt: unsupported,
  encryption_cipher: unsupported,
  encryption_key: unsupported,
  sql_options: unsupported,
  secure: unsupported,
  tls: unsupported,
  username: unsupported,
  user: unsupported,
  password: unsupported,
  token: unsupported,
  nkey_seed_file: unsupported,
  credentials: unsupported,
  // Tuning and logging: accepted and ignored.
  file_options: unsupported,
  sd: unsupported,
  stan_debug: unsupported,
  sv: unsupported,
  stan_trace: unsupported,
  ack_subs_pool_size: unsupported,
  ack_subscriptions_pool_size: unsupported,
  client_hb_interval: unsupported,
  server_hb_interval: unsupported,
  replace_durable: unsupported,
  syslog_name: unsupported,
}, { error: "a map (streaming { cluster_id, store, dir, store_limits })" });

export type RawStreaming = z.output<typeof streamingSchema>;
export type RawLimits = z.output<typeof channelLimitsSchema>;
