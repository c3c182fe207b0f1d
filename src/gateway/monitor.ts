/** The gateway's monitoring views in nats-server's shape: /gatewayz and the gateway section of /varz. */
import { defaultAuthTimeoutMs } from "../tls/config.ts";
import { goDuration, rfc3339, uptime } from "../monitor/format.ts";
import type { Gateway } from "./gateway.ts";
import type { AccountMode, GatewayConnView } from "./types.ts";

function connection(c: GatewayConnView, now: number): Record<string, unknown> {
  return {
    cid: c.cid,
    kind: "Gateway",
    ip: c.duplex.info.remoteHost,
    port: c.duplex.info.remotePort,
    start: rfc3339(c.start),
    last_activity: rfc3339(new Date(c.lastActivity)),
    rtt: goDuration(c.rttMs),
    uptime: uptime(now - c.start.getTime()),
    idle: uptime(now - c.lastActivity),
    pending_bytes: c.pendingBytes(),
    in_msgs: c.stats.in_msgs,
    out_msgs: c.stats.out_msgs,
    in_bytes: c.stats.in_bytes,
    out_bytes: c.stats.out_bytes,
    subscriptions: c.subscriptionCount(),
    name: c.remoteId,
  };
}

/** nats-server's per-account entry; its switch threshold (RS- count) is fixed at 1000 there. */
function accountEntry(a: AccountMode): Record<string, unknown> {
  const e: Record<string, unknown> = { name: a.name, interest_mode: a.mode };
  if (a.noInterest > 0) e.no_interest_count = a.noInterest;
  e.interest_only_threshold = 1000;
  if (a.subs > 0) e.num_subs = a.subs;
  if (a.queueSubs > 0) e.num_queue_subs = a.queueSubs;
  return e;
}

/** The accounts part of a link's entry, when asked for (`accs=1`, or `acc_name=` for one account). */
function withAccounts(entry: Record<string, unknown>, c: GatewayConnView, accs: boolean, accName: string): Record<string, unknown> {
  if (!accs) return entry;
  const list = c.accountModes(accName === "" ? undefined : accName);
  return list.length === 0 ? entry : { ...entry, accounts: list.map(accountEntry) };
}

/** `/gatewayz`; `gw_name=` keeps one remote gateway; `accs=1` adds each account's interest mode, `acc_name=` one account's. */
export function gatewayz(g: Gateway, q?: URLSearchParams): Record<string, unknown> {
  const only = q?.get("gw_name") ?? "";
  const accName = q?.get("acc_name") ?? "";
  const accsRaw = q?.get("accs");
  const accs = accName !== "" || accsRaw === "1" || accsRaw === "true";
  const now = new Date();
  const t = now.getTime();
  const outbound: Record<string, unknown> = {};
  for (const [name, c] of g.outbound()) {
    if (only !== "" && name !== only) continue;
    outbound[name] = withAccounts({ configured: g.remotes.get(name)?.configured ?? false, connection: connection(c, t) }, c, accs, accName);
  }
  const inbound: Record<string, unknown[]> = {};
  for (const c of g.inbound) {
    if (c.state !== "active") continue;
    const name = c.remoteGateway;
    if (only !== "" && name !== only) continue;
    (inbound[name] ??= []).push(withAccounts({ configured: g.remotes.get(name)?.configured ?? false, connection: connection(c, t) }, c, accs, accName));
  }
  return {
    server_id: g.server.serverId,
    now: rfc3339(now),
    name: g.name,
    host: g.host,
    port: g.port,
    outbound_gateways: outbound,
    inbound_gateways: inbound,
  };
}

export function varzGateway(g: Gateway): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: g.name,
    host: g.host,
    port: g.port,
    auth_timeout: (g.options.authorization?.timeout ?? defaultAuthTimeoutMs(g.options.tls)) / 1000,
    tls_timeout: (g.options.tls?.timeout ?? 2000) / 1000,
  };
  if (g.options.tls !== undefined) {
    out.tls_required = true;
    if (g.options.tls.verify) out.tls_verify = true;
  }
  // Only configured gateways: nats-server does not list the ones it learned of.
  const gateways = [...g.remotes.values()].filter((r) => r.configured).map((r) => ({ name: r.name, urls: [...r.urls.keys()] }));
  if (gateways.length > 0) out.gateways = gateways;
  if (g.options.reject_unknown_cluster) out.reject_unknown = true;
  return out;
}
