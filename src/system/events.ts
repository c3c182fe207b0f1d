/**
 * The system account's event messages in nats-server's JSON: client connect/disconnect advisories, the
 * account connection count, and the server statistics heartbeat. Pure builders; the services publish them.
 */
import type { ClientConn } from "../server/client.ts";
import type { AccountStat } from "../monitor/account_stats.ts";
import { nanos } from "../monitor/format.ts";
import type { ServerInfo } from "./server_info.ts";

export const CONNECT_EVENT_TYPE = "io.nats.server.advisory.v1.client_connect";
export const DISCONNECT_EVENT_TYPE = "io.nats.server.advisory.v1.client_disconnect";
export const ACCOUNT_CONNS_EVENT_TYPE = "io.nats.server.advisory.v1.account_connections";

type Json = Record<string, unknown>;

/** nats-server's ClientInfo block for a client connection (`stop` and `rtt` on disconnect). */
export function clientInfo(c: ClientConn, account: string, stop?: Date): Json {
  const out: Json = {
    start: c.start.toISOString(),
    host: c.duplex.info.remoteHost,
    id: c.cid,
    acc: account,
  };
  // A CONNECT that failed authentication still names its client: report what it claimed.
  const claimed = c.connectOptions;
  const user = c.user ?? claimed?.user;
  const name = c.name !== "" ? c.name : claimed?.name ?? "";
  const lang = c.lang !== "" ? c.lang : claimed?.lang ?? "";
  const version = c.version !== "" ? c.version : claimed?.version ?? "";
  if (user !== undefined && user !== "") out.user = user;
  if (name !== "") out.name = name;
  if (lang !== "") out.lang = lang;
  if (version !== "") out.ver = version;
  if (stop !== undefined) {
    const rtt = nanos(c.rttMs);
    if (rtt > 0) out.rtt = rtt;
    out.stop = stop.toISOString();
  }
  out.kind = "Client";
  out.client_type = c.duplex.info.kind === "ws" ? "websocket" : "nats";
  return out;
}

export function connectEvent(id: string, now: Date, server: ServerInfo, c: ClientConn, account: string): Json {
  return { type: CONNECT_EVENT_TYPE, id, timestamp: now.toISOString(), server, client: clientInfo(c, account) };
}

export function disconnectEvent(id: string, now: Date, server: ServerInfo, c: ClientConn, account: string): Json {
  return {
    type: DISCONNECT_EVENT_TYPE,
    id,
    timestamp: now.toISOString(),
    server,
    client: clientInfo(c, account, now),
    // From the client's side, as nats-server reports it: what it sent in, what it was sent.
    sent: { msgs: c.stats.in_msgs, bytes: c.stats.in_bytes },
    received: { msgs: c.stats.out_msgs, bytes: c.stats.out_bytes },
    reason: c.closeReason !== "" ? c.closeReason : "Client Closed",
  };
}

/** `$SYS.SERVER.<id>.CLIENT.AUTH.ERR`: a disconnect advisory for a client that failed to authenticate. */
export function authErrorEvent(id: string, now: Date, server: ServerInfo, c: ClientConn, account: string): Json {
  return { ...disconnectEvent(id, now, server, c, account), reason: "Authentication Failure" };
}

export function accountConnsEvent(id: string, now: Date, server: ServerInfo, stat: AccountStat): Json {
  return { type: ACCOUNT_CONNS_EVENT_TYPE, id, timestamp: now.toISOString(), server, ...stat };
}

/** The `statsz` block (ServerStats), built from the /varz, /routez and /gatewayz views. */
export function serverStats(varz: Json, routez: Json | undefined, gatewayz: Json | undefined, activeAccounts: number): Json {
  const n = (k: string): number => (typeof varz[k] === "number" ? varz[k] as number : 0);
  const out: Json = {
    start: varz.start,
    mem: n("mem"),
    cores: n("cores"),
    cpu: n("cpu"),
    connections: n("connections"),
    total_connections: n("total_connections"),
    active_accounts: activeAccounts,
    subscriptions: n("subscriptions"),
    sent: { msgs: n("out_msgs"), bytes: n("out_bytes") },
    received: { msgs: n("in_msgs"), bytes: n("in_bytes") },
    slow_consumers: n("slow_consumers"),
  };
  const routes = (routez?.routes ?? []) as Json[];
  if (routes.length > 0) {
    out.routes = routes.map((r) => ({
      rid: r.rid,
      name: r.remote_name,
      sent: { msgs: r.out_msgs, bytes: r.out_bytes },
      received: { msgs: r.in_msgs, bytes: r.in_bytes },
      pending: r.pending_size ?? 0,
    }));
  }
  // With JetStream on, its limits and usage (the /varz jetstream section, without the store directory).
  const js = varz.jetstream as { config?: Json; stats?: Json } | undefined;
  if (js?.config !== undefined && js.stats !== undefined) {
    const config: Json = { max_memory: js.config.max_memory, max_storage: js.config.max_storage };
    if (js.config.domain !== undefined) config.domain = js.config.domain;
    out.jetstream = { config, stats: js.stats };
  }
  const gateways = gatewayStats(gatewayz);
  if (gateways.length > 0) out.gateways = gateways;
  // The servers this one is linked to: its routes, and every server of other clusters that dialed its gateway.
  // (nats-server counts the servers it hears heartbeats from; listening to every heartbeat here would send
  // them across gateways without anyone asking.)
  const inbound = Object.values((gatewayz?.inbound_gateways ?? {}) as Record<string, unknown[]>).reduce((n, l) => n + l.length, 0);
  out.active_servers = 1 + routes.length + inbound;
  return out;
}

/** Per remote gateway: the outbound link's sent counters, and the received counters of its inbound links. */
function gatewayStats(gatewayz: Json | undefined): Json[] {
  const outbound = (gatewayz?.outbound_gateways ?? {}) as Record<string, { connection?: Json }>;
  const inbound = (gatewayz?.inbound_gateways ?? {}) as Record<string, Array<{ connection?: Json }>>;
  const num = (v: unknown): number => (typeof v === "number" ? v : 0);
  return Object.entries(outbound).map(([name, o]) => {
    const ins = inbound[name] ?? [];
    const c = o.connection ?? {};
    return {
      gwid: c.cid,
      name,
      sent: { msgs: num(c.out_msgs), bytes: num(c.out_bytes) },
      received: {
        msgs: ins.reduce((n, i) => n + num(i.connection?.in_msgs), 0),
        bytes: ins.reduce((n, i) => n + num(i.connection?.in_bytes), 0),
      },
      inbound_connections: ins.length,
    };
  });
}
