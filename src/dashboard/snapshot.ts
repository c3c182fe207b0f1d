/**
 * Turns the monitoring endpoints' JSON into the dashboard's frames: the server summary, the topology graph,
 * and the filtered, sorted, paged tables one viewer asked for. Pure functions of that JSON, so the dashboard
 * shows exactly what the endpoints expose and picks up fields other parts of Petrel add to them later
 * (accounts on connections, cluster info in /jsz).
 */
import type {
  ClusterInfo,
  ConnRow,
  ConsumerRow,
  JetStreamSummary,
  Page,
  ReplicaInfo,
  ServerSummary,
  StreamRow,
  SubRow,
  Topology,
  TopologyNode,
} from "./types.ts";
import type { View } from "./view.ts";
import type { Counters } from "./rates.ts";
import { goDuration } from "../monitor/format.ts";

export type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? v as Json : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function serverSummary(varz: Json): ServerSummary {
  const js = obj(varz.jetstream);
  return {
    id: str(varz.server_id),
    name: str(varz.server_name),
    version: str(varz.version),
    uptime: str(varz.uptime),
    host: str(varz.host),
    port: num(varz.port),
    connections: num(varz.connections),
    total_connections: num(varz.total_connections),
    subscriptions: num(varz.subscriptions),
    in_msgs: num(varz.in_msgs),
    out_msgs: num(varz.out_msgs),
    in_bytes: num(varz.in_bytes),
    out_bytes: num(varz.out_bytes),
    slow_consumers: num(varz.slow_consumers),
    mem: num(varz.mem),
    jetstream: Object.keys(obj(js.config)).length > 0,
    auth_required: varz.auth_required === true,
  };
}

export function counters(s: ServerSummary, t: number): Counters {
  return {
    t,
    in_msgs: s.in_msgs,
    out_msgs: s.out_msgs,
    in_bytes: s.in_bytes,
    out_bytes: s.out_bytes,
    connections: s.connections,
    slow_consumers: s.slow_consumers,
  };
}

const address = (ip: unknown, port: unknown) => (ip === undefined ? undefined : `${str(ip)}:${num(port)}`);

/** This server, its route peers, the gateways (remote clusters) and leafnode links, with their state. */
export function topology(varz: Json, routez: Json, gatewayz: Json, leafz: Json): Topology {
  const nodes: TopologyNode[] = [{
    kind: "self",
    name: str(varz.server_name),
    id: str(varz.server_id),
    state: "up",
    address: address(varz.host, varz.port),
  }];
  for (const r of arr(routez.routes).map(obj)) {
    nodes.push({
      kind: "route",
      name: str(r.remote_name) || str(r.remote_id),
      id: str(r.remote_id),
      state: "up",
      address: address(r.ip, r.port),
      rtt: str(r.rtt),
      direction: r.did_solicit === true ? "outbound" : "inbound",
      in_msgs: num(r.in_msgs),
      out_msgs: num(r.out_msgs),
    });
  }
  // A gateway is one remote cluster, reached outbound and/or inbound; it is up when some link is.
  const gws = new Map<string, TopologyNode>();
  const gwNode = (name: string): TopologyNode => {
    let n = gws.get(name);
    if (n === undefined) {
      n = { kind: "gateway", name, state: "down", in_msgs: 0, out_msgs: 0 };
      gws.set(name, n);
    }
    return n;
  };
  const addDirection = (n: TopologyNode, d: string) => {
    n.direction = n.direction === undefined || n.direction === d ? d : "both";
  };
  const addServer = (n: TopologyNode, id: unknown) => {
    const s = str(id);
    if (s !== "" && !(n.servers ??= []).includes(s)) n.servers.push(s);
  };
  for (const [name, v] of Object.entries(obj(gatewayz.outbound_gateways))) {
    if (name === str(gatewayz.name)) continue;
    const conn = obj(obj(v).connection);
    const n = gwNode(name);
    if (Object.keys(conn).length > 0) {
      n.state = "up";
      n.address ??= address(conn.ip, conn.port);
      n.rtt ??= str(conn.rtt);
      n.in_msgs = num(n.in_msgs) + num(conn.in_msgs);
      n.out_msgs = num(n.out_msgs) + num(conn.out_msgs);
      addDirection(n, "outbound");
      addServer(n, conn.name);
    }
  }
  for (const [name, list] of Object.entries(obj(gatewayz.inbound_gateways))) {
    if (name === str(gatewayz.name)) continue;
    for (const v of arr(list)) {
      const conn = obj(obj(v).connection);
      const n = gwNode(name);
      n.state = "up";
      n.address ??= address(conn.ip, conn.port);
      n.in_msgs = num(n.in_msgs) + num(conn.in_msgs);
      n.out_msgs = num(n.out_msgs) + num(conn.out_msgs);
      addDirection(n, "inbound");
      addServer(n, conn.name);
    }
  }
  nodes.push(...[...gws.values()].sort((a, b) => (a.name < b.name ? -1 : 1)));
  for (const l of arr(leafz.leafs).map(obj)) {
    nodes.push({
      kind: "leaf",
      name: str(l.name) || address(l.ip, l.port) || "leaf",
      state: "up",
      address: address(l.ip, l.port),
      rtt: str(l.rtt),
      account: str(l.account),
      direction: l.is_spoke === true ? "outbound" : "inbound",
      in_msgs: num(l.in_msgs),
      out_msgs: num(l.out_msgs),
    });
  }
  const cluster = str(obj(varz.cluster).name);
  const gateway = str(gatewayz.name) || str(obj(varz.gateway).name);
  return { cluster: cluster || undefined, gateway: gateway || undefined, nodes };
}

/** Account names from /accountz (when it lists them), else from what the connections and streams show. */
export function accountNames(accountz: Json, seen: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const a of arr(accountz.accounts)) {
    const n = typeof a === "string" ? a : str(obj(a).account_name ?? obj(a).name);
    if (n !== "") names.add(n);
  }
  for (const n of seen) if (n !== "") names.add(n);
  return [...names].sort();
}

// ---- tables: filter, sort, page ----

type Row = object;

function cmp(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return str(a).localeCompare(str(b), "en");
}

/** Durations as /connz prints them ("1h2m3s", "350ms") compare by length of time, not as text. */
export function durationMs(s: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|µs|us|ns|y|d|h|m|s)/g;
  const unit: Record<string, number> = { y: 31_536_000_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6 };
  for (const m of s.matchAll(re)) total += Number(m[1]) * (unit[m[2]] ?? 0);
  return total;
}

const DURATIONS = new Set(["uptime", "idle", "rtt"]);

export function pageOf<T extends Row>(
  rows: T[],
  view: View,
  columns: readonly (keyof T & string)[],
  dflt: keyof T & string,
  matches: (row: T, q: string) => boolean,
): Page<T> {
  const q = view.q.trim().toLowerCase();
  let list = q === "" ? rows : rows.filter((r) => matches(r, q));
  const key = (columns as readonly string[]).includes(view.sort) ? view.sort as keyof T & string : dflt;
  const sign = view.dir === "asc" ? 1 : -1;
  const value = (r: T): unknown => {
    const v = r[key];
    return DURATIONS.has(key) ? durationMs(str(v)) : v;
  };
  list = [...list].sort((a, b) => sign * cmp(value(a), value(b)));
  const offset = Math.min(view.offset, Math.max(0, list.length - 1 - ((list.length - 1) % view.limit)));
  return { total: list.length, offset, limit: view.limit, rows: list.slice(offset, offset + view.limit) };
}

export const CONN_COLUMNS = [
  "cid", "name", "account", "user", "ip", "lang", "subscriptions", "in_msgs", "out_msgs", "in_bytes", "out_bytes",
  "pending_bytes", "uptime", "idle", "rtt",
] as const;

export function connRows(connz: Json): ConnRow[] {
  return arr(connz.connections).map(obj).map((c) => {
    const detail = arr(c.subscriptions_list_detail).map(obj);
    const subjects = detail.length > 0 ? detail.map((d) => str(d.subject)) : arr(c.subscriptions_list).map(str);
    return {
      cid: num(c.cid),
      name: str(c.name),
      account: str(c.account) || str(detail[0]?.account) || "$G",
      user: str(c.authorized_user),
      ip: str(c.ip),
      port: num(c.port),
      lang: str(c.lang),
      version: str(c.version),
      subscriptions: num(c.subscriptions),
      in_msgs: num(c.in_msgs),
      out_msgs: num(c.out_msgs),
      in_bytes: num(c.in_bytes),
      out_bytes: num(c.out_bytes),
      pending_bytes: num(c.pending_bytes),
      uptime: str(c.uptime),
      idle: str(c.idle),
      rtt: str(c.rtt),
      subjects,
    };
  });
}

export function connMatches(r: ConnRow, q: string): boolean {
  return String(r.cid) === q || r.name.toLowerCase().includes(q) || r.ip.includes(q) ||
    r.account.toLowerCase().includes(q) || r.user.toLowerCase().includes(q) || r.lang.toLowerCase().includes(q) ||
    r.subjects.some((s) => s.toLowerCase().includes(q));
}

export const SUB_COLUMNS = ["subject", "account", "qgroup", "sid", "msgs", "cid"] as const;

export function subRows(subsz: Json): SubRow[] {
  return arr(subsz.subscriptions_list).map(obj).map((s) => ({
    account: str(s.account) || "$G",
    subject: str(s.subject),
    qgroup: str(s.qgroup),
    sid: str(s.sid),
    msgs: num(s.msgs),
    cid: num(s.cid),
  }));
}

export function subMatches(r: SubRow, q: string): boolean {
  return r.subject.toLowerCase().includes(q) || r.qgroup.toLowerCase().includes(q) || String(r.cid) === q;
}

function clusterInfo(v: unknown): ClusterInfo | undefined {
  const c = obj(v);
  if (Object.keys(c).length === 0) return undefined;
  const replicas: ReplicaInfo[] = arr(c.replicas).map(obj).map((r) => ({
    name: str(r.name),
    current: typeof r.current === "boolean" ? r.current : undefined,
    // nats-server prints a peer's last activity as a Go duration in nanoseconds.
    active: r.active === undefined ? undefined : typeof r.active === "number" ? goDuration(r.active / 1e6) : str(r.active),
    lag: r.lag === undefined ? undefined : num(r.lag),
    offline: r.offline === true ? true : undefined,
    peer: r.peer === undefined ? undefined : str(r.peer),
  }));
  return {
    name: c.name === undefined ? undefined : str(c.name),
    leader: c.leader === undefined ? undefined : str(c.leader),
    replicas: replicas.length > 0 ? replicas : undefined,
  };
}

export function jsSummary(jsz: Json): JetStreamSummary {
  const meta = obj(jsz.meta_cluster);
  const api = obj(jsz.api);
  const out: JetStreamSummary = {
    enabled: jsz.disabled !== true && Object.keys(obj(jsz.config)).length > 0,
    streams: num(jsz.streams),
    consumers: num(jsz.consumers),
    messages: num(jsz.messages),
    bytes: num(jsz.bytes),
    memory: num(jsz.memory),
    storage: num(jsz.storage),
    api_total: num(api.total),
    api_errors: num(api.errors),
  };
  if (Object.keys(meta).length > 0) {
    out.meta = { ...clusterInfo(meta), cluster_size: meta.cluster_size === undefined ? undefined : num(meta.cluster_size) };
  }
  return out;
}

export const STREAM_COLUMNS = [
  "name", "account", "storage", "replicas", "messages", "bytes", "first_seq", "last_seq", "consumer_count",
] as const;

/**
 * A stream's group as /jsz draws it on one server (nats-server's way: every peer but that server, the leader
 * included when it is a follower) turned into the group seen from the leader: the leader, and the others as
 * replicas — the viewing server among them, current (it holds a replica and applies the log).
 */
export function groupView(c: ClusterInfo | undefined, self: string | undefined): ClusterInfo | undefined {
  if (!c?.leader || !self || c.leader === self) return c;
  const others = (c.replicas ?? []).filter((r) => r.name !== c.leader && r.name !== self);
  return { ...c, replicas: [...others, { name: self, current: true }] };
}

/** Streams of every account in /jsz?accounts=true&consumers=true&config=true; `self`: the server it came from. */
export function streamRows(jsz: Json, self?: string): StreamRow[] {
  const out: StreamRow[] = [];
  for (const acc of arr(jsz.account_details).map(obj)) {
    const account = str(acc.name) || "$G";
    for (const s of arr(acc.stream_detail).map(obj)) {
      const state = obj(s.state);
      const cfg = obj(s.config);
      const name = str(s.name);
      const consumers: ConsumerRow[] = arr(s.consumer_detail).map(obj).map((c) => ({
        name: str(c.name),
        num_pending: num(c.num_pending),
        num_ack_pending: num(c.num_ack_pending),
        num_redelivered: num(c.num_redelivered),
        num_waiting: num(c.num_waiting),
        delivered_seq: num(obj(c.delivered).stream_seq),
        ack_floor_seq: num(obj(c.ack_floor).stream_seq),
        cluster: clusterInfo(c.cluster),
      }));
      out.push({
        account,
        name,
        storage: str(cfg.storage) || "file",
        replicas: num(cfg.num_replicas) || 1,
        messages: num(state.messages),
        bytes: num(state.bytes),
        first_seq: num(state.first_seq),
        last_seq: num(state.last_seq),
        consumer_count: num(state.consumer_count) || consumers.length,
        subjects: arr(cfg.subjects).map(str),
        kv: name.startsWith("KV_") ? name.slice(3) : undefined,
        cluster: groupView(clusterInfo(s.cluster), self),
        consumers,
      });
    }
  }
  return out;
}

export function streamMatches(r: StreamRow, q: string): boolean {
  return r.name.toLowerCase().includes(q) || r.subjects.some((s) => s.toLowerCase().includes(q)) ||
    r.account.toLowerCase().includes(q);
}
