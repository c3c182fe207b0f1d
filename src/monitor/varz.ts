/** /varz: the server's configuration and counters, with nats-server's field names. */
import type { Server } from "../server/server.ts";
import { PETREL_VERSION, VERSION } from "../server/server.ts";
import { systemAccountName } from "./accounts_view.ts";
import { nanos, rfc3339, uptime } from "./format.ts";
import { DEFAULT_TLS_TIMEOUT_MS } from "../tls/config.ts";

export interface VarzContext {
  httpHost: string;
  httpPort: number;
  /** Resident memory in bytes, when the runtime can tell. */
  memory?: () => number;
  cores?: number;
}

export function varz(s: Server, ctx: VarzContext): Record<string, unknown> {
  const o = s.options;
  const now = new Date();
  const out: Record<string, unknown> = {
    server_id: s.serverId,
    server_name: s.serverName,
    version: VERSION,
    petrel_version: PETREL_VERSION,
    proto: 1,
    git_commit: "",
    go: `petrel${PETREL_VERSION}`,
    host: o.host,
    port: s.clientPort,
    auth_required: s.authRequired || undefined,
    tls_required: o.tls !== undefined || undefined,
    tls_verify: o.tls?.verify === true || undefined,
    max_connections: o.max_connections,
    max_subscriptions: o.max_subscriptions,
    ping_interval: nanos(o.ping_interval),
    ping_max: o.ping_max,
    http_host: ctx.httpHost,
    http_port: ctx.httpPort,
    http_base_path: "",
    // the configured value, as nats-server reports it (-1 stays -1)
    https_port: o.https_port ?? 0,
    auth_timeout: o.auth_timeout / 1000,
    max_control_line: o.max_control_line,
    max_payload: o.max_payload,
    max_pending: o.max_pending,
    cluster: {},
    gateway: {},
    leaf: {},
    mqtt: {},
    websocket: {},
    jetstream: {},
    tls_timeout: (o.tls?.timeout ?? DEFAULT_TLS_TIMEOUT_MS) / 1000,
    write_deadline: nanos(o.write_deadline),
    start: rfc3339(s.startTime),
    now: rfc3339(now),
    uptime: uptime(now.getTime() - s.startTime.getTime()),
    mem: ctx.memory?.() ?? 0,
    cores: ctx.cores ?? navigator.hardwareConcurrency ?? 1,
    gomaxprocs: ctx.cores ?? navigator.hardwareConcurrency ?? 1,
    cpu: 0,
    connections: s.clients.size,
    total_connections: s.stats.total_connections,
    routes: 0,
    remotes: 0,
    leafnodes: 0,
    in_msgs: s.stats.in_msgs,
    out_msgs: s.stats.out_msgs,
    in_bytes: s.stats.in_bytes,
    out_bytes: s.stats.out_bytes,
    slow_consumers: s.stats.slow_consumers,
    subscriptions: s.numSubscriptions,
    http_req_stats: {},
    config_load_time: rfc3339(s.configLoadTime),
    system_account: systemAccountName(s),
    ...((o.server_tags ?? []).length > 0 ? { tags: o.server_tags } : {}),
    slow_consumer_stats: { clients: s.stats.slow_consumers, routes: 0, gateways: 0, leafs: 0 },
  };
  // Extensions (cluster, gateway, jetstream, websocket) fill their own sections and counters.
  const ext = s.monitorSections.get("varz");
  if (ext !== undefined) Object.assign(out, ext() as Record<string, unknown>);
  for (const key of ["cluster", "gateway", "leaf", "websocket", "jetstream"]) {
    const f = s.monitorSections.get(`varz.${key}`);
    if (f !== undefined) out[key] = f();
  }
  const routes = s.monitorSections.get("varz.routes");
  if (routes !== undefined) {
    out.routes = routes();
    // nats-server's `remotes`: the other servers of the cluster (one route each here).
    out.remotes = out.routes;
  }
  // Client URLs of every cluster member, as INFO gives them to clients: tools watch this to see a cluster form.
  if (s.connectUrls.length > 0) out.connect_urls = [...s.connectUrls];
  if (out.auth_required === undefined) delete out.auth_required;
  if (out.tls_required === undefined) delete out.tls_required;
  if (out.tls_verify === undefined) delete out.tls_verify;
  return out;
}
