/**
 * Replies across gateways, per account. A request sent to another cluster carries its reply mapped to
 * `_GR_.<cluster hash>.<server hash>.<reply>`, so the response finds its way back before that cluster has
 * heard of the requester's interest. Two halves live here:
 * - responses published here to a mapped subject go straight to the cluster the hash names (one
 *   catch-all `_GR_.>` subscription);
 * - a request that arrived with a mapped reply is delivered with the plain reply (as nats-server does, so
 *   clients never see `_GR_.`), and for a short while responses to that plain reply are sent back under
 *   the mapped subject (a subscription per tracked reply). Later responses follow interest like any message.
 */
import type { Account } from "../accounts/account.ts";
import type { Server } from "../server/server.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { GW_REPLY_PREFIX, parseMappedReply } from "./protocol.ts";
import { isJsDelivery } from "../cluster/js_delivery.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightInterval } from "../runtime/light_timers.ts";

/** How long responses to a request from another cluster go back under its mapped reply subject. */
export const REPLY_TRACK_MS = 2000;

const enc = new TextEncoder();

/** Where a response goes: the outbound link to the cluster with this hash. */
export interface ReplyTarget {
  sendReply(msg: RoutedMsg, account: Account): void;
}

export interface ReplyRoutes {
  readonly server: Server;
  readonly clusterHash: string;
  outboundByHash(hash: string): ReplyTarget | undefined;
  /** A response to one of this cluster's own requests: delivered here and in the cluster. */
  deliverHere(msg: RoutedMsg, account: Account): void;
}

interface TrackedReply {
  readonly account: Account;
  readonly mapped: string;
  readonly mappedBytes: Uint8Array;
  readonly clusterHash: string;
  readonly sub: Subscription;
  expires: number;
}

/** The subscribers of one account: the catch-all for mapped subjects and the tracker of plain replies. */
interface AccountSide {
  readonly router: SubOwner;
  readonly tracker: SubOwner;
  routerSub: Subscription | undefined;
}

export class GatewayReplies {
  readonly #routes: ReplyRoutes;
  /**
   * By account, then reply subject (no key string is built: every message an outbound link sends asks
   * isTracked while any reply is tracked).
   */
  readonly #tracked = new Map<Account, Map<string, TrackedReply>>();
  #trackedCount = 0;
  readonly #sides = new Map<Account, AccountSide>();
  /** A light interval: on Deno a runtime setInterval loads Node's timer layer for good, at every gateway's start. */
  #sweep: Timer | undefined;

  constructor(routes: ReplyRoutes) {
    this.#routes = routes;
  }

  /** Catch mapped subjects in every account the server has. */
  start(): void {
    for (const account of this.#routes.server.accounts) this.#side(account);
    this.#sweep = lightInterval(REPLY_TRACK_MS / 2, () => this.#expire(Date.now()));
  }

  stop(): void {
    this.#sweep?.cancel();
    this.#sweep = undefined;
    for (const [account, side] of this.#sides) {
      if (side.routerSub !== undefined) account.removeSubscription(side.routerSub);
      side.routerSub = undefined;
    }
    this.#sides.clear();
    this.#expire(Number.POSITIVE_INFINITY);
  }

  get trackedCount(): number {
    return this.#trackedCount;
  }

  #side(account: Account): AccountSide {
    let side = this.#sides.get(account);
    if (side !== undefined) return side;
    side = {
      router: { cid: 0, kind: "gateway", echo: true, deliver: (_s, msg) => this.#routeMapped(msg, account), removeSub: () => {} },
      tracker: { cid: 0, kind: "gateway", echo: true, deliver: (s, msg) => this.#answerTracked(account, s, msg), removeSub: () => {} },
      routerSub: undefined,
    };
    const subject = `${GW_REPLY_PREFIX}>`;
    side.routerSub = { subject, sid: subject, sidBytes: enc.encode(subject), owner: side.router, max: 0, delivered: 0, filtered: false };
    account.addSubscription(side.routerSub);
    this.#sides.set(account, side);
    return side;
  }

  /** A request of `account` from the cluster `clusterHash` arrived with reply `mapped`; its subscribers see `reply`. */
  track(account: Account, mapped: string, reply: string, clusterHash: string): void {
    const now = Date.now();
    let byReply = this.#tracked.get(account);
    if (byReply === undefined) {
      byReply = new Map();
      this.#tracked.set(account, byReply);
    }
    const t = byReply.get(reply);
    if (t !== undefined && t.mapped === mapped) {
      t.expires = now + REPLY_TRACK_MS;
      return;
    }
    if (t !== undefined) account.removeSubscription(t.sub);
    else this.#trackedCount++;
    const owner = this.#side(account).tracker;
    const sub: Subscription = { subject: reply, sid: mapped, sidBytes: enc.encode(mapped), owner, max: 0, delivered: 0, filtered: false };
    byReply.set(reply, { account, mapped, mappedBytes: enc.encode(mapped), clusterHash, sub, expires: now + REPLY_TRACK_MS });
    account.addSubscription(sub);
  }

  /** Responses to a tracked reply are sent by the tracker; the outbound links leave them alone. */
  isTracked(account: Account, subject: string): boolean {
    return this.#trackedCount > 0 && this.#tracked.get(account)?.has(subject) === true;
  }

  #answerTracked(account: Account, sub: Subscription, msg: RoutedMsg): void {
    const t = this.#tracked.get(account)?.get(sub.subject);
    if (t === undefined || t.sub !== sub) return;
    const out = this.#routes.outboundByHash(t.clusterHash);
    // A JetStream delivery keeps its stored subject (shown after the `@` of its frame, see cluster/js_delivery.ts).
    if (isJsDelivery(msg)) {
      out?.sendReply({ ...msg, subject: t.mapped }, account);
      return;
    }
    out?.sendReply({ ...msg, subject: t.mapped, subjectBytes: t.mappedBytes }, account);
  }

  /** A response published here to `_GR_.<cluster>.<server>.<reply>`: to the cluster it names. */
  #routeMapped(msg: RoutedMsg, account: Account): void {
    const m = parseMappedReply(msg.subject);
    if (m === undefined) return;
    if (m.cluster === this.#routes.clusterHash) {
      this.#routes.deliverHere({ ...msg, subject: m.reply, subjectBytes: isJsDelivery(msg) ? msg.subjectBytes : enc.encode(m.reply) }, account);
      return;
    }
    this.#routes.outboundByHash(m.cluster)?.sendReply(msg, account);
  }

  #expire(now: number): void {
    for (const [account, byReply] of this.#tracked) {
      for (const [reply, t] of byReply) {
        if (t.expires > now) continue;
        byReply.delete(reply);
        this.#trackedCount--;
        account.removeSubscription(t.sub);
      }
      if (byReply.size === 0) this.#tracked.delete(account);
    }
  }
}
