/**
 * This server's own interest as the cluster sees it: subscriptions of clients and internal clients counted
 * per subject (plain) and per subject + queue group. A plain subject is announced once (RS+ on the first
 * subscription, RS- after the last); a queue group is announced again whenever its weight (the number of
 * local members) changes. Route-owned subscriptions are other servers' interest and never counted.
 */
import type { Subscription } from "../server/types.ts";

export interface InterestEntry {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Local subscriptions; the queue weight for a queue group. */
  count: number;
}

/** What to tell the routes after a change: RS+ (added) with the entry's weight, or RS-. */
export type Announce = (added: boolean, entry: InterestEntry) => void;

export class LocalInterest {
  readonly #entries = new Map<string, InterestEntry>();
  readonly #announce: Announce;

  constructor(announce: Announce) {
    this.#announce = announce;
  }

  entries(): Iterable<InterestEntry> {
    return this.#entries.values();
  }

  changed(sub: Subscription, added: boolean): void {
    const kind = sub.owner.kind;
    if (kind === "route" || kind === "gateway") return;
    const key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
    let entry = this.#entries.get(key);
    if (added) {
      if (entry === undefined) {
        entry = { subject: sub.subject, queue: sub.queue, count: 0 };
        this.#entries.set(key, entry);
      }
      entry.count++;
      if (entry.count === 1 || entry.queue !== undefined) this.#announce(true, entry);
      return;
    }
    if (entry === undefined) return;
    entry.count--;
    if (entry.count <= 0) {
      this.#entries.delete(key);
      this.#announce(false, entry);
    } else if (entry.queue !== undefined) {
      this.#announce(true, entry);
    }
  }
}
