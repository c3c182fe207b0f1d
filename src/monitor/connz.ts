/** /connz: open client connections, with paging, sorting, an account filter and optional subscription lists. */
import type { ClientConn } from "../server/client.ts";
import type { Server } from "../server/server.ts";
import { accountExists, accountOfClient, clientsOf } from "./accounts_view.ts";
import { goDuration, rfc3339, uptime } from "./format.ts";

export interface ConnzQuery {
  subs: boolean;
  subsDetail: boolean;
  cid?: number;
  offset: number;
  limit: number;
  sort: string;
  /** `acc=`: only this account's connections. */
  account?: string;
  /** `auth=true`: include the authorized user and the account. */
  auth: boolean;
}

export function parseConnzQuery(q: URLSearchParams): ConnzQuery | string {
  const subsRaw = q.get("subs") ?? "";
  const subsDetail = subsRaw === "detail";
  const subs = subsDetail || subsRaw === "1" || subsRaw === "true";
  const num = (name: string, dflt: number): number | string => {
    const v = q.get(name);
    if (v === null || v === "") return dflt;
    const n = Number(v);
    return Number.isInteger(n) ? n : `invalid ${name}: ${v}`;
  };
  const offset = num("offset", 0);
  const limit = num("limit", 1024);
  const cidRaw = q.get("cid");
  if (typeof offset === "string") return offset;
  if (typeof limit === "string") return limit;
  let cid: number | undefined;
  if (cidRaw !== null && cidRaw !== "") {
    cid = Number(cidRaw);
    if (!Number.isInteger(cid)) return `invalid cid: ${cidRaw}`;
  }
  const sort = q.get("sort") ?? "cid";
  if (!SORTS.has(sort)) return `invalid sorting option: ${sort}`;
  // As nats-server: a negative offset means 0, a limit <= 0 means the default.
  const acc = q.get("acc");
  const account = acc !== null && acc !== "" ? acc : undefined;
  const authRaw = q.get("auth") ?? "";
  const auth = authRaw === "1" || authRaw === "true";
  return { subs, subsDetail, cid, offset: Math.max(0, offset), limit: limit > 0 ? limit : 1024, sort, account, auth };
}

const SORTS = new Map<string, (a: ClientConn, b: ClientConn) => number>([
  ["cid", (a, b) => a.cid - b.cid],
  ["start", (a, b) => a.start.getTime() - b.start.getTime()],
  ["subs", (a, b) => b.subs.size - a.subs.size],
  ["pending", (a, b) => b.duplex.bufferedAmount() - a.duplex.bufferedAmount()],
  ["msgs_to", (a, b) => b.stats.out_msgs - a.stats.out_msgs],
  ["msgs_from", (a, b) => b.stats.in_msgs - a.stats.in_msgs],
  ["bytes_to", (a, b) => b.stats.out_bytes - a.stats.out_bytes],
  ["bytes_from", (a, b) => b.stats.in_bytes - a.stats.in_bytes],
  ["last", (a, b) => b.lastActivity - a.lastActivity],
  ["idle", (a, b) => a.lastActivity - b.lastActivity],
  ["uptime", (a, b) => a.start.getTime() - b.start.getTime()],
]);

function connInfo(c: ClientConn, q: ConnzQuery, now: number): Record<string, unknown> {
  const i = c.duplex.info;
  const out: Record<string, unknown> = {
    cid: c.cid,
    kind: "Client",
    type: i.kind === "ws" ? "websocket" : "nats",
    ip: i.remoteHost,
    port: i.remotePort,
    start: rfc3339(c.start),
    last_activity: rfc3339(new Date(c.lastActivity)),
    rtt: goDuration(c.rttMs),
    uptime: uptime(now - c.start.getTime()),
    idle: uptime(now - c.lastActivity),
    pending_bytes: c.duplex.bufferedAmount() + c.out.len,
    in_msgs: c.stats.in_msgs,
    out_msgs: c.stats.out_msgs,
    in_bytes: c.stats.in_bytes,
    out_bytes: c.stats.out_bytes,
    subscriptions: c.subs.size,
  };
  if (c.name !== "") out.name = c.name;
  if (c.lang !== "") out.lang = c.lang;
  if (c.version !== "") out.version = c.version;
  if (i.tls !== undefined) {
    out.tls_version = i.tls.version;
    out.tls_cipher_suite = i.tls.cipher;
  }
  if (q.auth) {
    if (c.user !== undefined) out.authorized_user = c.user;
    out.account = accountOfClient(c);
  }
  if (q.subs && c.subs.size > 0) {
    if (q.subsDetail) {
      out.subscriptions_list_detail = [...c.subs.values()].map((s) => ({
        subject: s.subject,
        qgroup: s.queue,
        sid: s.sid,
        msgs: s.delivered,
        max: s.max || undefined,
        cid: c.cid,
      }));
    } else {
      out.subscriptions_list = [...c.subs.values()].map((s) => s.subject);
    }
  }
  return out;
}

export function connz(s: Server, q: ConnzQuery): Record<string, unknown> {
  const now = Date.now();
  if (q.account !== undefined && !accountExists(s, q.account)) {
    // nats-server answers an unknown account with an empty, id-less report.
    return { server_id: "", now: rfc3339(new Date(now)), num_connections: 0, total: 0, offset: q.offset, limit: q.limit, connections: null };
  }
  let list = clientsOf(s, q.account);
  if (q.cid !== undefined) list = list.filter((c) => c.cid === q.cid);
  list.sort(SORTS.get(q.sort));
  const total = list.length;
  const page = list.slice(q.offset, q.offset + q.limit);
  return {
    server_id: s.serverId,
    now: rfc3339(new Date(now)),
    num_connections: page.length,
    total,
    offset: q.offset,
    limit: q.limit,
    connections: page.map((c) => connInfo(c, q, now)),
  };
}
