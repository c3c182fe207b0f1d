/**
 * /accountz (the account list, or one account's detail with `acc=`) and /accstatz (per-account connection
 * and traffic counters), in nats-server 2.9's JSON shapes.
 */
import type { AccountOptions } from "../config/account_options.ts";
import type { Server } from "../server/server.ts";
import type { AccountStat, AccountStats } from "./account_stats.ts";
import { accountExists, accountNames, clientsOf, GLOBAL_ACCOUNT, leafCounts, sublistTotals, systemAccountName } from "./accounts_view.ts";
import { rfc3339 } from "./format.ts";

type Json = Record<string, unknown>;

function accountConfig(s: Server, name: string): AccountOptions | undefined {
  return s.options.accounts?.[name];
}

const RESPONSE_TYPES: Record<string, string> = { singleton: "Singleton", stream: "Streamed", chunked: "Chunked" };

function exportsOf(cfg: AccountOptions | undefined): Json[] {
  return (cfg?.exports ?? []).map((e) => {
    const out: Json = e.service !== undefined
      ? { subject: e.service, type: "service", response_type: RESPONSE_TYPES[e.response_type ?? "singleton"] ?? "Singleton" }
      : { subject: e.stream ?? "", type: "stream" };
    if (e.accounts !== undefined && e.accounts.length > 0) out.approved_accounts = e.accounts;
    return out;
  });
}

function importsOf(cfg: AccountOptions | undefined): Json[] {
  const flags = { invalid: false, share: false, tracking: false };
  return (cfg?.imports ?? []).map((i) => {
    if (i.stream !== undefined) {
      const local = i.to ?? (i.prefix !== undefined && i.prefix !== "" ? `${i.prefix}.${i.stream.subject}` : undefined);
      const out: Json = { subject: i.stream.subject, account: i.stream.account };
      if (local !== undefined) out.local_subject = local;
      return { ...out, type: "stream", ...flags };
    }
    const svc = i.service ?? { account: "", subject: "" };
    return { subject: i.to ?? svc.subject, account: svc.account, to: svc.subject, type: "service", ...flags };
  });
}

/** The system account's services every account reaches (src/system answers them in each account). */
function systemExports(): Json[] {
  return ["CONNZ", "STATZ"].map((ep) => ({ subject: `$SYS.REQ.ACCOUNT.*.${ep}`, type: "service", response_type: "Streamed" }));
}

function systemImports(system: string, account: string): Json[] {
  const flags = { type: "service", invalid: false, share: false, tracking: false };
  return [
    { subject: "$SYS.REQ.ACCOUNT.PING.CONNZ", account: system, to: `$SYS.REQ.ACCOUNT.${account}.CONNZ`, ...flags },
    { subject: "$SYS.REQ.SERVER.PING.CONNZ", account: system, to: `$SYS.REQ.ACCOUNT.${account}.CONNZ`, ...flags },
    { subject: "$SYS.REQ.ACCOUNT.PING.STATZ", account: system, to: `$SYS.REQ.ACCOUNT.${account}.STATZ`, ...flags },
  ];
}

/**
 * With a JetStream domain, a JetStream account's API is also reachable under `$JS.<domain>.API` (the engine
 * answers both); nats-server lists that as the account's subject mappings.
 */
function jetStreamDomainMappings(s: Server, name: string): Json | undefined {
  const domain = s.options.jetstream?.domain ?? "";
  if (domain === "" || !jetStreamEnabled(s, name)) return undefined;
  const to = (subject: string) => [{ subject, weight: 100 }];
  const prefix = `$JS.${domain}.API`;
  const out: Json = { [`${prefix}.$KV.>`]: to("$KV.>"), [`${prefix}.$OBJ.>`]: to("$OBJ.>") };
  for (const api of ["ACCOUNT.>", "CONSUMER.>", "DIRECT.>", "INFO", "META.>", "SERVER.>", "STREAM.>"]) {
    out[`${prefix}.${api}`] = to(`$JS.API.${api}`);
  }
  return out;
}

function jetStreamEnabled(s: Server, name: string): boolean {
  const cfg = accountConfig(s, name);
  if (cfg?.jetstream !== undefined) return true;
  // Without configured accounts, JetStream belongs to the global account.
  const hasAccounts = Object.keys(s.options.accounts ?? {}).length > 0;
  return name === GLOBAL_ACCOUNT && !hasAccounts && s.infoExtras.jetstream === true;
}

/** One account's detail (the `account_detail` of /accountz?acc=, and `$SYS.REQ.ACCOUNT.<acc>.INFO`). */
export function accountDetail(s: Server, name: string): Json {
  const cfg = accountConfig(s, name);
  const numSubs = sublistTotals(s, name).count;
  const out: Json = {
    account_name: name,
    update_time: rfc3339(s.startTime),
  };
  if (name === systemAccountName(s)) out.is_system = true;
  Object.assign(out, {
    expired: false,
    complete: true,
    jetstream_enabled: jetStreamEnabled(s, name),
    leafnode_connections: leafCounts(s).get(name) ?? 0,
    client_connections: clientsOf(s, name).length,
    subscriptions: numSubs,
  });
  const mappings = jetStreamDomainMappings(s, name);
  if (mappings !== undefined) out.mappings = mappings;
  const system = systemAccountName(s);
  const exports = name === system ? [...systemExports(), ...exportsOf(cfg)] : exportsOf(cfg);
  if (exports.length > 0) out.exports = exports;
  const imports = name === system ? importsOf(cfg) : [...systemImports(system, name), ...importsOf(cfg)];
  if (imports.length > 0) out.imports = imports;
  out.sublist_stats = {
    num_subscriptions: numSubs,
    num_cache: 0,
    num_inserts: 0,
    num_removes: 0,
    num_matches: 0,
    cache_hit_rate: 0,
    max_fanout: 0,
    avg_fanout: 0,
  };
  return out;
}

export type AccountzResult = { ok: true; data: Json } | { ok: false; error: string };

/** `/accountz`: the account names, or with `account` that account's detail (an unknown one is an error). */
export function accountz(s: Server, account?: string): AccountzResult {
  const head: Json = { server_id: s.serverId, now: rfc3339(new Date()), system_account: systemAccountName(s) };
  if (account === undefined) return { ok: true, data: { ...head, accounts: accountNames(s) } };
  if (!accountExists(s, account)) return { ok: false, error: `Account ${account} does not exist` };
  return { ok: true, data: { ...head, account_detail: accountDetail(s, account) } };
}

export interface AccstatzQuery {
  /** Only these accounts (all when empty). */
  accounts: string[];
  /** Also accounts without local connections. */
  includeUnused: boolean;
}

/** The account_statz entries: accounts with local connections, or all of them with `includeUnused`. */
export function accountStatList(s: Server, stats: AccountStats, q: AccstatzQuery): AccountStat[] {
  const leafs = leafCounts(s);
  const names = q.accounts.length > 0 ? q.accounts.filter((a) => accountExists(s, a)) : accountNames(s);
  return names
    .map((name) => stats.stat(name, leafs.get(name) ?? 0))
    .filter((st) => q.includeUnused || st.total_conns > 0);
}

export function accstatz(s: Server, stats: AccountStats, q: AccstatzQuery): Json {
  return { server_id: s.serverId, now: rfc3339(new Date()), account_statz: accountStatList(s, stats, q) };
}
