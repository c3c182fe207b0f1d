/**
 * The interest this cluster shows to other clusters: subscriptions of local clients, internal clients and
 * of the cluster's other servers (route-owned), counted per subject and per subject + queue group. A gateway
 * needs to hear of a subject once (RS+ on the first subscription, RS- after the last), and of a queue group
 * once as well: nats-server announces queue interest with weight 1 whatever the number of members.
 * Subscriptions owned by gateways are other clusters' interest and never counted.
 */
import type { Subscription } from "../server/types.ts";

export interface GatewayInterestEntry {
  readonly subject: string;
  readonly queue: string | undefined;
  count: number;
}

export type GatewayAnnounce = (added: boolean, entry: GatewayInterestEntry) => void;

export class ClusterInterest {
  readonly #entries = new Map<string, GatewayInterestEntry>();
  readonly #announce: GatewayAnnounce;

  constructor(announce: GatewayAnnounce) {
    this.#announce = announce;
  }

  entries(): Iterable<GatewayInterestEntry> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }

  changed(sub: Subscription, added: boolean): void {
    if (sub.owner.kind === "gateway") return;
    const key = sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
    let entry = this.#entries.get(key);
    if (added) {
      if (entry === undefined) {
        entry = { subject: sub.subject, queue: sub.queue, count: 0 };
        this.#entries.set(key, entry);
      }
      entry.count++;
      if (entry.count === 1) this.#announce(true, entry);
      return;
    }
    if (entry === undefined) return;
    entry.count--;
    if (entry.count <= 0) {
      this.#entries.delete(key);
      this.#announce(false, entry);
    }
  }
}
