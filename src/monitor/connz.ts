/** /connz: client connections (open, closed or both), with paging, sorting, an account filter and subscription lists. */
import type { Server } from "../server/server.ts";
import { accountExists, clientsOf } from "./accounts_view.ts";
import { type ConnSnapshot, snapshotOf } from "./closed_connections.ts";
import { goDuration, rfc3339, uptime } from "./format.ts";

export type ConnState = "open" | "closed" | "all";

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
  /** `state=open|closed|all` (nats-server also takes `any`). */
  state: ConnState;
  /** `user=`: only this user's connections. */
  user?: string;
}

const STATES: Record<string, ConnState> = { open: "open", closed: "closed", all: "all", any: "all" };

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
  const stateRaw = q.get("state") ?? "";
  const state = stateRaw === "" ? "open" : STATES[stateRaw.toLowerCase()];
  if (state === undefined) return `Error decoding state for ${stateRaw}`;
  const sort = q.get("sort") ?? "cid";
  if (!SORTS.has(sort)) return `invalid sorting option: ${sort}`;
  if ((sort === "stop" || sort === "reason") && state !== "closed") return `sort by ${sort} only valid on closed connections`;
  const acc = q.get("acc");
  const account = acc !== null && acc !== "" ? acc : undefined;
  const authRaw = q.get("auth") ?? "";
  const auth = authRaw === "1" || authRaw === "true";
  const userRaw = q.get("user");
  const user = userRaw !== null && userRaw !== "" ? userRaw : undefined;
  // As nats-server: a negative offset means 0, a limit <= 0 means the default.
  return { subs, subsDetail, cid, offset: Math.max(0, offset), limit: limit > 0 ? limit : 1024, sort, account, auth, state, user };
}

const SORTS = new Map<string, (a: ConnSnapshot, b: ConnSnapshot) => number>([
  ["cid", (a, b) => a.cid - b.cid],
  ["start", (a, b) => a.start - b.start],
  ["subs", (a, b) => b.subs.length - a.subs.length],
  ["pending", (a, b) => b.pending - a.pending],
  ["msgs_to", (a, b) => b.out_msgs - a.out_msgs],
  ["msgs_from", (a, b) => b.in_msgs - a.in_msgs],
  ["bytes_to", (a, b) => b.out_bytes - a.out_bytes],
  ["bytes_from", (a, b) => b.in_bytes - a.in_bytes],
  ["last", (a, b) => b.lastActivity - a.lastActivity],
  ["idle", (a, b) => a.lastActivity - b.lastActivity],
  ["uptime", (a, b) => a.start - b.start],
  ["stop", (a, b) => (b.stop ?? 0) - (a.stop ?? 0)],
  ["reason", (a, b) => (a.reason ?? "").localeCompare(b.reason ?? "")],
]);

function connInfo(c: ConnSnapshot, q: ConnzQuery, now: number): Record<string, unknown> {
  const end = c.stop ?? now;
  const out: Record<string, unknown> = {
    cid: c.cid,
    kind: "Client",
    type: c.type,
    ip: c.ip,
    port: c.port,
    start: rfc3339(new Date(c.start)),
    last_activity: rfc3339(new Date(c.lastActivity)),
  };
  if (c.stop !== undefined) {
    out.stop = rfc3339(new Date(c.stop));
    out.reason = c.reason;
  }
  Object.assign(out, {
    rtt: goDuration(c.rttMs),
    uptime: uptime(end - c.start),
    idle: uptime(end - c.lastActivity),
    pending_bytes: c.pending,
    in_msgs: c.in_msgs,
    out_msgs: c.out_msgs,
    in_bytes: c.in_bytes,
    out_bytes: c.out_bytes,
    subscriptions: c.subs.length,
  });
  if (c.name !== "") out.name = c.name;
  if (c.lang !== "") out.lang = c.lang;
  if (c.version !== "") out.version = c.version;
  if (c.tls !== undefined) {
    out.tls_version = c.tls.version;
    out.tls_cipher_suite = c.tls.cipher;
  }
  if (q.auth) {
    if (c.user !== undefined) out.authorized_user = c.user;
    if (c.account !== undefined) out.account = c.account;
  }
  if (q.subs && c.subs.length > 0) {
    if (q.subsDetail) {
      out.subscriptions_list_detail = c.subs.map((s) => ({
        subject: s.subject,
        qgroup: s.queue,
        sid: s.sid,
        msgs: s.delivered,
        max: s.max || undefined,
        cid: c.cid,
      }));
    } else {
      out.subscriptions_list = c.subs.map((s) => s.subject);
    }
  }
  return out;
}

/** `closed`: the closed connections kept so far (state=closed and state=all list them). */
export function connz(s: Server, q: ConnzQuery, closed: ConnSnapshot[] = []): Record<string, unknown> {
  const now = Date.now();
  if (q.account !== undefined && !accountExists(s, q.account)) {
    // nats-server answers an unknown account with an empty, id-less report.
    return { server_id: "", now: rfc3339(new Date(now)), num_connections: 0, total: 0, offset: q.offset, limit: q.limit, connections: null };
  }
  let list: ConnSnapshot[] = [];
  if (q.state !== "closed") list.push(...clientsOf(s, q.account).map((c) => snapshotOf(c)));
  if (q.state !== "open") list.push(...closed.filter((c) => q.account === undefined || c.account === q.account));
  if (q.cid !== undefined) list = list.filter((c) => c.cid === q.cid);
  if (q.user !== undefined) list = list.filter((c) => c.user === q.user);
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
