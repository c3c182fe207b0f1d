// The `streaming {}` block of NATS Streaming (nats-streaming-server's configuration, alongside the NATS options
// in one file): its raw schema, its normalized options and nats-streaming-server's defaults. Clustering
// (`cluster { node_id, peers, log_path }`) replicates the channels over Raft (src/stan/replication.ts). Fault
// tolerance (`ft_group`: servers sharing one store, one active, src/stan/ft.ts). The SQL store, encryption and
// connecting to a remote NATS server are not implemented: they are refused at start-up (not_implemented.ts).

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
type RawLimits = z.output<typeof channelLimitsSchema>;

/** Limits of one channel; 0 = unlimited. Sizes in bytes, durations in ms. */
export interface ChannelLimits {
  max_msgs: number;
  max_bytes: number;
  max_age: number;
  max_subs: number;
  /** A channel with no subscription and no new message for this long is deleted (0: never). */
  max_inactivity: number;
}

export interface StreamingOptions {
  cluster_id: string;
  discover_prefix: string;
  /** `sqlite` is Petrel's: the channels in an SQLite database under `dir`. */
  store: "file" | "memory" | "sqlite";
  /** Required for the file and SQLite stores. */
  dir: string;
  /** ms: how often the server checks a client is alive, how long it waits, how many misses close it. */
  hb_interval: number;
  hb_timeout: number;
  hb_fail_count: number;
  max_channels: number;
  limits: ChannelLimits;
  /** Per channel (the key may be a wildcard subject); unset values inherit the global limits. */
  channels: Record<string, Partial<ChannelLimits>>;
  /** Set in clustered mode. */
  cluster?: StreamingCluster;
  /** Fault-tolerance group: the servers sharing `dir` with this name; one is active, the others stand by. */
  ft_group?: string;
}

/** Clustered mode: this node's Raft identity, the other nodes, where the Raft log lives. */
export interface StreamingCluster {
  node_id: string;
  /** Every node of the STAN cluster, this one included, sorted. */
  peers: string[];
  /** Directory of the Raft log ("" with the memory store: the log stays in memory). */
  log_path: string;
  /** Petrel's (embedding and tests, not in conf files): entries between snapshots of the STAN state. */
  compact_every?: number;
}

/** The streaming block as set by a file or by flags (before defaults). */
export type StreamingLayer = Partial<Omit<StreamingOptions, "limits">> & Partial<ChannelLimits>;

/** nats-streaming-server's defaults. */
export const STREAMING_DEFAULTS = {
  cluster_id: "test-cluster",
  discover_prefix: "_STAN.discover",
  store: "memory",
  hb_interval: 30_000,
  hb_timeout: 10_000,
  hb_fail_count: 10,
  max_channels: 100,
  max_msgs: 1_000_000,
  max_bytes: 1024 * 1024 * 1000,
  max_age: 0,
  max_subs: 1000,
  max_inactivity: 0,
} as const;

function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function channelLimits(l: RawLimits): Partial<ChannelLimits> {
  const bytes = l.max_bytes ?? l.mb;
  const age = l.max_age ?? l.ma;
  const inactivity = l.max_inactivity ?? l.mi;
  return defined({
    max_msgs: l.max_msgs ?? l.mm,
    max_bytes: bytes === undefined ? undefined : toBytes(bytes),
    max_age: age === undefined ? undefined : toDurationMs(age),
    max_subs: l.max_subs ?? l.msu ?? l.max_subscriptions,
    max_inactivity: inactivity === undefined ? undefined : toDurationMs(inactivity),
  });
}

/** The file's streaming block as a layer (aliases resolved, units converted). */
export function streamingLayer(raw: RawStreaming): StreamingLayer {
  const st = raw.store ?? raw.store_type ?? raw.st;
  const l = raw.store_limits ?? raw.limits;
  const dir = raw.dir ?? raw.datastore;
  const id = raw.cluster_id ?? raw.id;
  const channels: Record<string, Partial<ChannelLimits>> = {};
  const cl = raw.cluster;
  const cluster: StreamingCluster | undefined = cl === undefined ? undefined : {
    node_id: cl.node_id === undefined ? "" : String(cl.node_id),
    peers: (typeof cl.peers === "string" ? cl.peers.split(",") : (cl.peers ?? [])).map((p) => String(p).trim()).filter((p) => p !== ""),
    log_path: cl.log_path ?? "",
  };
  for (const [name, c] of Object.entries(l?.channels ?? l?.channels_limits ?? {})) channels[name] = channelLimits(c);
  const ft = raw.ft_group ?? raw.ft_group_name;
  return defined({
    ft_group: ft === undefined ? undefined : String(ft),
    cluster_id: id === undefined ? undefined : String(id),
    discover_prefix: raw.discover_prefix === undefined ? undefined : String(raw.discover_prefix),
    store: st === undefined ? undefined : st.toLowerCase() as StreamingOptions["store"],
    dir: dir === undefined ? undefined : String(dir),
    hb_interval: raw.hb_interval === undefined ? undefined : toDurationMs(raw.hb_interval),
    hb_timeout: raw.hb_timeout === undefined ? undefined : toDurationMs(raw.hb_timeout),
    hb_fail_count: raw.hb_fail_count,
    max_channels: l?.max_channels ?? l?.mc,
    ...(l ? channelLimits(l) : {}),
    channels: Object.keys(channels).length > 0 ? channels : undefined,
    cluster,
  });
}

/** Defaults over a (merged) layer. */
export function streamingOptions(l: StreamingLayer): StreamingOptions {
  return {
    cluster_id: l.cluster_id ?? STREAMING_DEFAULTS.cluster_id,
    discover_prefix: l.discover_prefix ?? STREAMING_DEFAULTS.discover_prefix,
    store: l.store ?? STREAMING_DEFAULTS.store,
    dir: l.dir ?? "",
    hb_interval: l.hb_interval ?? STREAMING_DEFAULTS.hb_interval,
    hb_timeout: l.hb_timeout ?? STREAMING_DEFAULTS.hb_timeout,
    hb_fail_count: l.hb_fail_count ?? STREAMING_DEFAULTS.hb_fail_count,
    max_channels: l.max_channels ?? STREAMING_DEFAULTS.max_channels,
    limits: {
      max_msgs: l.max_msgs ?? STREAMING_DEFAULTS.max_msgs,
      max_bytes: l.max_bytes ?? STREAMING_DEFAULTS.max_bytes,
      max_age: l.max_age ?? STREAMING_DEFAULTS.max_age,
      max_subs: l.max_subs ?? STREAMING_DEFAULTS.max_subs,
      max_inactivity: l.max_inactivity ?? STREAMING_DEFAULTS.max_inactivity,
    },
    channels: l.channels ?? {},
    ...(l.ft_group !== undefined ? { ft_group: l.ft_group } : {}),
    ...(l.cluster
      ? {
        cluster: {
          node_id: l.cluster.node_id,
          peers: [...new Set([...l.cluster.peers, l.cluster.node_id])].filter((p) => p !== "").sort(),
          // nats-streaming-server keeps the Raft log apart from the store; Petrel defaults it under the store.
          log_path: l.cluster.log_path !== "" ? l.cluster.log_path : l.dir ? `${l.dir.replace(/\/+$/, "")}/raft` : "",
          ...(l.cluster.compact_every !== undefined ? { compact_every: l.cluster.compact_every } : {}),
        },
      }
      : {}),
  };
}

/** Why these options cannot run (naming the setting), or undefined. */
export function streamingProblem(o: StreamingOptions): string | undefined {
  if (o.store !== "memory" && o.dir === "") return `streaming: the ${o.store} store needs a directory (streaming { dir } or -dir)`;
  if (!/^[a-zA-Z0-9_-]+$/.test(o.cluster_id)) {
    return `streaming.cluster_id: invalid cluster ID "${o.cluster_id}" (only alphanumeric, "-" and "_")`;
  }
  if (o.ft_group !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(o.ft_group)) return `streaming.ft_group: invalid group name "${o.ft_group}" (only alphanumeric, "-" and "_")`;
    if (o.store === "memory") return "streaming.ft_group: fault tolerance needs a shared file or sqlite store (streaming { store, dir })";
    if (o.cluster) return "streaming.ft_group: fault tolerance and clustering cannot be combined";
  }
  const c = o.cluster;
  if (c) {
    if (c.node_id === "") return "streaming.cluster.node_id: clustered NATS Streaming needs this node's ID";
    if (!/^[A-Za-z0-9_-]+$/.test(c.node_id)) return `streaming.cluster.node_id: invalid node ID "${c.node_id}" (only alphanumeric, "-" and "_")`;
    const bad = c.peers.find((p) => !/^[A-Za-z0-9_-]+$/.test(p));
    if (bad !== undefined) return `streaming.cluster.peers: invalid node ID "${bad}"`;
    if (c.peers.length < 2) return "streaming.cluster.peers: clustered NATS Streaming needs the other nodes' IDs";
    if (o.store !== "memory" && c.log_path === "") return "streaming.cluster.log_path: the Raft log needs a directory";
    if (o.limits.max_inactivity > 0 || Object.values(o.channels).some((x) => (x.max_inactivity ?? 0) > 0)) {
      return "streaming.max_inactivity: deleting inactive channels is not implemented in clustered mode";
    }
  }
  return undefined;
}
