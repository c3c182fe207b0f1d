/** The gateway's monitoring views in nats-server's shape: /gatewayz and the gateway section of /varz. */
import { defaultAuthTimeoutMs } from "../tls/config.ts";
import { goDuration, rfc3339, uptime } from "../monitor/format.ts";
import type { Gateway } from "./gateway.ts";
import type { GatewayConnView } from "./types.ts";

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

/** `/gatewayz`; `gw_name=` keeps one remote gateway. */
export function gatewayz(g: Gateway, q?: URLSearchParams): Record<string, unknown> {
  const only = q?.get("gw_name") ?? "";
  const now = new Date();
  const t = now.getTime();
  const outbound: Record<string, unknown> = {};
  for (const [name, c] of g.outbound()) {
    if (only !== "" && name !== only) continue;
    outbound[name] = { configured: g.remotes.get(name)?.configured ?? false, connection: connection(c, t) };
  }
  const inbound: Record<string, unknown[]> = {};
  for (const c of g.inbound) {
    if (c.state !== "active") continue;
    const name = c.remoteGateway;
    if (only !== "" && name !== only) continue;
    (inbound[name] ??= []).push({ configured: g.remotes.get(name)?.configured ?? false, connection: connection(c, t) });
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
