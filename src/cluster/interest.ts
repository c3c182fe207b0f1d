/**
 * Interest as another server or cluster must hear of it: subscriptions counted per account and subject
 * (plain) and per account, subject and queue group. A plain subject is announced once (RS+ on the first subscription, RS- after the
 * last). Routes also hear a queue group again whenever its weight (the number of members) changes;
 * gateways hear of it once, as nats-server announces queue interest there with weight 1.
 * Subscriptions owned by the connections being told (other servers', other clusters') are never counted.
 */
import type { Subscription } from "../server/types.ts";

export interface InterestEntry {
  /** The account the interest is in. */
  readonly account: string;
  readonly subject: string;
  readonly queue: string | undefined;
  /** Subscriptions counted; the queue weight for a queue group. */
  count: number;
}

/** What to tell the peers after a change: RS+ (added) with the entry's weight, or RS-. */
export type Announce = (added: boolean, entry: InterestEntry) => void;

export interface InterestPolicy {
  /** Owner kinds whose subscriptions are not counted. */
  readonly ignored: readonly string[];
  /** Announce a queue group again on every change of its weight. */
  readonly weightedQueues: boolean;
  /** Leave out interest learned from a hub on a link this server dialed (see SubOwner.spoke). */
  readonly ignoreSpokes?: boolean;
}

export class InterestCounter {
  readonly #entries = new Map<string, InterestEntry>();
  readonly #announce: Announce;
  readonly #policy: InterestPolicy;

  constructor(announce: Announce, policy: InterestPolicy) {
    this.#announce = announce;
    this.#policy = policy;
  }

  entries(): Iterable<InterestEntry> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A subscription of `account` was added or removed. */
  changed(sub: Subscription, added: boolean, account: string): void {
    if (this.#policy.ignored.includes(sub.owner.kind)) return;
    if (this.#policy.ignoreSpokes === true && sub.owner.spoke === true) return;
    const weighted = this.#policy.weightedQueues;
    const key = sub.queue === undefined ? `${account} ${sub.subject}` : `${account} ${sub.subject} ${sub.queue}`;
    let entry = this.#entries.get(key);
    if (added) {
      if (entry === undefined) {
        entry = { account, subject: sub.subject, queue: sub.queue, count: 0 };
        this.#entries.set(key, entry);
      }
      entry.count++;
      if (entry.count === 1 || (weighted && entry.queue !== undefined)) this.#announce(true, entry);
      return;
    }
    if (entry === undefined) return;
    entry.count--;
    if (entry.count <= 0) {
      this.#entries.delete(key);
      this.#announce(false, entry);
    } else if (weighted && entry.queue !== undefined) {
      this.#announce(true, entry);
    }
  }
}

/**
 * This server's own interest as the cluster sees it: local and internal clients' subscriptions, and leafnodes
 * hanging off this server; not the hub's interest on a link this server dialed (every server of a leaf
 * cluster has its own link to the hub, so a route must not carry it).
 */
export class LocalInterest extends InterestCounter {
  constructor(announce: Announce) {
    super(announce, { ignored: ["route", "gateway"], weightedQueues: true, ignoreSpokes: true });
  }
}
