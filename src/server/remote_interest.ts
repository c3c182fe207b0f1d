/**
 * Interest another server announced (routes RS+/RS-, gateways RS+/RS-, leafnodes LS+/LS-): one subscription in
 * this server's sublist per subject and queue group, owned by the connection to that server.
 */
import type { SubOwner, Subscription } from "./types.ts";

export interface RemoteSub extends Subscription {
  /** The queue name as bytes, for the frames that name the chosen queue groups. */
  readonly queueBytes: Uint8Array | undefined;
}

export interface InterestTarget {
  addSubscription(sub: Subscription): void;
  removeSubscription(sub: Subscription): void;
}

const enc = new TextEncoder();

export function remoteSub(owner: SubOwner, subject: string, queue: string | undefined, weight = 1): RemoteSub {
  const key = interestKey(subject, queue);
  return {
    subject,
    queue,
    queueBytes: queue === undefined ? undefined : enc.encode(queue),
    sid: key,
    sidBytes: enc.encode(key),
    owner,
    max: 0,
    delivered: 0,
    filtered: false,
    weight,
  };
}

export function interestKey(subject: string, queue: string | undefined): string {
  return queue === undefined ? subject : `${subject} ${queue}`;
}

/**
 * Apply one announcement to `subs` (the connection's view of the peer's interest) and to the server: added
 * interest inserts a subscription, or updates the queue weight of one already there; withdrawn interest
 * removes it.
 */
export function applyRemoteInterest(
  server: InterestTarget,
  subs: Map<string, RemoteSub>,
  owner: SubOwner,
  added: boolean,
  subject: string,
  queue: string | undefined,
  weight: number,
): void {
  const key = interestKey(subject, queue);
  const existing = subs.get(key);
  if (!added) {
    if (existing !== undefined) {
      subs.delete(key);
      server.removeSubscription(existing);
    }
    return;
  }
  if (existing !== undefined) {
    existing.weight = weight;
    return;
  }
  const sub = remoteSub(owner, subject, queue, weight);
  subs.set(key, sub);
  server.addSubscription(sub);
}
