// The `streaming {}` block of NATS Streaming (nats-streaming-server's configuration, alongside the NATS options
// in one file): its raw schema, its normalized options and nats-streaming-server's defaults. Clustering
// (`cluster { node_id, peers, log_path }`) replicates the channels over Raft (src/stan/replication.ts). Fault
// tolerance (`ft_group`: servers sharing one store, one active, src/stan/ft.ts). The SQL store, encryption and
// connecting to a remote NATS server are not implemented: they are refused at start-up (not_implemented.ts).

import type { RawLimits, RawStreaming } from "./streaming_schema.ts";
import { toBytes, toDurationMs } from "./units.ts";

export type { RawStreaming } from "./streaming_schema.ts";

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
