/**
 * NATS Streaming's monitoring pages (`/streaming/serverz`, `storez`, `clientsz`, `channelsz`) in
 * nats-streaming-server's JSON shapes, computed from a running StanServer.
 */
import type { ChannelLimits } from "../config/streaming.ts";
import type { Channel, Group, Sub } from "./channel.ts";
import type { StanServer } from "./server.ts";

/** What an HTTP path answers: JSON data, or an error text with its status. */
export type StanMonitorResult = { ok: true; data: unknown } | { ok: false; status: number; error: string };

const DEFAULT_LIST_LIMIT = 1024;
/** The protocol version Petrel serves, reported as nats-streaming-server's last release. */
export const STAN_VERSION = "0.25.6";

interface Subscriptionz {
  client_id: string;
  inbox: string;
  ack_inbox: string;
  durable_name?: string;
  queue_name?: string;
  is_durable: boolean;
  is_offline: boolean;
  max_inflight: number;
  ack_wait: number;
  last_sent: number;
  pending_count: number;
  is_stalled: boolean;
}

/** nats-streaming-server's uptime format: 1y2d3h4m5s, leading zero units left out. */
export function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  const y = Math.floor(d / 365);
  if (y > 0) return `${y}y${d % 365}d${h % 24}h${m % 60}m${s % 60}s`;
  if (d > 0) return `${d}d${h % 24}h${m % 60}m${s % 60}s`;
  if (h > 0) return `${h}h${m % 60}m${s % 60}s`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

function now(stan: StanServer): string {
  return new Date(stan.clock.now()).toISOString();
}

function totals(stan: StanServer): { msgs: number; bytes: number; subs: number } {
  let msgs = 0;
  let bytes = 0;
  let subs = 0;
  for (const ch of stan.channels.values()) {
    const st = ch.stream.state();
    msgs += st.messages;
    bytes += st.bytes;
    for (const g of ch.groups.values()) subs += g.members.length;
  }
  return { msgs, bytes, subs };
}

export function serverz(stan: StanServer): StanMonitorResult {
  const t = totals(stan);
  const at = stan.clock.now();
  return {
    ok: true,
    data: {
      cluster_id: stan.opts.cluster_id,
      server_id: stan.serverId,
      version: STAN_VERSION,
      go: "petrel",
      state: stan.opts.cluster ? "CLUSTERED" : "STANDALONE",
      ...(stan.opts.cluster ? { role: stan.serving ? "Leader" : "Follower" } : {}),
      now: new Date(at).toISOString(),
      start_time: new Date(stan.startTime).toISOString(),
      uptime: uptime(at - stan.startTime),
      clients: stan.clients.size,
      subscriptions: t.subs,
      channels: stan.channels.size,
      total_msgs: t.msgs,
      total_bytes: t.bytes,
      ...stan.stats,
    },
  };
}

function limitsz(l: Partial<ChannelLimits>): Record<string, number> {
  const out: Record<string, number> = {};
  if (l.max_msgs !== undefined) out.max_msgs = l.max_msgs;
  if (l.max_bytes !== undefined) out.max_bytes = l.max_bytes;
  // A Go time.Duration: nanoseconds.
  if (l.max_age !== undefined) out.max_age = l.max_age * 1_000_000;
  if (l.max_subs !== undefined) out.max_subscriptions = l.max_subs;
  if (l.max_inactivity !== undefined) out.max_inactivity = l.max_inactivity * 1_000_000;
  return out;
}

export function storez(stan: StanServer): StanMonitorResult {
  const t = totals(stan);
  const o = stan.opts;
  const channels: Record<string, unknown> = {};
  for (const [name, l] of Object.entries(o.channels)) channels[name] = limitsz({ ...o.limits, ...l });
  const limits: Record<string, unknown> = { max_channels: o.max_channels, ...limitsz(o.limits) };
  if (Object.keys(channels).length > 0) limits.channels = channels;
  return {
    ok: true,
    data: {
      cluster_id: o.cluster_id,
      server_id: stan.serverId,
      now: now(stan),
      type: o.store.toUpperCase(),
      limits,
      total_msgs: t.msgs,
      total_bytes: t.bytes,
    },
  };
}

function subz(g: Group, s: Sub | undefined, ackInbox: string): Subscriptionz {
  const out: Subscriptionz = {
    client_id: s?.clientID ?? g.clientID,
    inbox: s?.inbox ?? "",
    ack_inbox: s?.ackInbox ?? ackInbox,
    is_durable: g.durable !== undefined,
    is_offline: s === undefined,
    max_inflight: s?.maxInflight ?? 0,
    ack_wait: s ? Math.round(s.ackWait / 1000) : 0,
    last_sent: g.lastSent,
    pending_count: s ? s.pending.size : g.parked.length,
    is_stalled: s ? s.pending.size >= s.maxInflight : false,
  };
  if (g.durable !== undefined) out.durable_name = g.durable;
  if (g.qgroup !== undefined) out.queue_name = g.qgroup;
  return out;
}

function channelSubs(ch: Channel): Subscriptionz[] {
  const out: Subscriptionz[] = [];
  for (const g of ch.groups.values()) {
    if (g.members.length === 0) out.push(subz(g, undefined, ""));
    for (const s of g.members) out.push(subz(g, s, s.ackInbox));
  }
  return out;
}

function page(q: URLSearchParams, total: number): { offset: number; limit: number; from: number; to: number } {
  const offset = Math.max(0, Number.parseInt(q.get("offset") ?? "0", 10) || 0);
  const lim = Number.parseInt(q.get("limit") ?? "", 10);
  const limit = Number.isFinite(lim) && lim > 0 ? lim : DEFAULT_LIST_LIMIT;
  const from = Math.min(offset, total);
  return { offset, limit, from, to: Math.min(from + limit, total) };
}

function clientz(stan: StanServer, id: string, withSubs: boolean): Record<string, unknown> | undefined {
  const c = stan.clients.get(id);
  if (c === undefined) return undefined;
  const out: Record<string, unknown> = { id: c.id, hb_inbox: c.hbInbox };
  if (withSubs && c.subs.size > 0) {
    const subs: Record<string, Subscriptionz[]> = {};
    for (const s of c.subs) (subs[s.group.channel] ??= []).push(subz(s.group, s, s.ackInbox));
    out.subscriptions = subs;
  }
  return out;
}

export function clientsz(stan: StanServer, q: URLSearchParams): StanMonitorResult {
  const withSubs = q.get("subs") === "1";
  const one = q.get("client");
  if (one !== null && one !== "") {
    const c = clientz(stan, one, withSubs);
    return c ? { ok: true, data: c } : { ok: false, status: 404, error: `Client ${one} not found\n` };
  }
  const ids = [...stan.clients.keys()].sort();
  const p = page(q, ids.length);
  const clients = ids.slice(p.from, p.to).map((id) => clientz(stan, id, withSubs)).filter((c) => c !== undefined);
  return {
    ok: true,
    data: {
      cluster_id: stan.opts.cluster_id,
      server_id: stan.serverId,
      now: now(stan),
      offset: p.offset,
      limit: p.limit,
      count: clients.length,
      total: ids.length,
      clients,
    },
  };
}

function channelz(ch: Channel, withSubs: boolean): Record<string, unknown> {
  const st = ch.stream.state();
  const out: Record<string, unknown> = {
    name: ch.name,
    msgs: st.messages,
    bytes: st.bytes,
    first_seq: st.first_seq,
    last_seq: st.last_seq,
  };
  if (withSubs) {
    const subs = channelSubs(ch);
    if (subs.length > 0) out.subscriptions = subs;
  }
  return out;
}

export function channelsz(stan: StanServer, q: URLSearchParams): StanMonitorResult {
  const withSubs = q.get("subs") === "1";
  const one = q.get("channel");
  if (one !== null && one !== "") {
    const ch = stan.channels.get(one);
    return ch ? { ok: true, data: channelz(ch, withSubs) } : { ok: false, status: 404, error: `Channel ${one} not found\n` };
  }
  const names = [...stan.channels.keys()].sort();
  const p = page(q, names.length);
  const chosen = names.slice(p.from, p.to);
  const data: Record<string, unknown> = {
    cluster_id: stan.opts.cluster_id,
    server_id: stan.serverId,
    now: now(stan),
    offset: p.offset,
    limit: p.limit,
    count: chosen.length,
    total: names.length,
  };
  if (withSubs) {
    const channels = chosen.map((n) => stan.channels.get(n)).filter((c) => c !== undefined).map((c) => channelz(c, true));
    if (channels.length > 0) data.channels = channels;
  } else if (chosen.length > 0) data.names = chosen;
  return { ok: true, data };
}

/** The monitoring paths under `/streaming/`, by their last element. */
export function stanMonitorSections(stan: StanServer): Record<string, (q: URLSearchParams) => StanMonitorResult> {
  return {
    serverz: () => serverz(stan),
    storez: () => storez(stan),
    clientsz: (q) => clientsz(stan, q),
    channelsz: (q) => channelsz(stan, q),
  };
}
