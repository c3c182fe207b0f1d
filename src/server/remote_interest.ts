/**
 * Interest another server announced (routes RS+/RS-, gateways RS+/RS-, leafnodes LS+/LS-): one subscription in
 * the named account's sublist per subject and queue group, owned by the connection to that server.
 */
import type { Account } from "../accounts/account.ts";
import type { SubOwner, Subscription } from "./types.ts";

export interface RemoteSub extends Subscription {
  /** The queue name as bytes, for the frames that name the chosen queue groups. */
  readonly queueBytes: Uint8Array | undefined;
  /** The account the interest is in (its name goes into the frames sent for it). */
  readonly account: Account;
}

const enc = new TextEncoder();

export function remoteSub(owner: SubOwner, account: Account, subject: string, queue: string | undefined, weight = 1): RemoteSub {
  const key = interestKey(account, subject, queue);
  return {
    subject,
    queue,
    queueBytes: queue === undefined ? undefined : enc.encode(queue),
    account,
    sid: key,
    sidBytes: enc.encode(key),
    owner,
    max: 0,
    delivered: 0,
    filtered: false,
    weight,
  };
}

/** One key per account, subject and queue group. */
export function interestKey(account: Account, subject: string, queue: string | undefined): string {
  return queue === undefined ? `${account.name} ${subject}` : `${account.name} ${subject} ${queue}`;
}

/**
 * Apply one announcement to `subs` (the connection's view of the peer's interest) and to the account: added
 * interest inserts a subscription, or updates the queue weight of one already there; withdrawn interest
 * removes it.
 */
export function applyRemoteInterest(
  account: Account,
  subs: Map<string, RemoteSub>,
  owner: SubOwner,
  added: boolean,
  subject: string,
  queue: string | undefined,
  weight: number,
): void {
  const key = interestKey(account, subject, queue);
  const existing = subs.get(key);
  if (!added) {
    if (existing !== undefined) {
      subs.delete(key);
      account.removeSubscription(existing);
    }
    return;
  }
  if (existing !== undefined) {
    existing.weight = weight;
    return;
  }
  const sub = remoteSub(owner, account, subject, queue, weight);
  subs.set(key, sub);
  account.addSubscription(sub);
}

/** Withdraw all of a closed connection's interest. */
export function dropRemoteInterest(subs: Map<string, RemoteSub>): void {
  for (const sub of subs.values()) sub.account.removeSubscription(sub);
  subs.clear();
}
