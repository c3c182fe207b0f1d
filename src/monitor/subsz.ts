/** /subsz: subscription index statistics, optionally with the subscriptions themselves, for one account or all. */
import type { Server } from "../server/server.ts";
import { accountExists, listedSubscription, matchingSubscriptions, sublistTotals, subscriptionsOf } from "./accounts_view.ts";
import { rfc3339 } from "./format.ts";

export interface SubszQuery {
  subs: boolean;
  offset: number;
  limit: number;
  test?: string;
  account?: string;
}

export function parseSubszQuery(q: URLSearchParams): SubszQuery {
  const subs = q.get("subs");
  const test = q.get("test");
  const acc = q.get("acc");
  return {
    subs: subs === "1" || subs === "true" || subs === "detail",
    offset: Math.max(0, Number(q.get("offset") ?? 0) || 0),
    limit: Number(q.get("limit") ?? 1024) || 1024,
    test: test !== null && test !== "" ? test : undefined,
    account: acc !== null && acc !== "" ? acc : undefined,
  };
}

const ZERO_STATS = {
  num_cache: 0,
  num_inserts: 0,
  num_removes: 0,
  num_matches: 0,
  cache_hit_rate: 0,
  max_fanout: 0,
  avg_fanout: 0,
};

export function subsz(s: Server, q: SubszQuery): Record<string, unknown> {
  // nats-server answers an unknown account with bare (id-less) zero statistics.
  if (q.account !== undefined && !accountExists(s, q.account)) return { num_subscriptions: 0, ...ZERO_STATS };
  const totals = sublistTotals(s, q.account);
  const out: Record<string, unknown> = {
    server_id: s.serverId,
    now: rfc3339(new Date()),
    num_subscriptions: totals.count,
    ...ZERO_STATS,
    num_cache: totals.cache,
  };
  if (q.subs) {
    let list = subscriptionsOf(s, q.account).filter((x) => listedSubscription(x.sub));
    if (q.test !== undefined) {
      const hits = matchingSubscriptions(s, q.test, q.account);
      list = list.filter((x) => hits.has(x.sub));
    }
    out.total = list.length;
    out.offset = q.offset;
    out.limit = q.limit;
    out.subscriptions_list = list.slice(q.offset, q.offset + q.limit).map(({ sub: x, account }) => ({
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
