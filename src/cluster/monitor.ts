/** The cluster's monitoring views in nats-server's shape: /routez, the cluster section of /varz. */
import { defaultAuthTimeoutMs } from "../tls/config.ts";
import { goDuration, rfc3339, uptime } from "../monitor/format.ts";
import type { Cluster } from "./cluster.ts";

export function routez(c: Cluster, q?: URLSearchParams): Record<string, unknown> {
  const withSubs = q?.get("subs") === "1" || q?.get("subs") === "true";
  const withDetail = q?.get("subs") === "detail";
  const now = new Date();
  const routes = [...c.remotes.values()].map((r) => {
    const subs = [...r.subs.values()];
    const info: Record<string, unknown> = {
      rid: r.cid,
      remote_id: r.remoteId,
      remote_name: r.remoteName,
      did_solicit: r.solicited,
      is_configured: r.configuredUrl !== undefined,
      ip: r.duplex.info.remoteHost,
      port: r.duplex.info.remotePort,
      start: rfc3339(r.start),
      last_activity: rfc3339(new Date(r.lastActivity)),
      rtt: goDuration(r.rttMs),
      uptime: uptime(now.getTime() - r.start.getTime()),
      idle: uptime(now.getTime() - r.lastActivity),
      pending_size: r.out.len + r.duplex.bufferedAmount(),
      in_msgs: r.stats.in_msgs,
      out_msgs: r.stats.out_msgs,
      in_bytes: r.stats.in_bytes,
      out_bytes: r.stats.out_bytes,
      subscriptions: subs.length,
    };
    if (withSubs && subs.length > 0) info.subscriptions_list = subs.map((s) => s.subject);
    if (withDetail && subs.length > 0) {
      info.subscriptions_list_detail = subs.map((s) => ({
        account: s.account.name,
        subject: s.subject,
        qgroup: s.queue,
        sid: s.sid,
        msgs: s.delivered,
        cid: r.cid,
      }));
    }
    return info;
  });
  return {
    server_id: c.server.serverId,
    server_name: c.server.serverName,
    now: rfc3339(now),
    num_routes: routes.length,
    routes,
  };
}

export function varzCluster(c: Cluster): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: c.clusterName,
    addr: c.host,
    cluster_port: c.port,
    auth_timeout: (c.options.authorization?.timeout ?? defaultAuthTimeoutMs(c.options.tls)) / 1000,
  };
  const urls = c.configuredUrls;
  if (urls.length > 0) out.urls = urls;
  const tls = c.options.tls;
  out.tls_timeout = (tls?.timeout ?? 2000) / 1000;
  if (tls !== undefined) {
    out.tls_required = true;
    if (tls.verify) out.tls_verify = true;
  }
  return out;
}
