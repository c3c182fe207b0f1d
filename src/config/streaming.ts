// The `streaming {}` block of NATS Streaming (nats-streaming-server's configuration, alongside the NATS options
// in one file): its raw schema, its normalized options and nats-streaming-server's defaults. Clustering
// (`cluster {}`), fault tolerance (`ft_group`), the SQL store, encryption and connecting to a remote NATS server
// are not implemented: they are refused at start-up (not_implemented.ts), never ignored.

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
  // Refused (not_implemented.ts): they change where or how messages are kept or who may connect.
  cluster: unsupported,
  ft_group: unsupported,
  ft_group_name: unsupported,
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
  for (const [name, c] of Object.entries(l?.channels ?? l?.channels_limits ?? {})) channels[name] = channelLimits(c);
  return defined({
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
  };
}

/** Why these options cannot run (naming the setting), or undefined. */
export function streamingProblem(o: StreamingOptions): string | undefined {
  if (o.store !== "memory" && o.dir === "") return `streaming: the ${o.store} store needs a directory (streaming { dir } or -dir)`;
  if (!/^[a-zA-Z0-9_-]+$/.test(o.cluster_id)) {
    return `streaming.cluster_id: invalid cluster ID "${o.cluster_id}" (only alphanumeric, "-" and "_")`;
  }
  return undefined;
}
