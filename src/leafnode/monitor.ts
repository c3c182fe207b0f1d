/** /leafz and the /varz leaf section, in nats-server's JSON shape. */
import { defaultAuthTimeoutMs } from "../tls/config.ts";
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

/**
 * The /varz leaf section as nats-server fills it: the listener's fields only when there is a listener (Go leaves
 * the empty ones out), and each remote's URLs as host:port (no scheme, no credentials).
 */
export function varzLeaf(l: LeafNodes): Record<string, unknown> {
  const o = l.options;
  const out: Record<string, unknown> = {};
  if (l.port !== 0) {
    out.host = o.host;
    out.port = l.port;
    out.auth_timeout = (o.authorization?.timeout ?? defaultAuthTimeoutMs(o.tls)) / 1000;
    out.tls_timeout = (o.tls?.timeout ?? 2000) / 1000;
    if (o.tls !== undefined) {
      out.tls_required = true;
      if (o.tls.verify) out.tls_verify = true;
    }
  }
  if (o.remotes.length > 0) {
    out.remotes = o.remotes.map((r) => ({ local_account: r.account ?? "$G", urls: r.urls.map(urlHost) }));
  }
  return out;
}

/** "nats://user:pass@host:7422" -> "host:7422", as Go's url.URL.Host. */
function urlHost(u: string): string {
  try {
    return new URL(u.includes("://") ? u : `nats://${u}`).host;
  } catch {
    return u;
  }
}
