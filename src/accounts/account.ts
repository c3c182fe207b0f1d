/**
 * An account: one subject space. It owns the sublist of its subscriptions (clients, internal clients, and
 * the interest routes, gateways and leafnodes announced for it) and the one router of the server,
 * `deliver(msg, origin)`: every message, whoever published it or whichever link brought it, is delivered by
 * the account it belongs to. Nothing outside an account inserts into or removes from its sublist; others
 * read it through `sublist` (monitoring, interest snapshots).
 */
import { type MatchResult, Sublist } from "../subjects/sublist.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { isPeerKind, pickQueueMember, reaches } from "./queue_policy.ts";
import type { ExportRule } from "./imports.ts";

/** Told of every subscription added to or removed from an account. */
export type InterestListener = (sub: Subscription, added: boolean, account: Account) => void;

/** Where an account reports changes of its interest (the server's listener sets). */
export interface AccountHooks {
  /** Every subscription. */
  readonly subscriptionListeners: ReadonlySet<InterestListener>;
  /** Subscriptions other servers may learn of: not `local` ones. */
  readonly exportListeners: ReadonlySet<InterestListener>;
}

/** The read side of an account's sublist. */
export type SublistView = Pick<Sublist<Subscription>, "match" | "hasInterest" | "all" | "count" | "cacheSize" | "genId">;

const enc = new TextEncoder();
const NO_RESPONDERS_HDR = enc.encode("NATS/1.0 503\r\n\r\n");
const NO_HOOKS: AccountHooks = { subscriptionListeners: new Set(), exportListeners: new Set() };
/** The origin of a service response crossing back to the requester's account: delivered like a local publish. */
const RESPONSE_ORIGIN: SubOwner = { cid: 0, kind: "internal", echo: true, deliver: () => {}, removeSub: () => {} };

export class Account {
  readonly name: string;
  /** The name as bytes, for frames that carry it (RS+, RMSG, A+). */
  readonly nameBytes: Uint8Array;
  readonly #sublist = new Sublist<Subscription>();
  readonly #hooks: AccountHooks;
  /** Told of this account's subscriptions only (imports keep their queue shadows by it). */
  readonly interestListeners = new Set<InterestListener>();
  /** What other accounts may import from this one. */
  #exports: readonly ExportRule[] = [];
  /** Which account holds each subscription: a subscription lives in exactly one. */
  static readonly #home = new WeakMap<Subscription, Account>();

  constructor(name: string, hooks: AccountHooks = NO_HOOKS) {
    this.name = name;
    this.nameBytes = enc.encode(name);
    this.#hooks = hooks;
  }

  get exports(): readonly ExportRule[] {
    return this.#exports;
  }

  /** Set the account's exports (from the configuration, before imports are linked). */
  setExports(exports: readonly ExportRule[]): void {
    this.#exports = exports;
  }

  get sublist(): SublistView {
    return this.#sublist;
  }

  /** Number of subscriptions in the account (all kinds of owner). */
  get subscriptionCount(): number {
    return this.#sublist.count;
  }

  addSubscription(sub: Subscription): void {
    const home = Account.#home.get(sub);
    if (home !== undefined && home !== this) {
      throw new Error(`invariant: subscription on "${sub.subject}" of account "${home.name}" added to account "${this.name}"`);
    }
    Account.#home.set(sub, this);
    this.#sublist.insert(sub);
    for (const l of this.#hooks.subscriptionListeners) l(sub, true, this);
    if (sub.local !== true) for (const l of this.#hooks.exportListeners) l(sub, true, this);
    for (const l of this.interestListeners) l(sub, true, this);
  }

  /**
   * addSubscription for each of `subs`. With nobody listening (a standalone server: no routes, gateways, leafnodes
   * or imports) they go into the sublist in one batch: the system account's services subscribe ~30 times at every
   * start, and that many calls get a function compiled by Bun's baseline JIT (code that then stays resident).
   * With listeners, one by one as addSubscription, so that each listener sees the sublist as it always did.
   */
  addSubscriptions(subs: readonly Subscription[]): void {
    const hooks = this.#hooks;
    if (hooks.subscriptionListeners.size > 0 || hooks.exportListeners.size > 0 || this.interestListeners.size > 0) {
      for (let i = 0; i < subs.length; i++) this.addSubscription(subs[i]);
      return;
    }
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      const home = Account.#home.get(sub);
      if (home !== undefined && home !== this) {
        throw new Error(`invariant: subscription on "${sub.subject}" of account "${home.name}" added to account "${this.name}"`);
      }
    }
    for (let i = 0; i < subs.length; i++) Account.#home.set(subs[i], this);
    this.#sublist.insertAll(subs);
  }

  removeSubscription(sub: Subscription): void {
    if (!this.#sublist.remove(sub)) return;
    Account.#home.delete(sub);
    for (const l of this.#hooks.subscriptionListeners) l(sub, false, this);
    if (sub.local !== true) for (const l of this.#hooks.exportListeners) l(sub, false, this);
    for (const l of this.interestListeners) l(sub, false, this);
  }

  /**
   * The router: hand `msg` to every subscription of this account that may have it from `origin`, and to one
   * member of each queue group (for a message a peer server sent, only the groups its frame named in
   * `queues`). Returns the number of deliveries.
   */
  deliver(msg: RoutedMsg, origin: SubOwner, queues?: readonly string[]): number {
    return this.deliverMatched(this.#sublist.match(msg.subject), msg, origin, queues);
  }

  /** Changes whenever a subscription of this account is added or removed: what interestIn said holds until then. */
  get interestGen(): number {
    return this.#sublist.genId;
  }

  /** Who `subject` reaches in this account, or undefined when nobody: a publisher may skip building the message. */
  interestIn(subject: string): MatchResult<Subscription> | undefined {
    const r = this.#sublist.match(subject);
    // Both lengths read on every call, not `&&`: on a publish path that always finds plain subscribers the second
    // read never ran, so V8's optimized code had no feedback for it and was thrown away by the first subject
    // nobody wanted (`--trace-deopt`: "Insufficient type feedback", inside a sync-publish run; see sublist.ts).
    return r.psubs.length + r.qsubs.length === 0 ? undefined : r;
  }

  /** deliver() with the match already made (by interestIn, for msg.subject). */
  deliverMatched(r: MatchResult<Subscription>, msg: RoutedMsg, origin: SubOwner, queues?: readonly string[]): number {
    const subject = msg.subject;
    let n = 0;
    // Indexed loops: V8 made an array iterator per for-of here (GC work per message).
    const psubs = r.psubs;
    for (let i = 0; i < psubs.length; i++) {
      const sub = psubs[i];
      if (!reaches(sub, origin, subject)) continue;
      this.#deliverTo(sub, msg, origin);
      n++;
    }
    const qsubs = r.qsubs;
    if (qsubs.length === 0) return n;
    const named = isPeerKind(origin.kind);
    if (named && (queues === undefined || queues.length === 0)) return n;
    for (let i = 0; i < qsubs.length; i++) {
      const group = qsubs[i];
      if (named && !(queues as readonly string[]).includes(group[0].queue as string)) continue;
      const pick = pickQueueMember(group, origin, subject);
      if (pick === undefined) continue;
      this.#deliverTo(pick, msg, origin);
      n++;
    }
    return n;
  }

  /**
   * Deliver a message that crossed into this account from `other` through `exp`: a stream export of `other`
   * (this account imports it) or a service export of this account (`other` imports it). The one door
   * between accounts: a crossing that no export allows is a bug and stops loudly.
   */
  deliverImported(msg: RoutedMsg, origin: SubOwner, other: Account, exp: ExportRule, queues?: readonly string[]): number {
    const exporter = exp.service !== undefined ? this : other;
    const importer = exporter === this ? other : this;
    if (!exporter.#exports.includes(exp) || (exp.accounts !== undefined && !exp.accounts.includes(importer.name))) {
      throw new Error(`invariant: message on "${msg.subject}" crossed from account "${other.name}" to "${this.name}" without an export`);
    }
    return this.deliver(msg, origin, queues);
  }

  /** A response to a request this account sent through a service import of `exporter`'s. */
  deliverResponse(msg: RoutedMsg, exporter: Account): number {
    if (exporter === this) throw new Error(`invariant: service response within account "${this.name}"`);
    return this.deliver(msg, RESPONSE_ORIGIN);
  }

  /** A request that found no subscriber: only the requester's own plain subscription gets the 503. */
  noResponders(requester: SubOwner, reply: string): void {
    const mine = this.#sublist.match(reply).psubs.find((s) => s.owner === requester);
    if (mine === undefined) return;
    this.#deliverTo(mine, { subject: reply, subjectBytes: enc.encode(reply), reply: null, hdrSize: NO_RESPONDERS_HDR.length, payload: NO_RESPONDERS_HDR });
  }

  /** One delivery, counted against the subscription's auto-unsubscribe limit. */
  #deliverTo(sub: Subscription, msg: RoutedMsg, origin?: SubOwner): void {
    sub.delivered++;
    if (sub.max > 0 && sub.delivered >= sub.max) {
      this.removeSubscription(sub);
      sub.owner.removeSub(sub);
    }
    sub.owner.deliver(sub, msg, origin);
  }
}
