/**
 * Publish/subscribe permissions of one user, compiled into small sublists so checks are trie lookups, with a
 * per-connection cache for publish decisions (the same few subjects are published over and over).
 */
import { Sublist } from "../subjects/sublist.ts";
import { isLiteral, subjectIsSubsetOf, subjectsIntersect } from "../subjects/subject.ts";

export interface PermissionRule {
  allow?: string[];
  deny?: string[];
}

export interface PermissionsConfig {
  publish?: PermissionRule;
  subscribe?: PermissionRule;
}

interface Entry {
  subject: string;
}

function build(subjects: string[] | undefined): Sublist<Entry> | undefined {
  if (subjects === undefined) return undefined;
  const sl = new Sublist<Entry>();
  for (const s of subjects) sl.insert({ subject: s });
  return sl;
}

const PUB_CACHE_MAX = 1024;

export class Permissions {
  readonly #pubAllow: Sublist<Entry> | undefined;
  readonly #pubDeny: Sublist<Entry> | undefined;
  readonly #subAllow: string[] | undefined;
  readonly #subDeny: string[] | undefined;
  readonly #subDenyList: Sublist<Entry> | undefined;
  readonly #pubCache = new Map<string, boolean>();

  constructor(cfg: PermissionsConfig) {
    this.#pubAllow = build(cfg.publish?.allow);
    this.#pubDeny = build(cfg.publish?.deny);
    this.#subAllow = cfg.subscribe?.allow;
    this.#subDeny = cfg.subscribe?.deny;
    this.#subDenyList = build(cfg.subscribe?.deny);
  }

  canPublish(subject: string): boolean {
    const cached = this.#pubCache.get(subject);
    if (cached !== undefined) return cached;
    let ok = true;
    if (this.#pubAllow !== undefined) ok = this.#pubAllow.hasInterest(subject);
    if (ok && this.#pubDeny !== undefined) ok = !this.#pubDeny.hasInterest(subject);
    if (this.#pubCache.size >= PUB_CACHE_MAX) this.#pubCache.clear();
    this.#pubCache.set(subject, ok);
    return ok;
  }

  /**
   * A subscription is allowed when every subject it can match is allowed. A wildcard subscription that only
   * overlaps a deny entry is accepted; `deliveryDenied` filters those messages out at delivery.
   */
  canSubscribe(subject: string, queue?: string): boolean {
    if (this.#subAllow !== undefined) {
      const ok = this.#subAllow.some((a) => subjectIsSubsetOf(subject, a) || matchesQueueRule(a, subject, queue));
      if (!ok) return false;
    }
    if (this.#subDeny !== undefined) {
      if (this.#subDeny.some((d) => subjectIsSubsetOf(subject, d) || matchesQueueRule(d, subject, queue))) return false;
    }
    return true;
  }

  /** Must a message on this literal subject be withheld from this user's wildcard subscriptions? */
  deliveryDenied(subject: string): boolean {
    return this.#subDenyList !== undefined && this.#subDenyList.hasInterest(subject);
  }

  /** Does any subscribe deny rule overlap this subscription (so deliveries need filtering)? */
  needsDeliveryFilter(subject: string): boolean {
    return this.#subDeny !== undefined && !isLiteral(subject) &&
      this.#subDeny.some((d) => subjectsIntersect(subject, d));
  }
}

/** nats-server rules may name a queue: "subject queue". */
function matchesQueueRule(rule: string, subject: string, queue?: string): boolean {
  const sp = rule.indexOf(" ");
  if (sp === -1 || queue === undefined) return false;
  const rs = rule.slice(0, sp);
  const rq = rule.slice(sp + 1).trim();
  // Queue names in rules may be wildcard patterns ("v1.*"), matched like subjects (nats-server's queueMatches).
  return subjectIsSubsetOf(subject, rs) && (rq === queue || (!isLiteral(rq) && subjectIsSubsetOf(queue, rq)));
}
