// The options a Petrel server runs with: nats-server's key names, every default applied,
// durations in milliseconds, sizes in bytes. Produced by normalize.ts from a file and/or flags.

export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

export interface Permissions {
  publish?: SubjectPermission;
  subscribe?: SubjectPermission;
  /** Reply-subject permissions; `expires` in ms (0 = no expiry). */
  allow_responses?: { max: number; expires: number };
}

export interface UserEntry {
  /** The user name; for an nkey user, its public key. */
  user: string;
  password?: string;
  /** Public nkey ("U..."): the client proves it by signing the INFO nonce. */
  nkey?: string;
  permissions?: Permissions;
}

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
  gateways: { name: string; urls: string[] }[];
  authorization?: RouteAuthorization;
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
}

export interface LeafNodeOptions {
  host: string;
  /** 0 = no leafnode listener (remotes only); -1 = random. */
  port: number;
  advertise?: string;
  no_advertise: boolean;
  remotes: { urls: string[]; account?: string; credentials?: string }[];
}

export interface ServerOptions {
  /** "" = let the server generate one. */
  server_name: string;
  host: string;
  /** -1 = random. */
  port: number;
  client_advertise?: string;
  http_host: string;
  /** 0 = monitoring off; -1 = random. */
  http_port: number;
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
  no_auth_user?: string;
  authorization?: AuthorizationOptions;
  cluster?: ClusterOptions;
  jetstream?: JetStreamOptions;
  gateway?: GatewayOptions;
  websocket?: WebSocketOptions;
  leafnodes?: LeafNodeOptions;
}

