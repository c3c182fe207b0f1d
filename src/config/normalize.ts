// From option layers to `ServerOptions`: flags laid over a file's layer (or over nothing), then nats-server's
// defaults (e.g. `-a HOST` must also move the monitoring host when the file does not set `http`). A file's raw
// values become a layer in layer_from_raw.ts, which a start from flags alone does not load (it brings the users,
// accounts and TLS block readers: every module a start loads costs it time and memory on both runtimes).

import type {
  AuthorizationOptions,
  ClusterOptions,
  GatewayOptions,
  JetStreamOptions,
  LeafNodeOptions,
  RouteAuthorization,
  ServerOptions,
  WebSocketOptions,
} from "./schema.ts";
import { DEFAULTS } from "./defaults.ts";
import type { StreamingLayer } from "./streaming.ts";
import type * as StreamingConfig from "./streaming.ts";
import type { TlsConfig } from "../tls/config.ts";

/**
 * The `streaming {}` block's defaults and checks (streaming.ts), loaded by whoever can bring one: a config file
 * with one (its readers, layer_from_raw.ts), NATS Streaming flags (start_options.ts, load_options.ts), options
 * given in code (mod.ts's startPetrel). A start without it loads none of that code; a block seen before it is
 * loaded is a bug.
 */
let streamingConfigCode: typeof StreamingConfig | undefined;

/** Load the streaming block's code (once). */
export async function loadStreamingConfig(): Promise<void> {
  streamingConfigCode ??= await import("./streaming.ts");
}

/** The streaming block's code; throws when nothing loaded it first (a bug in the caller). */
export function streamingConfig(): typeof StreamingConfig {
  if (streamingConfigCode === undefined) throw new Error("bug: a streaming block was read before loadStreamingConfig()");
  return streamingConfigCode;
}

type Scalars = Omit<ServerOptions, "authorization" | "cluster" | "jetstream" | "streaming" | "gateway" | "websocket" | "leafnodes" | "tls">;

/** Explicitly set values (from a file or from flags), before defaults. */
export type OptionLayer = Partial<Scalars> & {
  authorization?: Partial<AuthorizationOptions> & { timeout?: number };
  cluster?: Partial<ClusterOptions>;
  jetstream?: Partial<JetStreamOptions>;
  streaming?: StreamingLayer;
  gateway?: Partial<GatewayOptions>;
  websocket?: Partial<WebSocketOptions>;
  leafnodes?: Partial<LeafNodeOptions>;
  tls?: Partial<TlsConfig>;
};

/** `o` without its undefined keys (in place). */
export function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// --- layers -> options -------------------------------------------------------------------------

const NESTED = ["authorization", "cluster", "jetstream", "streaming", "gateway", "websocket", "leafnodes", "tls"] as const;

/** Lay `top` over `base`: scalars replace, blocks merge key by key (lists replace). */
export function mergeLayers(base: OptionLayer, top: OptionLayer): OptionLayer {
  const out: OptionLayer = { ...base, ...top };
  for (const k of NESTED) {
    if (base[k] && top[k]) Object.assign(out, { [k]: { ...base[k], ...top[k] } });
  }
  return out;
}

/** Apply nats-server's defaults to a (merged) layer. */
export function applyDefaults(l: OptionLayer): ServerOptions {
  const host = l.host ?? DEFAULTS.host;
  const opts: ServerOptions = {
    server_name: l.server_name ?? "",
    ...(l.server_tags !== undefined ? { server_tags: l.server_tags } : {}),
    host,
    port: l.port ?? DEFAULTS.port,
    http_host: l.http_host ?? host,
    http_port: l.http_port ?? DEFAULTS.http_port,
    max_payload: l.max_payload ?? DEFAULTS.max_payload,
    max_pending: l.max_pending ?? DEFAULTS.max_pending,
    max_control_line: l.max_control_line ?? DEFAULTS.max_control_line,
    max_connections: l.max_connections ?? DEFAULTS.max_connections,
    max_subscriptions: l.max_subscriptions ?? DEFAULTS.max_subscriptions,
    ping_interval: l.ping_interval ?? DEFAULTS.ping_interval,
    ping_max: l.ping_max ?? DEFAULTS.ping_max,
    write_deadline: l.write_deadline ?? DEFAULTS.write_deadline,
    // nats-server: with TLS the default auth timeout is the TLS timeout plus a second (the handshake comes first)
    auth_timeout: l.auth_timeout ?? (l.tls !== undefined ? (l.tls.timeout ?? DEFAULTS.tls_timeout) + 1000 : DEFAULTS.auth_timeout),
    lame_duck_duration: l.lame_duck_duration ?? DEFAULTS.lame_duck_duration,
    lame_duck_grace_period: l.lame_duck_grace_period ?? DEFAULTS.lame_duck_grace_period,
    debug: l.debug ?? false,
    trace: l.trace ?? false,
    logtime: l.logtime ?? DEFAULTS.logtime,
  };
  if (l.client_advertise !== undefined) opts.client_advertise = l.client_advertise;
  if (l.https_port !== undefined && l.https_port !== 0) opts.https_port = l.https_port;
  if (l.operator !== undefined) opts.operator = l.operator;
  if (l.log_file !== undefined) opts.log_file = l.log_file;
  if (l.pid_file !== undefined) opts.pid_file = l.pid_file;
  if (l.ports_file_dir !== undefined) opts.ports_file_dir = l.ports_file_dir;
  if (l.no_auth_user !== undefined) opts.no_auth_user = l.no_auth_user;
  if (l.accounts !== undefined) opts.accounts = l.accounts;
  if (l.system_account !== undefined) opts.system_account = l.system_account;
  if (l.authorization) {
    const a = l.authorization;
    opts.authorization = defined({
      user: a.user,
      password: a.password,
      token: a.token,
      users: a.users ?? [],
      permissions: a.permissions,
    });
  }
  const routeAuth = (a: Partial<RouteAuthorization> | undefined): RouteAuthorization | undefined =>
    a ? defined({ user: a.user, password: a.password, token: a.token, timeout: a.timeout ?? DEFAULTS.auth_timeout }) : undefined;
  if (l.cluster) {
    const c = l.cluster;
    opts.cluster = defined({
      name: c.name,
      host: c.host ?? DEFAULTS.host,
      port: c.port ?? DEFAULTS.cluster_port,
      advertise: c.advertise,
      no_advertise: c.no_advertise ?? false,
      routes: c.routes ?? [],
      authorization: routeAuth(c.authorization),
      connect_retries: c.connect_retries ?? 0,
      tls: c.tls,
    });
  }
  if (l.jetstream) {
    const j = l.jetstream;
    opts.jetstream = defined({
      enabled: j.enabled ?? false,
      store_dir: j.store_dir ?? "",
      max_memory_store: j.max_memory_store ?? -1,
      max_file_store: j.max_file_store ?? -1,
      domain: j.domain,
      sync_interval: j.sync_interval,
      storage: j.storage ?? DEFAULTS.jetstream_storage,
    });
  }
  if (l.streaming) opts.streaming = streamingConfig().streamingOptions(l.streaming);
  if (l.gateway) {
    const g = l.gateway;
    opts.gateway = defined({
      name: g.name ?? "",
      host: g.host ?? DEFAULTS.host,
      port: g.port ?? 0,
      advertise: g.advertise,
      gateways: g.gateways ?? [],
      authorization: routeAuth(g.authorization),
      reject_unknown_cluster: g.reject_unknown_cluster ?? false,
      tls: g.tls,
    });
  }
  if (l.websocket) {
    const w = l.websocket;
    opts.websocket = defined({
      host: w.host ?? DEFAULTS.host,
      port: w.port ?? 0,
      no_tls: w.no_tls ?? false,
      same_origin: w.same_origin ?? false,
      allowed_origins: w.allowed_origins ?? [],
      compression: w.compression ?? false,
      handshake_timeout: w.handshake_timeout ?? DEFAULTS.websocket_handshake_timeout,
      advertise: w.advertise,
      tls: w.tls,
      authorization: w.authorization,
      no_auth_user: w.no_auth_user,
    });
  }
  if (l.leafnodes) {
    const f = l.leafnodes;
    opts.leafnodes = defined({
      host: f.host ?? DEFAULTS.host,
      port: f.port ?? 0,
      advertise: f.advertise,
      no_advertise: f.no_advertise ?? false,
      remotes: f.remotes ?? [],
      tls: f.tls,
      authorization: f.authorization,
    });
  }
  if (l.tls) {
    const t = l.tls;
    opts.tls = defined({
      cert_file: t.cert_file,
      key_file: t.key_file,
      ca_file: t.ca_file,
      verify: (t.verify ?? false) || (t.verify_and_map ?? false),
      verify_and_map: t.verify_and_map ?? false,
      insecure: t.insecure ?? false,
      timeout: t.timeout ?? DEFAULTS.tls_timeout,
      min_version: t.min_version,
    });
  }
  return opts;
}
