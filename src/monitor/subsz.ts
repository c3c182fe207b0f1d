/** /subsz: subscription index statistics, optionally with the subscriptions themselves. */
import type { Server } from "../server/server.ts";
import { rfc3339 } from "./format.ts";

export function subsz(s: Server, q: URLSearchParams): Record<string, unknown> {
  const accounts = [...s.accounts];
  const all = accounts.flatMap((a) => a.sublist.all().map((sub) => ({ sub, account: a.name })));
  const out: Record<string, unknown> = {
    server_id: s.serverId,
    now: rfc3339(new Date()),
    num_subscriptions: s.numSubscriptions,
    num_cache: accounts.reduce((n, a) => n + a.sublist.cacheSize(), 0),
    num_inserts: 0,
    num_removes: 0,
    num_matches: 0,
    cache_hit_rate: 0,
    max_fanout: 0,
    avg_fanout: 0,
  };
  const subs = q.get("subs");
  if (subs === "1" || subs === "true" || subs === "detail") {
    const test = q.get("test");
    const offset = Number(q.get("offset") ?? 0) || 0;
    const limit = Number(q.get("limit") ?? 1024) || 1024;
    let list = all.filter((x) => x.sub.owner.kind === "client" || x.sub.owner.kind === "internal");
    if (test !== null && test !== "") {
      const hits = new Set(accounts.flatMap((a) => {
        const r = a.sublist.match(test);
        return [...r.psubs, ...r.qsubs.flat()];
      }));
      list = list.filter((x) => hits.has(x.sub));
    }
    out.total = list.length;
    out.offset = offset;
    out.limit = limit;
    out.subscriptions_list = list.slice(offset, offset + limit).map(({ sub: x, account }) => ({
      account,
      subject: x.subject,
      qgroup: x.queue,
      sid: x.sid,
      msgs: x.delivered,
      cid: x.owner.cid,
    }));
  }
  return out;
}
