// The options a Petrel server runs with: nats-server's key names, every default applied,
// durations in milliseconds, sizes in bytes. Produced by normalize.ts from a file and/or flags.

// Users and permissions share their schema with accounts (account_options.ts): types come from the zod schemas.
export type { Permissions, SubjectPermission, UserEntry } from "./account_options.ts";
import type { AccountsOptions, Permissions, UserEntry } from "./account_options.ts";

import type { TlsConfig } from "../tls/config.ts";
import type { StreamingOptions } from "./streaming.ts";
export type { TlsConfig } from "../tls/config.ts";

export interface AuthorizationOptions {
  user?: string;
  password?: string;
  token?: string;
  users: UserEntry[];
  /** Permissions of the single user/password or token client. */
  permissions?: Permissions;
}

export interface RouteAuthorization {
  user?: string;
  password?: string;
  token?: string;
  /** ms */
  timeout: number;
}

export interface ClusterOptions {
  name?: string;
  host: string;
  /** 0 = no route listener (routes are only solicited); -1 = random. */
  port: number;
  advertise?: string;
  no_advertise: boolean;
  routes: string[];
  authorization?: RouteAuthorization;
  /** TLS on every route, both ways (the handshake comes first, as nats-server). */
  tls?: TlsConfig;
  connect_retries: number;
}

export interface JetStreamOptions {
  enabled: boolean;
  /** "" = let the server choose (nats-server: <tmp>/nats/jetstream). */
  store_dir: string;
  /** bytes; -1 = decided by the server (nats-server: 75% of RAM). */
  max_memory_store: number;
  /** bytes; -1 = decided by the server (nats-server: up to 1TB of disk). */
  max_file_store: number;
  domain?: string;
  /** ms, or "always" (fsync every write). */
  sync_interval?: number | "always";
  /** Petrel extension: storage backend. */
  storage: "file" | "sqlite" | "memory";
}

export interface GatewayOptions {
  name: string;
  host: string;
  /** 0 = no gateway listener; -1 = random. */
  port: number;
  advertise?: string;
  /** `tls`: this remote's own block, used to dial it (the gateway-level block otherwise). */
  gateways: { name: string; urls: string[]; tls?: TlsConfig }[];
  authorization?: RouteAuthorization;
  /** TLS on every gateway connection, both ways. */
  tls?: TlsConfig;
  reject_unknown_cluster: boolean;
}

export interface WebSocketOptions {
  host: string;
  /** 0 = WebSocket off; -1 = random. */
  port: number;
  no_tls: boolean;
  same_origin: boolean;
  allowed_origins: string[];
  compression: boolean;
  /** ms */
  handshake_timeout: number;
  advertise?: string;
  /** wss:// with this certificate (client certificates are not asked for: verify is refused). */
  tls?: TlsConfig;
  /** Credentials WebSocket clients must present instead of the server's (one user or a token). */
  authorization?: WebSocketAuthorization;
  /** A user of the server's to sign in WebSocket clients that present no credentials as. */
  no_auth_user?: string;
}

export interface WebSocketAuthorization {
  user?: string;
  password?: string;
  token?: string;
  /** ms */
  timeout?: number;
}

/** Who may connect as a leafnode; each user bound to an account (`$G` when none is named). */
export interface LeafNodeAuthorization {
  user?: string;
  password?: string;
  /** The account of the single `user`. */
  account?: string;
  /** ms */
  timeout?: number;
  users: { user: string; password?: string; account?: string }[];
}

export interface LeafNodeOptions {
  host: string;
  /** 0 = no leafnode listener (remotes only); -1 = random. */
  port: number;
  advertise?: string;
  no_advertise: boolean;
  remotes: { urls: string[]; account?: string; credentials?: string; tls?: TlsConfig }[];
  /** TLS on the hub listener: plain INFO with tls_required, then the leaf upgrades. */
  tls?: TlsConfig;
  authorization?: LeafNodeAuthorization;
}

export interface OperatorOptions {
  /** Operator JWTs, or paths of files holding them (read at start). */
  operators: string[];
  /** MEMORY (resolver_preload only), or the NATS-based full resolver storing account JWTs in `dir`. */
  resolver: "MEMORY" | { type: "full"; dir: string; allow_delete: boolean };
  /** Account public key -> account JWT. */
  resolver_preload: Record<string, string>;
}

export interface ServerOptions {
  /** "" = let the server generate one. */
  server_name: string;
  /** `server_tags`: this server's placement tags (JetStream clusters place replicas by them), lower-cased. */
  server_tags?: string[];
  host: string;
  /** -1 = random. */
  port: number;
  client_advertise?: string;
  http_host: string;
  /** 0 = monitoring off; -1 = random. */
  http_port: number;
  /** Monitoring over HTTPS with the tls {} block's certificate (0/absent = off; -1 = random). */
  https_port?: number;
  max_payload: number;
  max_pending: number;
  max_control_line: number;
  max_connections: number;
  /** 0 = unlimited. */
  max_subscriptions: number;
  /** ms */
  ping_interval: number;
  ping_max: number;
  /** ms */
  write_deadline: number;
  /** ms, from authorization.timeout (seconds). */
  auth_timeout: number;
  /** ms */
  lame_duck_duration: number;
  /** ms */
  lame_duck_grace_period: number;
  debug: boolean;
  trace: boolean;
  logtime: boolean;
  log_file?: string;
  pid_file?: string;
  ports_file_dir?: string;
  /** A user (in `authorization.users` or an account) that clients without credentials are bound to. */
  no_auth_user?: string;
  authorization?: AuthorizationOptions;
  /** `accounts {}`: name -> users, exports, imports, JetStream limits (see account_options.ts). */
  accounts?: AccountsOptions;
  /** The system account's name when set in the file (default "$SYS", created implicitly). */
  system_account?: string;
  cluster?: ClusterOptions;
  jetstream?: JetStreamOptions;
  /** NATS Streaming (STAN) served on top of the stream engine: `streaming {}` or its flags. */
  streaming?: StreamingOptions;
  gateway?: GatewayOptions;
  websocket?: WebSocketOptions;
  leafnodes?: LeafNodeOptions;
  /** Operator (JWT) mode: `operator`, `resolver: MEMORY`, `resolver_preload`. */
  operator?: OperatorOptions;
  /** TLS on the client listener (plain INFO, then the client upgrades). */
  tls?: TlsConfig;
}

