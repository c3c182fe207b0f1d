import { streamInfo } from "./api.ts";
import { isoUtc } from "../runtime/utc_text.ts";
import type { JetStreamAccounts } from "./accounts.ts";
import type { JetStream } from "./engine.ts";

/**
 * Monitoring views of the server's JetStream in nats-server's shapes: `/jsz` (server totals, and per account
 * with `accounts=true`, `acc=<name>`, `streams`, `consumers`, `config`) and the `jetstream` section of `/varz`.
 */

type Json = Record<string, unknown>;

export interface JszQuery {
  streams?: boolean;
  consumers?: boolean;
  config?: boolean;
  accounts?: boolean;
  /** Only this account's details. */
  acc?: string;
}

/** nats-server prints an unlimited (-1) reservation as the uint64 it is stored in. */
const UINT64_MAX = 18446744073709551615;

interface Totals {
  memory: number;
  storage: number;
  reservedMemory: number;
  reservedStorage: number;
  streams: number;
  consumers: number;
  messages: number;
  bytes: number;
  api: { total: number; errors: number };
}

function totals(engines: Iterable<JetStream>): Totals {
  const t: Totals = {
    memory: 0,
    storage: 0,
    reservedMemory: 0,
    reservedStorage: 0,
    streams: 0,
    consumers: 0,
    messages: 0,
    bytes: 0,
    api: { total: 0, errors: 0 },
  };
  for (const js of engines) {
    for (const s of js.streams.values()) {
      const st = s.state();
      const mem = s.cfg.storage === "memory";
      if (mem) t.memory += st.bytes;
      else t.storage += st.bytes;
      if (s.cfg.max_bytes > 0) {
        if (mem) t.reservedMemory += s.cfg.max_bytes;
        else t.reservedStorage += s.cfg.max_bytes;
      }
      t.messages += st.messages;
      t.bytes += st.bytes;
    }
    t.streams += js.streams.size;
    t.consumers += consumersHere(js);
    t.api.total += js.apiStats.total;
    t.api.errors += js.apiStats.errors;
  }
  return t;
}

/**
 * The consumers this server counts: in a cluster, those it holds a replica of (nats-server's `/jsz` is per server:
 * an R3 consumer counts on each of its three servers, an R1 on its one), else every consumer of the engine.
 */
function consumersHere(js: JetStream): number {
  const hosted = js.cluster?.hostedConsumers;
  if (hosted === undefined) return js.consumerCount();
  let n = 0;
  for (const s of js.streams.values()) n += hosted(s).size;
  return n;
}

function configOf(all: JetStreamAccounts): Json {
  const o = all.opts;
  const c: Json = {
    max_memory: o.max_memory_store ?? -1,
    max_storage: o.max_file_store ?? -1,
    store_dir: o.store_dir ?? "",
  };
  if (o.domain) c.domain = o.domain;
  return c;
}

/** The server-wide usage block of /jsz and /varz. */
function usage(t: Totals, accounts: number): Json {
  return {
    memory: t.memory,
    storage: t.storage,
    reserved_memory: t.reservedMemory,
    reserved_storage: t.reservedStorage,
    accounts,
    ha_assets: 0,
    api: t.api,
  };
}

function reservation(limit: number): number {
  return limit < 0 ? UINT64_MAX : limit;
}

function accountDetail(js: JetStream, q: JszQuery): Json {
  const t = totals([js]);
  const d: Json = {
    name: js.account,
    id: js.account,
    memory: t.memory,
    storage: t.storage,
    // Per account, nats-server reports the account's limits here.
    reserved_memory: reservation(js.limits.max_memory),
    reserved_storage: reservation(js.limits.max_storage),
    accounts: 0,
    ha_assets: 0,
    api: t.api,
  };
  if ((q.streams || q.consumers) && js.streams.size > 0) d.stream_detail = streamDetails(js, q);
  return d;
}

function streamDetails(js: JetStream, q: JszQuery): Json[] {
  const server = js.opts.server_name ?? "petrel";
  return [...js.streams.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => {
    const info = streamInfo(js, s);
    const d: Json = { name: s.name, created: s.created, cluster: js.cluster?.jszCluster?.(s) ?? info.cluster, state: info.state };
    if (q.config) d.config = s.cfg;
    // The mirror's and sources' lag and activity, as nats-server's stream detail shows them.
    if (info.mirror) d.mirror = info.mirror;
    if (info.sources) d.sources = info.sources;
    const hosted = q.consumers ? js.cluster?.hostedConsumers?.(s) : undefined;
    if (hosted !== undefined) {
      // The consumers this server holds a replica of, the leader running it or not (nats-server's view).
      d.consumer_detail = [...hosted.values()].map((infoOf) => {
        const ci = infoOf();
        if (!q.config) delete ci.config;
        delete ci.ts;
        return ci;
      });
    } else if (q.consumers) {
      // A mirror's or source's consumer on this stream (`direct`) is not shown, as nats-server does.
      d.consumer_detail = [...(js.consumers.get(s.name)?.values() ?? [])].filter((c) => c.cfg.direct !== true).map((c) => {
        const ci = c.info(undefined, server);
        if (!q.config) delete ci.config;
        // nats-server's consumer_detail carries neither of these; a cluster's does carry `cluster` (the
        // consumer's own group when it has one, else its stream's, whose leader runs it).
        delete ci.cluster;
        const picture = js.cluster?.consumerCluster?.(c) ?? js.cluster?.jszCluster?.(s);
        if (picture) ci.cluster = picture;
        delete ci.ts;
        return ci;
      });
    }
    return d;
  });
}

export function jsz(all: JetStreamAccounts, q: JszQuery = {}): Json {
  const engines = [...all.engines.values()].sort((a, b) => (a.account < b.account ? -1 : 1));
  const t = totals(engines);
  const out: Json = {
    server_id: all.opts.server_id ?? "",
    now: isoUtc((all.opts.now ?? Date.now)()),
    config: configOf(all),
    ...usage(t, engines.length),
    streams: t.streams,
    consumers: t.consumers,
    messages: t.messages,
    bytes: t.bytes,
  };
  if (q.accounts || q.streams || q.consumers || q.acc !== undefined) {
    const chosen = q.acc !== undefined ? engines.filter((e) => e.account === q.acc) : engines;
    if (chosen.length > 0) out.account_details = chosen.map((e) => accountDetail(e, q));
  }
  return out;
}

/** Parses /jsz query flags (`streams=1`, `consumers=true`, `acc=A`, ...). */
export function jszQuery(params?: URLSearchParams): JszQuery {
  const on = (k: string) => {
    const v = params?.get(k);
    return v !== null && v !== undefined && v !== "0" && v !== "false";
  };
  const acc = params?.get("acc");
  return {
    streams: on("streams"),
    consumers: on("consumers"),
    config: on("config"),
    accounts: on("accounts"),
    ...(acc ? { acc } : {}),
  };
}

export function varzJetStream(all: JetStreamAccounts): Json {
  const t = totals(all.engines.values());
  return {
    config: configOf(all),
    stats: usage(t, all.engines.size),
  };
}
