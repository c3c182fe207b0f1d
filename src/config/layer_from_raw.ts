// From a validated raw configuration file to an option layer (normalize.ts lays flags over it and applies the
// defaults): aliases resolved, sizes in bytes, durations in ms, users, accounts and TLS blocks read, cross-key
// problems reported with file:line. Loaded with the config file code (src/config/load.ts), not by a start from
// flags alone. The readers of the blocks a file may not have (users and permissions, accounts, streaming, TLS)
// load on demand (loadConfigReaders, from load.ts): a file without them (the benchmarks' port and monitoring
// port) loads none of their code.

import type { GatewayOptions, LeafNodeOptions, RawConfig, RouteAuthorization, ServerOptions, UserEntry } from "./schema.ts";
import { parseListen, toBytes, toDurationMs } from "./units.ts";
import type * as Users from "./users.ts";
import type * as Accounts from "./accounts.ts";
import type * as Streaming from "./streaming.ts";
import type * as TlsConfigCode from "../tls/config.ts";
import type { RawTlsBlock, TlsConfig } from "../tls/config.ts";
import type { ConfigError, ConfPath, Result, SourceLoc } from "./types.ts";
import { defined, loadStreamingConfig, type OptionLayer } from "./normalize.ts";

// --- the readers of optional blocks, loaded on demand ----------------------------------------------

interface ConfigReaders {
  users: typeof Users;
  accounts: typeof Accounts;
  streaming: typeof Streaming;
  tls: typeof TlsConfigCode;
}

type ReaderName = keyof ConfigReaders;

const readers: Partial<ConfigReaders> = {};

/** Does any block of `v` (to a small depth) have a `tls` key: the client's, a route's, a remote's, websocket's... */
function hasTlsBlock(v: unknown, depth = 0): boolean {
  if (depth > 6 || v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some((x) => hasTlsBlock(x, depth + 1));
  for (const [k, x] of Object.entries(v)) {
    if (k === "tls" && x !== undefined) return true;
    if (hasTlsBlock(x, depth + 1)) return true;
  }
  return false;
}

/** The readers layerFromRaw needs for this file (a superset is fine). */
function readersFor(raw: RawConfig): ReaderName[] {
  const out: ReaderName[] = [];
  const a = raw.authorization;
  if (a?.users !== undefined || a?.permissions !== undefined || a?.default_permissions !== undefined) out.push("users");
  if (raw.accounts !== undefined || raw.system_account !== undefined || raw.system !== undefined || raw.no_auth_user !== undefined) {
    out.push("accounts");
  }
  if (raw.streaming !== undefined) out.push("streaming");
  if (hasTlsBlock(raw)) out.push("tls");
  return out;
}

/** Load the readers a file needs (every one without `raw`: tools and tests that read files of any kind). */
export async function loadConfigReaders(raw?: RawConfig): Promise<void> {
  const want = raw === undefined ? (["users", "accounts", "streaming", "tls"] as const) : readersFor(raw);
  await Promise.all(want.map(async (name) => {
    if (readers[name] !== undefined) return;
    if (name === "users") readers.users = await import("./users.ts");
    else if (name === "accounts") readers.accounts = await import("./accounts.ts");
    else if (name === "streaming") {
      readers.streaming = await import("./streaming.ts");
      await loadStreamingConfig(); // the same module: normalize.ts applies the block's defaults
    } else readers.tls = await import("../tls/config.ts");
  }));
}

/** Are the readers this file needs loaded (load.ts refuses a file read after its check found fewer blocks)? */
export function configReadersLoaded(raw: RawConfig): boolean {
  return readersFor(raw).every((name) => readers[name] !== undefined);
}

function reader<K extends ReaderName>(name: K): ConfigReaders[K] {
  const r = readers[name];
  if (r === undefined) throw new Error(`bug: the config file's ${name} reader was used before loadConfigReaders()`);
  return r as ConfigReaders[K];
}

// --- small converters (inputs are already validated by the schema) -----------------------------

function str(v: string | number | undefined): string | undefined {
  return v === undefined ? undefined : String(v);
}
function bool(v: boolean | string | undefined): boolean | undefined {
  if (v === undefined || typeof v === "boolean") return v;
  return ["true", "yes", "on"].includes(v.toLowerCase());
}
function bytes(v: number | string | undefined): number | undefined {
  return v === undefined ? undefined : toBytes(v);
}
function ms(v: number | string | undefined): number | undefined {
  return v === undefined ? undefined : toDurationMs(v);
}
function list(v: string | (string | number)[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return typeof v === "string" ? [v] : v.map(String);
}

type RawRouteAuth = NonNullable<NonNullable<RawConfig["cluster"]>["authorization"]>;

function routeAuthorization(a: RawRouteAuth): Partial<RouteAuthorization> {
  return defined({
    user: str(a.user ?? a.username),
    password: str(a.password ?? a.pass),
    token: str(a.token),
    timeout: ms(a.timeout),
  });
}

/** `resolver: MEMORY`, or `resolver { type: full, dir, allow_delete?, interval?, timeout?, limit? }`. */
function resolverOf(r: string | Record<string, unknown>): NonNullable<ServerOptions["operator"]>["resolver"] | undefined {
  if (typeof r === "string") return r.trim().toUpperCase() === "MEMORY" ? "MEMORY" : undefined;
  const known = new Set(["type", "dir", "allow_delete", "interval", "timeout", "limit"]);
  if (Object.keys(r).some((k) => !known.has(k.toLowerCase()))) return undefined;
  const type = typeof r.type === "string" ? r.type.toLowerCase() : "";
  if (type !== "full" || typeof r.dir !== "string" || r.dir === "") return undefined;
  return { type: "full", dir: r.dir, allow_delete: r.allow_delete === true };
}

// --- raw file -> layer -------------------------------------------------------------------------

export interface NormalizeContext {
  locate(path: ConfPath): SourceLoc;
}

/** Resolve aliases and units of a validated file. Cross-key problems come back as errors with file:line. */
export function layerFromRaw(raw: RawConfig, ctx: NormalizeContext): Result<{ layer: OptionLayer; warnings: ConfigError[] }, ConfigError[]> {
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const err = (path: ConfPath, message: string) => {
    const loc = ctx.locate(path);
    errors.push({ file: loc.file, line: loc.line, key: path.join("."), message });
  };

  const tlsBlock = (t: RawTlsBlock | undefined, path: ConfPath): TlsConfig | undefined => {
    if (t === undefined) return undefined;
    const r = reader("tls").tlsConfigFromRaw(t, path.join("."));
    if (r.ok) return r.value;
    err(path, r.error);
    return undefined;
  };

  const listen = raw.listen !== undefined ? parseListen(raw.listen) : undefined;
  const http = raw.http !== undefined ? parseListen(raw.http) : raw.https !== undefined ? parseListen(raw.https) : undefined;
  const https = raw.https !== undefined ? parseListen(raw.https) : undefined;
  const layer: OptionLayer = defined({
    server_name: str(raw.server_name),
    server_tags: list(typeof raw.server_tags === "string" ? raw.server_tags.split(",") : raw.server_tags)
      ?.map((t) => t.trim().toLowerCase()).filter((t) => t !== ""),
    host: str(raw.host ?? raw.net) ?? listen?.host,
    port: raw.port ?? listen?.port,
    client_advertise: str(raw.client_advertise),
    http_host: http?.host,
    http_port: raw.http_port ?? raw.monitor_port ?? (raw.http !== undefined ? http?.port : undefined),
    https_port: raw.https_port ?? https?.port,
    max_payload: bytes(raw.max_payload),
    max_pending: bytes(raw.max_pending),
    max_control_line: bytes(raw.max_control_line),
    max_connections: raw.max_connections ?? raw.max_conn,
    max_subscriptions: raw.max_subscriptions ?? raw.max_subs,
    ping_interval: ms(raw.ping_interval),
    ping_max: raw.ping_max,
    write_deadline: ms(raw.write_deadline),
    auth_timeout: ms(raw.authorization?.timeout),
    lame_duck_duration: ms(raw.lame_duck_duration),
    lame_duck_grace_period: ms(raw.lame_duck_grace_period),
    debug: bool(raw.debug),
    trace: bool(raw.trace) ?? bool(raw.trace_verbose),
    logtime: bool(raw.logtime),
    log_file: str(raw.log_file ?? raw.logfile),
    pid_file: str(raw.pid_file ?? raw.pidfile),
    ports_file_dir: str(raw.ports_file_dir),
    no_auth_user: str(raw.no_auth_user),
  });
  if ((layer.max_payload ?? 0) > 2 ** 31 - 1) err(["max_payload"], "max_payload: value is too big (max 2GB)");
  if ((layer.max_control_line ?? 0) > 2 ** 31 - 1) err(["max_control_line"], "max_control_line: value is too big");

  if (raw.authorization) {
    const a = raw.authorization;
    const auth: OptionLayer["authorization"] = defined({
      user: str(a.user ?? a.username),
      password: str(a.password ?? a.pass),
      token: str(a.token),
    });
    const own = a.permissions ? reader("users").permissions(a.permissions) : undefined;
    const fallback = a.default_permissions ? reader("users").permissions(a.default_permissions) : own;
    for (const [key, perms] of [["permissions", own], ["default_permissions", a.default_permissions ? fallback : undefined]] as const) {
      const problem = perms ? reader("users").permissionsProblem(perms) : undefined;
      if (problem !== undefined) err(["authorization", key], `authorization.${key}: ${problem.replace(/^permissions\./, "")}`);
    }
    if (own) auth.permissions = own;
    if ((auth.user !== undefined || auth.password !== undefined) && auth.token !== undefined) {
      err(["authorization"], "authorization: cannot have a user/password and a token");
    }
    if (a.users) {
      if (auth.user !== undefined) err(["authorization"], "authorization: cannot have a single user/password and a users list");
      if (auth.token !== undefined) err(["authorization"], "authorization: cannot have a token and a users list");
      const seen = new Set<string>();
      const users: UserEntry[] = [];
      a.users.forEach((u, i) => {
        const r = reader("users").normalizeUser(u, fallback);
        if (!r.ok) {
          err(["authorization", "users", i], `authorization.users[${i}]: ${r.message}`);
          return;
        }
        const name = r.user.user;
        if (seen.has(name)) err(["authorization", "users", i], `authorization.users[${i}]: duplicate user "${name}"`);
        seen.add(name);
        users.push(r.user);
      });
      auth.users = users;
    }
    layer.authorization = auth;
  }

  // In operator mode the system account is an account public key the resolver knows, not an accounts {} entry.
  const operatorMode = raw.operator !== undefined || raw.operators !== undefined;
  // Without any of its inputs there is nothing to check (normalizeAccounts returns an empty layer).
  if (raw.accounts !== undefined || raw.system_account !== undefined || raw.system !== undefined || layer.no_auth_user !== undefined) {
    const acc = reader("accounts").normalizeAccounts({
      accounts: raw.accounts,
      system_account: operatorMode ? undefined : raw.system_account,
      system: operatorMode ? undefined : raw.system,
      no_auth_user: layer.no_auth_user,
      authorization: layer.authorization,
    });
    for (const e of acc.errors) {
      const loc = ctx.locate(e.path);
      errors.push({ file: loc.file, line: loc.line, key: e.path.join("."), message: e.message });
    }
    if (acc.layer.accounts !== undefined) layer.accounts = acc.layer.accounts;
    if (acc.layer.system_account !== undefined) layer.system_account = acc.layer.system_account;
  }
  const sysRaw = raw.system_account ?? raw.system;
  if (operatorMode && sysRaw !== undefined) layer.system_account = String(sysRaw);

  if (raw.cluster) {
    const c = raw.cluster;
    const l = c.listen !== undefined ? parseListen(c.listen) : undefined;
    layer.cluster = defined({
      name: str(c.name),
      host: str(c.host ?? c.net) ?? l?.host,
      port: c.port ?? l?.port,
      advertise: str(c.advertise ?? c.cluster_advertise),
      no_advertise: bool(c.no_advertise),
      routes: list(c.routes),
      authorization: c.authorization ? routeAuthorization(c.authorization) as RouteAuthorization : undefined,
      connect_retries: c.connect_retries,
      tls: tlsBlock(c.tls, ["cluster", "tls"]),
    });
  }

  if (raw.gateway) {
    const g = raw.gateway;
    const l = g.listen !== undefined ? parseListen(g.listen) : undefined;
    if (g.name === undefined) err(["gateway"], 'gateway: "name" is required');
    const gateways: GatewayOptions["gateways"] = [];
    (g.gateways ?? []).forEach((r, i) => {
      const urls = [...(r.url !== undefined ? [String(r.url)] : []), ...(list(r.urls) ?? [])];
      if (r.name === undefined) err(["gateway", "gateways", i], `gateway.gateways[${i}]: "name" is required`);
      else if (urls.length === 0) err(["gateway", "gateways", i], `gateway.gateways[${i}]: "url" or "urls" is required`);
      else gateways.push(defined({ name: String(r.name), urls, tls: tlsBlock(r.tls, ["gateway", "gateways", i, "tls"]) }));
    });
    layer.gateway = defined({
      name: str(g.name),
      host: str(g.host ?? g.net) ?? l?.host,
      port: g.port ?? l?.port,
      advertise: str(g.advertise ?? g.gateway_advertise),
      gateways,
      authorization: g.authorization ? routeAuthorization(g.authorization) as RouteAuthorization : undefined,
      reject_unknown_cluster: bool(g.reject_unknown_cluster ?? g.reject_unknown),
      tls: tlsBlock(g.tls, ["gateway", "tls"]),
    });
  }

  const topStoreDir = str(raw.store_dir ?? raw.storedir);
  if (raw.jetstream !== undefined) {
    const j = raw.jetstream;
    const dir = str(j.store_dir ?? j.storedir);
    if (dir !== undefined && topStoreDir !== undefined) err(["jetstream"], "jetstream: duplicate 'store_dir' configuration");
    const sync: number | "always" | undefined = j.sync_interval === "always" ? "always" : ms(j.sync_interval);
    layer.jetstream = defined({
      enabled: bool(j.enabled ?? j.enable) ?? true,
      store_dir: dir,
      max_memory_store: bytes(j.max_memory_store ?? j.max_mem_store ?? j.max_mem),
      max_file_store: bytes(j.max_file_store ?? j.max_file),
      domain: str(j.domain),
      sync_interval: sync,
      storage: j.storage,
    });
  }
  if (topStoreDir !== undefined) layer.jetstream = { ...(layer.jetstream ?? {}), store_dir: topStoreDir };

  if (raw.streaming !== undefined) layer.streaming = reader("streaming").streamingLayer(raw.streaming);

  const ws = raw.websocket ?? raw.ws;
  if (ws) {
    const l = ws.listen !== undefined ? parseListen(ws.listen) : undefined;
    layer.websocket = defined({
      host: str(ws.host ?? ws.net) ?? l?.host,
      port: ws.port ?? l?.port,
      no_tls: bool(ws.no_tls),
      same_origin: bool(ws.same_origin),
      allowed_origins: list(ws.allowed_origins ?? ws.allowed_origin),
      compression: bool(ws.compression),
      handshake_timeout: ms(ws.handshake_timeout),
      advertise: str(ws.advertise),
      tls: tlsBlock(ws.tls, [raw.websocket ? "websocket" : "ws", "tls"]),
      no_auth_user: str(ws.no_auth_user),
      authorization: ws.authorization === undefined ? undefined : defined({
        user: str(ws.authorization.user ?? ws.authorization.username),
        password: str(ws.authorization.password ?? ws.authorization.pass),
        token: str(ws.authorization.token),
        timeout: ms(ws.authorization.timeout),
      }),
    });
    // Fail closed, as nats-server: a websocket listener has a tls {} block or says no_tls: true.
    const key = raw.websocket ? "websocket" : "ws";
    const wt = layer.websocket.tls;
    if (layer.websocket.no_tls !== true && wt === undefined) {
      err([key], `${key}: websocket requires TLS configuration (a tls {} block) or no_tls: true`);
    } else if (layer.websocket.no_tls === true && wt !== undefined) {
      err([key], `${key}: no_tls: true and a tls {} block contradict each other`);
    } else if (wt !== undefined && wt.verify) {
      err([key, "tls"], `${key}.tls: client certificates (verify, verify_and_map) on WebSocket are not implemented by Petrel yet; refusing to start without them`);
    }
  }

  const leaf = raw.leafnodes ?? raw.leaf;
  if (leaf) {
    const key = raw.leafnodes ? "leafnodes" : "leaf";
    const l = leaf.listen !== undefined ? parseListen(leaf.listen) : undefined;
    const remotes: LeafNodeOptions["remotes"] = [];
    (leaf.remotes ?? []).forEach((r, i) => {
      const urls = [...(r.url !== undefined ? [String(r.url)] : []), ...(list(r.urls) ?? [])];
      if (urls.length === 0) {
        err([key, "remotes", i], `${key}.remotes[${i}]: "url" or "urls" is required`);
        return;
      }
      remotes.push(defined({
        urls,
        account: str(r.account ?? r.local),
        credentials: str(r.credentials ?? r.creds),
        tls: tlsBlock(r.tls, [key, "remotes", i, "tls"]),
      }));
    });
    const la = leaf.authorization;
    layer.leafnodes = defined({
      host: str(leaf.host ?? leaf.net) ?? l?.host,
      port: leaf.port ?? l?.port,
      advertise: str(leaf.advertise),
      no_advertise: bool(leaf.no_advertise),
      remotes,
      tls: tlsBlock(leaf.tls, [key, "tls"]),
      authorization: la === undefined ? undefined : defined({
        user: str(la.user ?? la.username),
        password: str(la.password ?? la.pass),
        account: str(la.account),
        timeout: ms(la.timeout),
        users: (la.users ?? []).map((u) => defined({ user: str(u.user ?? u.username) ?? "", password: str(u.password ?? u.pass), account: str(u.account) })),
      }),
    });
  }

  const operators = list(raw.operator ?? raw.operators);
  if (operators !== undefined || raw.resolver !== undefined || raw.resolver_preload !== undefined) {
    const opKey = raw.operator !== undefined ? "operator" : "operators";
    if (operators === undefined || operators.length === 0) {
      err([raw.resolver !== undefined ? "resolver" : "resolver_preload"], "resolver: only valid in operator mode (set operator)");
    } else if (raw.resolver === undefined) {
      err([opKey], `${opKey}: operator mode needs a resolver (resolver: MEMORY)`);
    } else if (resolverOf(raw.resolver) === undefined) {
      err(["resolver"], "resolver: only MEMORY and { type: full, dir } are implemented by Petrel yet; refusing to start without it");
    } else if (raw.authorization !== undefined) {
      err(["authorization"], "authorization: not allowed in operator mode (users come from JWTs)");
    } else if (raw.accounts !== undefined) {
      err(["accounts"], "accounts: not allowed in operator mode (accounts come from JWTs)");
    } else {
      const preload: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw.resolver_preload ?? {})) preload[k] = String(v);
      layer.operator = { operators, resolver: resolverOf(raw.resolver) ?? "MEMORY", resolver_preload: preload };
    }
  }

  if (raw.tls !== undefined) {
    const t = reader("tls").tlsConfigFromRaw(raw.tls, "tls");
    if (t.ok) layer.tls = t.value;
    else err(["tls"], t.error);
  }

  if (errors.length > 0) return { ok: false, error: errors };
  return { ok: true, value: { layer, warnings } };
}
