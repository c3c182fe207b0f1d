/** /leafz and the /varz leaf section, in nats-server's JSON shape. */
import { goDuration, rfc3339 } from "../monitor/format.ts";
import type { LeafNodes } from "./leafnode.ts";

export function leafz(l: LeafNodes, q?: URLSearchParams): Record<string, unknown> {
  const withSubs = q?.get("subs") === "1" || q?.get("subs") === "true";
  const leafs = l.active.map((c) => {
    const info = c.duplex.info;
    const entry: Record<string, unknown> = {
      name: c.remoteName,
      is_spoke: c.solicited,
      account: c.account.name,
      ip: info.remoteHost,
      port: info.remotePort,
      rtt: goDuration(c.rttMs),
      in_msgs: c.stats.in_msgs,
      out_msgs: c.stats.out_msgs,
      in_bytes: c.stats.in_bytes,
      out_bytes: c.stats.out_bytes,
      subscriptions: c.subs.size,
    };
    if (withSubs) entry.subscriptions_list = [...c.subs.values()].map((s) => (s.queue === undefined ? s.subject : `${s.subject} ${s.queue}`));
    return entry;
  });
  return {
    server_id: l.server.serverId,
    now: rfc3339(new Date()),
    leafnodes: leafs.length,
    leafs,
  };
}

export function varzLeaf(l: LeafNodes): Record<string, unknown> {
  const o = l.options;
  const out: Record<string, unknown> = {
    host: o.host,
    port: l.port,
    auth_timeout: 1,
    tls_timeout: 2,
  };
  if (o.remotes.length > 0) {
    out.remotes = o.remotes.map((r) => ({ local_account: r.account ?? "$G", urls: r.urls }));
  }
  return out;
}
