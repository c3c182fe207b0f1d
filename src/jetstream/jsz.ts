import { streamInfo } from "./api.ts";
import type { JetStream } from "./engine.ts";

/** Monitoring views of the engine in nats-server's shapes: `/jsz` and the `jetstream` section of `/varz`. */

type Json = Record<string, unknown>;

export interface JszQuery {
  streams?: boolean;
  consumers?: boolean;
  config?: boolean;
  accounts?: boolean;
}

function totals(js: JetStream): { memory: number; storage: number; streams: number; consumers: number; messages: number; bytes: number } {
  let memory = 0, storage = 0, consumers = 0, messages = 0, bytes = 0;
  for (const s of js.streams.values()) {
    const st = s.state();
    if (s.cfg.storage === "memory") memory += st.bytes;
    else storage += st.bytes;
    messages += st.messages;
    bytes += st.bytes;
    consumers += js.consumers.get(s.name)?.size ?? 0;
  }
  return { memory, storage, streams: js.streams.size, consumers, messages, bytes };
}

function configOf(js: JetStream): Json {
  const c: Json = {
    max_memory: js.opts.max_memory_store ?? -1,
    max_storage: js.opts.max_file_store ?? -1,
    store_dir: js.opts.store_dir ?? "",
  };
  if (js.opts.domain) c.domain = js.opts.domain;
  return c;
}

type Totals = ReturnType<typeof totals>;

/** The usage block shared by /jsz, its account details and /varz (`accounts` is 0 inside an account). */
function usage(js: JetStream, t: Totals, accounts: number): Json {
  return {
    memory: t.memory,
    storage: t.storage,
    reserved_memory: 0,
    reserved_storage: 0,
    accounts,
    ha_assets: 0,
    api: { total: js.apiStats.total, errors: js.apiStats.errors },
  };
}

export function jsz(js: JetStream, q: JszQuery = {}): Json {
  const t = totals(js);
  const server = js.opts.server_name ?? "petrel";
  const out: Json = {
    server_id: js.opts.server_id ?? "",
    now: new Date(js.now()).toISOString(),
    config: configOf(js),
    ...usage(js, t, 1),
    streams: t.streams,
    consumers: t.consumers,
    messages: t.messages,
    bytes: t.bytes,
  };
  if (q.streams || q.consumers || q.accounts) {
    const streams = [...js.streams.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => {
      const info = streamInfo(js, s);
      const d: Json = { name: s.name, created: s.created, cluster: info.cluster, state: info.state };
      if (q.config) d.config = s.cfg;
      if (q.consumers) {
        d.consumer_detail = [...(js.consumers.get(s.name)?.values() ?? [])].map((c) => {
          const ci = c.info(undefined, server);
          if (!q.config) delete ci.config;
          // nats-server's consumer_detail carries neither of these.
          delete ci.cluster;
          delete ci.ts;
          return ci;
        });
      }
      return d;
    });
    out.account_details = [{
      name: "$G",
      id: "$G",
      ...usage(js, t, 0),
      stream_detail: streams,
    }];
  }
  return out;
}

/** Parses /jsz query flags (`streams=1`, `consumers=true`, ...). */
export function jszQuery(params?: URLSearchParams): JszQuery {
  const on = (k: string) => {
    const v = params?.get(k);
    return v !== null && v !== undefined && v !== "0" && v !== "false";
  };
  return { streams: on("streams"), consumers: on("consumers"), config: on("config"), accounts: on("accounts") };
}

export function varzJetStream(js: JetStream): Json {
  const t = totals(js);
  return {
    config: configOf(js),
    stats: usage(js, t, 1),
  };
}
