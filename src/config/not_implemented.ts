// The ONE list of configuration keys nats-server accepts that Petrel does not implement yet and that must not
// be ignored: security (TLS, operator/JWT, authorization in places not enforced yet, account features that
// would otherwise silently widen or narrow what crosses an account boundary). A file that sets one of them
// refuses to start, naming the key, its file and line - never "warn and run unprotected".
//
// When you implement one: give the key its real schema in schema.ts (and normalize.ts), then delete its entry
// here. Keys that are safe to ignore (tuning) stay `unsupported` in schema.ts and only warn.
//
// Path syntax: canonical (lower-case) key names joined by ".", "[]" for any list item, "*" for any map key
// (account names). `ws` and `leaf` are matched as their aliases `websocket` and `leafnodes`.

import type { ConfPath } from "./types.ts";

export interface NotImplementedKey {
  path: string;
  /** What the key turns on, for the error text. */
  what: string;
  /** The engineer expected to implement it (and delete the entry). */
  owner: "tls" | "accounts" | "acconfig" | "jsacc" | "stan";
}

export const NOT_IMPLEMENTED: readonly NotImplementedKey[] = [
  // --- TLS (tls) ---
  { path: "allow_non_tls", what: "mixed TLS/plain client connections", owner: "tls" },
  { path: "ocsp", what: "OCSP stapling", owner: "tls" },
  // --- operator / JWT (tls) ---
  { path: "trusted", what: "trusted operator keys", owner: "tls" },
  { path: "trusted_keys", what: "trusted operator keys", owner: "tls" },
  { path: "resolver_tls", what: "TLS for the account resolver", owner: "tls" },
  // --- authorization not enforced yet (accounts) ---
  { path: "websocket.jwt_cookie", what: "WebSocket JWT cookie authentication", owner: "accounts" },
  { path: "leafnodes.remotes[].deny_imports", what: "leafnode remote permissions", owner: "accounts" },
  { path: "leafnodes.remotes[].deny_exports", what: "leafnode remote permissions", owner: "accounts" },
  { path: "cluster.authorization.users", what: "multiple route users", owner: "accounts" },
  { path: "gateway.authorization.users", what: "multiple gateway users", owner: "accounts" },
  { path: "cluster.permissions", what: "route import/export permissions", owner: "accounts" },
  { path: "authorization.nkeys", what: "the nkeys list", owner: "accounts" },
  { path: "authorization.auth_callout", what: "auth callout", owner: "accounts" },
  { path: "authorization.users[].account", what: "binding an authorization user to an account", owner: "accounts" },
  { path: "accounts.*.users[].account", what: "binding a user to another account", owner: "accounts" },
  { path: "authorization.users[].allowed_connection_types", what: "per-user connection types", owner: "accounts" },
  { path: "authorization.users[].connection_types", what: "per-user connection types", owner: "accounts" },
  { path: "authorization.users[].clients", what: "per-user connection types", owner: "accounts" },
  // --- account features (accounts / jsacc) ---
  { path: "accounts.*.users[].allowed_connection_types", what: "per-user connection types", owner: "accounts" },
  { path: "accounts.*.users[].connection_types", what: "per-user connection types", owner: "accounts" },
  { path: "accounts.*.users[].clients", what: "per-user connection types", owner: "accounts" },
  { path: "accounts.*.nkey", what: "account nkeys", owner: "accounts" },
  { path: "accounts.*.mappings", what: "account subject mappings", owner: "accounts" },
  { path: "accounts.*.maps", what: "account subject mappings", owner: "accounts" },
  { path: "accounts.*.limits", what: "account connection/subscription/payload limits", owner: "accounts" },
  { path: "accounts.*.exports[].latency", what: "service latency tracking", owner: "accounts" },
  { path: "accounts.*.exports[].account_token_position", what: "account token position in exports", owner: "accounts" },
  { path: "accounts.*.imports[].share", what: "sharing requester information with a service", owner: "accounts" },
  { path: "accounts.*.jetstream.max_bytes_required", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.max_stream_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.max_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.mem_max_stream_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.memory_max_stream_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.disk_max_stream_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.store_max_stream_bytes", what: "JetStream account limit", owner: "jsacc" },
  { path: "accounts.*.jetstream.max_ack_pending", what: "JetStream account limit", owner: "jsacc" },
  // --- JetStream encryption at rest ---
  { path: "jetstream.key", what: "JetStream encryption at rest", owner: "jsacc" },
  { path: "jetstream.ek", what: "JetStream encryption at rest", owner: "jsacc" },
  { path: "jetstream.encryption_key", what: "JetStream encryption at rest", owner: "jsacc" },
  { path: "jetstream.cipher", what: "JetStream encryption at rest", owner: "jsacc" },
  // --- NATS Streaming (stan) ---
  { path: "streaming.nats_server_url", what: "NATS Streaming on a remote NATS server", owner: "stan" },
  { path: "streaming.ns", what: "NATS Streaming on a remote NATS server", owner: "stan" },
  { path: "streaming.partitioning", what: "NATS Streaming partitioning", owner: "stan" },
  { path: "streaming.encrypt", what: "NATS Streaming encryption at rest", owner: "stan" },
  { path: "streaming.encryption_cipher", what: "NATS Streaming encryption at rest", owner: "stan" },
  { path: "streaming.encryption_key", what: "NATS Streaming encryption at rest", owner: "stan" },
  { path: "streaming.sql_options", what: "the NATS Streaming SQL store", owner: "stan" },
  { path: "streaming.secure", what: "TLS for NATS Streaming's own connection", owner: "stan" },
  { path: "streaming.tls", what: "TLS for NATS Streaming's own connection", owner: "stan" },
  { path: "streaming.username", what: "NATS Streaming's own credentials", owner: "stan" },
  { path: "streaming.user", what: "NATS Streaming's own credentials", owner: "stan" },
  { path: "streaming.password", what: "NATS Streaming's own credentials", owner: "stan" },
  { path: "streaming.token", what: "NATS Streaming's own credentials", owner: "stan" },
  { path: "streaming.nkey_seed_file", what: "NATS Streaming's own credentials", owner: "stan" },
  { path: "streaming.credentials", what: "NATS Streaming's own credentials", owner: "stan" },
];

const ALIASES: Record<string, string> = { ws: "websocket", leaf: "leafnodes" };

function patternOf(path: ConfPath): string[] {
  return path.map((p, i) => {
    if (typeof p === "number") return "[]";
    const k = p.toLowerCase();
    return i === 0 ? (ALIASES[k] ?? k) : k;
  });
}

function split(pattern: string): string[] {
  // No regex: this runs at every start, and the first regex run is +1-2 MB of resident JIT code (measured with Bun).
  return pattern.split("[]").join(".[]").split(".");
}

// Built on first use (a config file's keys): a plain start never needs it, and a callback per entry at every
// start got the callback and split compiled by Bun's baseline JIT (its code then stays resident).
let table: { key: NotImplementedKey; parts: string[] }[] | undefined;

/** The entry refusing this canonical key path, if any. */
export function notImplementedAt(path: ConfPath): NotImplementedKey | undefined {
  const parts = patternOf(path);
  table ??= NOT_IMPLEMENTED.map((k) => ({ key: k, parts: split(k.path) }));
  for (const { key, parts: want } of table) {
    if (want.length !== parts.length) continue;
    if (want.every((w, i) => w === parts[i] || (w === "*" && parts[i] !== "[]"))) return key;
  }
  return undefined;
}

/** The refusal text for a key (its label as written, e.g. "cluster.tls"). */
export function notImplementedMessage(label: string, k: NotImplementedKey): string {
  return `${label}: ${k.what} is not implemented by Petrel yet; refusing to start without it (remove "${label}" to run without it)`;
}

/**
 * Security blocks where an unknown key is refused instead of warned about (as nats-server refuses every unknown
 * key): a misspelt `permissions` or JetStream limit would otherwise leave a user or an account unrestricted.
 */
export const STRICT_BLOCKS: readonly string[] = [
  "authorization",
  "accounts",
  "cluster.authorization",
  "gateway.authorization",
  "websocket.authorization",
  "leafnodes.authorization",
];

let strict: string[][] | undefined;

/** Is this canonical key path inside a strict block? */
export function inStrictBlock(path: ConfPath): boolean {
  const parts = patternOf(path);
  strict ??= STRICT_BLOCKS.map(split);
  return strict.some((want) => want.length <= parts.length && want.every((w, i) => w === parts[i]));
}

/**
 * Options that the configuration reads and checks completely (so `-t` reports every mistake in them) but
 * whose runtime has not landed yet: the server must still refuse to start with them. `find` returns the key
 * paths (for file:line) where the options use it. Delete the entry when the runtime lands (the `accounts`
 * engineer: imports, once they route across accounts).
 */
export const RUNTIME_NOT_IMPLEMENTED: readonly {
  key: string;
  what: string;
  owner: NotImplementedKey["owner"];
  find(options: { accounts?: Record<string, { imports?: unknown[] }> }): ConfPath[];
}[] = [
];

/** Options set but not implemented at runtime yet: where (key path) and the refusal text (without file:line). */
export function runtimeRefusals(options: { accounts?: Record<string, { imports?: unknown[] }> }): { path: ConfPath; key: string; message: string }[] {
  return RUNTIME_NOT_IMPLEMENTED.flatMap((r) =>
    r.find(options).map((path) => {
      const key = path.join(".");
      return {
        path,
        key,
        message: `${key}: ${r.what} is not implemented by Petrel yet; refusing to start without it (remove "${key}" to run without it)`,
      };
    })
  );
}

/**
 * The command-line flags that turn on something Petrel does not implement are refused too: they are listed in
 * src/cli/flags.ts (NOT_IMPLEMENTED_FLAGS), so that a start from flags does not load this module's key tables.
 */
export { NOT_IMPLEMENTED_FLAGS } from "../cli/flags.ts";
