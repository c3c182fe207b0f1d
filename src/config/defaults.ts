/**
 * nats-server 2.9 defaults, apart from the schemas so that a start-up with flags only (no config file) loads no
 * zod: the schema library is the largest part of an idle server's memory.
 */

/** nats-server 2.9 defaults (server/const.go), in bytes and milliseconds. */
export const DEFAULTS = {
  host: "0.0.0.0",
  port: 4222,
  http_port: 0,
  max_payload: 1024 * 1024,
  max_pending: 64 * 1024 * 1024,
  max_control_line: 4096,
  max_connections: 64 * 1024,
  max_subscriptions: 0,
  ping_interval: 120_000,
  ping_max: 2,
  write_deadline: 10_000,
  auth_timeout: 2_000,
  /** The TLS handshake's deadline (TLS_TIMEOUT); with TLS the auth timeout defaults to it plus a second. */
  tls_timeout: 2_000,
  lame_duck_duration: 120_000,
  lame_duck_grace_period: 10_000,
  logtime: true,
  cluster_port: 0,
  websocket_handshake_timeout: 2_000,
  jetstream_storage: "file",
} as const;
