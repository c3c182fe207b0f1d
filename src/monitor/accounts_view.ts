/**
 * The monitoring endpoints' view of accounts: which accounts exist, which one is the system account, and which
 * connections and subscriptions belong to one. Monitoring reads accounts only through this module (and only
 * reads: subscriptions come from each account's sublist view), so HTTP and $SYS agree on what `acc=` means.
 */
import type { Account } from "../accounts/account.ts";
import { GLOBAL_ACCOUNT } from "../accounts/registry.ts";
import type { ClientConn } from "../server/client.ts";
import type { Server } from "../server/server.ts";
import type { SubOwner, Subscription } from "../server/types.ts";

export { GLOBAL_ACCOUNT };

/** The system account's name: `system_account` when configured, else `$SYS`. */
export function systemAccountName(s: Server): string {
  return s.accounts.system.name;
}

/** Every account this server knows, the global and the system account included. */
export function accountNames(s: Server): string[] {
  return s.accounts.names();
}

export function accountExists(s: Server, name: string): boolean {
  return s.accounts.get(name) !== undefined;
}

/**
 * The name of the internal clients that answer an account's own `$SYS.REQ.*.PING.*` requests in it
 * (src/system). Their subscriptions count in the account, but subscription lists leave them out: listings
 * show what the account's users and services subscribed.
 */
export const SYSTEM_IMPORTS_CLIENT = "$SYS imports";

/** Whether /subsz lists a subscription: clients' and internal services', not links' nor the system imports'. */
export function listedSubscription(sub: Subscription): boolean {
  const o = sub.owner;
  if (o.kind === "client") return true;
  return o.kind === "internal" && (o as { name?: string }).name !== SYSTEM_IMPORTS_CLIENT;
}

/** The account a client connection is bound to. */
export function accountOfClient(c: ClientConn): string {
  return c.account.name;
}

/** The account of an owner that lives in one (clients, internal clients); links span accounts. */
export function accountOfOwner(owner: SubOwner): string | undefined {
  const bound = (owner as { account?: Account }).account;
  return bound?.name;
}

/** The client connections of one account (all when `account` is undefined). */
export function clientsOf(s: Server, account?: string): ClientConn[] {
  const all = [...s.clients.values()];
  return account === undefined ? all : all.filter((c) => c.account.name === account);
}

/** A subscription with the account it lives in. */
export interface AccountSub {
  sub: Subscription;
  account: string;
}

/** The subscriptions held in one account (every account's when undefined). */
export function subscriptionsOf(s: Server, account?: string): AccountSub[] {
  const accounts = account === undefined ? [...s.accounts] : [s.accounts.get(account)].filter((a) => a !== undefined);
  return accounts.flatMap((a) => a.sublist.all().map((sub) => ({ sub, account: a.name })));
}

/** Subscriptions matching a publish subject, across the given accounts. */
export function matchingSubscriptions(s: Server, subject: string, account?: string): Set<Subscription> {
  const accounts = account === undefined ? [...s.accounts] : [s.accounts.get(account)].filter((a) => a !== undefined);
  return new Set(accounts.flatMap((a) => {
    const r = a.sublist.match(subject);
    return [...r.psubs, ...r.qsubs.flat()];
  }));
}

/** Total subscriptions and cache entries over the given accounts (all when undefined). */
export function sublistTotals(s: Server, account?: string): { count: number; cache: number } {
  const accounts = account === undefined ? [...s.accounts] : [s.accounts.get(account)].filter((a) => a !== undefined);
  let count = 0;
  let cache = 0;
  for (const a of accounts) {
    count += a.sublist.count;
    cache += a.sublist.cacheSize();
  }
  return { count, cache };
}

/** Leafnode connections bound to each account, as /leafz reports them. */
export function leafCounts(s: Server): Map<string, number> {
  const out = new Map<string, number>();
  const view = s.monitorSections.get("leafz")?.() as { leafs?: Array<{ account?: string }> } | undefined;
  for (const l of view?.leafs ?? []) {
    const acc = l.account ?? GLOBAL_ACCOUNT;
    out.set(acc, (out.get(acc) ?? 0) + 1);
  }
  return out;
}
