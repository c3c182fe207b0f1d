/**
 * Replies across gateways. A request sent to another cluster carries its reply mapped to
 * `_GR_.<cluster hash>.<server hash>.<reply>`, so the response finds its way back before that cluster has
 * heard of the requester's interest. Two halves live here:
 * - responses published here to a mapped subject go straight to the cluster the hash names (one
 *   catch-all `_GR_.>` subscription);
 * - a request that arrived with a mapped reply is delivered with the plain reply (as nats-server does, so
 *   clients never see `_GR_.`), and for a short while responses to that plain reply are sent back under
 *   the mapped subject (a subscription per tracked reply). Later responses follow interest like any message.
 */
import type { Server } from "../server/server.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { GW_REPLY_PREFIX, parseMappedReply } from "./protocol.ts";

/** How long responses to a request from another cluster go back under its mapped reply subject. */
export const REPLY_TRACK_MS = 2000;

const enc = new TextEncoder();

/** Where a response goes: the outbound link to the cluster with this hash. */
export interface ReplyTarget {
  sendReply(msg: RoutedMsg): void;
}

export interface ReplyRoutes {
  readonly server: Server;
  readonly clusterHash: string;
  outboundByHash(hash: string): ReplyTarget | undefined;
  /** A response to one of this cluster's own requests: delivered here and in the cluster. */
  deliverHere(msg: RoutedMsg): void;
}

interface TrackedReply {
  readonly mapped: string;
  readonly mappedBytes: Uint8Array;
  readonly clusterHash: string;
  readonly sub: Subscription;
  expires: number;
}

export class GatewayReplies {
  readonly #routes: ReplyRoutes;
  readonly #tracked = new Map<string, TrackedReply>();
  readonly #router: SubOwner;
  readonly #tracker: SubOwner;
  #routerSub: Subscription | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(routes: ReplyRoutes) {
    this.#routes = routes;
    this.#router = { cid: 0, kind: "gateway", echo: true, deliver: (_s, msg) => this.#routeMapped(msg), removeSub: () => {} };
    this.#tracker = { cid: 0, kind: "gateway", echo: true, deliver: (s, msg) => this.#answerTracked(s, msg), removeSub: () => {} };
  }

  start(): void {
    const subject = `${GW_REPLY_PREFIX}>`;
    this.#routerSub = { subject, sid: subject, sidBytes: enc.encode(subject), owner: this.#router, max: 0, delivered: 0, filtered: false };
    this.#routes.server.accounts.global.addSubscription(this.#routerSub);
    this.#sweep = setInterval(() => this.#expire(Date.now()), REPLY_TRACK_MS / 2);
  }

  stop(): void {
    clearInterval(this.#sweep);
    if (this.#routerSub !== undefined) this.#routes.server.accounts.global.removeSubscription(this.#routerSub);
    this.#routerSub = undefined;
    this.#expire(Number.POSITIVE_INFINITY);
  }

  get trackedCount(): number {
    return this.#tracked.size;
  }

  /** A request from the cluster `clusterHash` arrived with reply `mapped`; its subscribers see `reply`. */
  track(mapped: string, reply: string, clusterHash: string): void {
    const now = Date.now();
    const t = this.#tracked.get(reply);
    if (t !== undefined && t.mapped === mapped) {
      t.expires = now + REPLY_TRACK_MS;
      return;
    }
    if (t !== undefined) this.#routes.server.accounts.global.removeSubscription(t.sub);
    const sub: Subscription = { subject: reply, sid: mapped, sidBytes: enc.encode(mapped), owner: this.#tracker, max: 0, delivered: 0, filtered: false };
    this.#tracked.set(reply, { mapped, mappedBytes: enc.encode(mapped), clusterHash, sub, expires: now + REPLY_TRACK_MS });
    this.#routes.server.accounts.global.addSubscription(sub);
  }

  /** Responses to a tracked reply are sent by the tracker; the outbound links leave them alone. */
  isTracked(subject: string): boolean {
    return this.#tracked.size > 0 && this.#tracked.has(subject);
  }

  #answerTracked(sub: Subscription, msg: RoutedMsg): void {
    const t = this.#tracked.get(sub.subject);
    if (t === undefined || t.sub !== sub) return;
    this.#routes.outboundByHash(t.clusterHash)?.sendReply({ ...msg, subject: t.mapped, subjectBytes: t.mappedBytes });
  }

  /** A response published here to `_GR_.<cluster>.<server>.<reply>`: to the cluster it names. */
  #routeMapped(msg: RoutedMsg): void {
    const m = parseMappedReply(msg.subject);
    if (m === undefined) return;
    if (m.cluster === this.#routes.clusterHash) {
      this.#routes.deliverHere({ ...msg, subject: m.reply, subjectBytes: enc.encode(m.reply) });
      return;
    }
    this.#routes.outboundByHash(m.cluster)?.sendReply(msg);
  }

  #expire(now: number): void {
    for (const [reply, t] of this.#tracked) {
      if (t.expires > now) continue;
      this.#tracked.delete(reply);
      this.#routes.server.accounts.global.removeSubscription(t.sub);
    }
  }
}
