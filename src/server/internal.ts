/**
 * A client that lives inside the server (JetStream, system services). It is bound to one account and
 * subscribes and publishes through that account's router like network clients, but receives copies of
 * messages as plain objects.
 */
import type { Account } from "../accounts/account.ts";
import { showsOtherSubject } from "../accounts/imports.ts";
import type { RoutedMsg, SubOwner, Subscription } from "./types.ts";
import { smallCopy, smallUtf8 } from "./small_bytes.ts";

export interface InternalMsg {
  subject: string;
  reply?: string;
  /** Raw header block ("NATS/1.0...\r\n\r\n"), when the message has headers. */
  headers?: Uint8Array;
  payload: Uint8Array;
  /** Published on this server (a client, leafnode or internal client here), not brought by a route or gateway. */
  local?: boolean;
  /** Brought by a route: another server of the cluster sent it here by the interest it knew of. */
  viaRoute?: boolean;
}

export type InternalHandler = (msg: InternalMsg) => void;

/** Where an internal client reports that it closed. */
export interface InternalHost {
  internalClosed(c: InternalClient): void;
}

const enc = new TextEncoder();
// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

/** The options of a plain publish (a default `{}` is a new object per call). */
const NO_OPTS: { reply?: string; headers?: Uint8Array } = Object.freeze({});

export class InternalClient implements SubOwner {
  readonly cid: number;
  readonly kind = "internal" as const;
  readonly echo = true;
  readonly name: string;
  /** The account it lives in: its subscriptions and publishes stay there. */
  readonly account: Account;
  readonly #host: InternalHost;
  readonly #subs = new Map<number, { sub: Subscription; handler: InternalHandler }>();
  /** By subscription: the router forgets an auto-unsubscribed sub just before handing over its last message. */
  readonly #handlers = new WeakMap<Subscription, InternalHandler>();
  #nextSid = 1;
  #closed = false;
  stats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };

  readonly #local: boolean;

  constructor(cid: number, name: string, account: Account, host: InternalHost, local = false) {
    this.cid = cid;
    this.name = name;
    this.account = account;
    this.#host = host;
    this.#local = local;
  }

  get subscriptionCount(): number {
    return this.#subs.size;
  }

  /** `opts.local` overrides the client's default: whether the subscription stays off routes and leafnode links. */
  subscribe(subject: string, handler: InternalHandler, opts: { queue?: string; max?: number; local?: boolean } = {}): number {
    const sid = this.#nextSid++;
    const sidStr = String(sid);
    const sub: Subscription = {
      subject,
      queue: opts.queue,
      sid: sidStr,
      sidBytes: enc.encode(sidStr),
      owner: this,
      max: opts.max ?? 0,
      delivered: 0,
      filtered: false,
      local: opts.local ?? this.#local,
    };
    this.#subs.set(sid, { sub, handler });
    this.#handlers.set(sub, handler);
    this.account.addSubscription(sub);
    return sid;
  }

  /**
   * subscribe() for each entry, in order (sids as one by one), added to the account in one batch: see
   * Account.addSubscriptions (the system account's services at every start).
   */
  subscribeAll(list: readonly { subject: string; handler: InternalHandler }[]): void {
    const subs: Subscription[] = [];
    for (let i = 0; i < list.length; i++) {
      const sidStr = String(this.#nextSid++);
      const sub: Subscription = {
        subject: list[i].subject,
        queue: undefined,
        sid: sidStr,
        sidBytes: enc.encode(sidStr),
        owner: this,
        max: 0,
        delivered: 0,
        filtered: false,
        local: this.#local,
      };
      this.#subs.set(Number(sidStr), { sub, handler: list[i].handler });
      this.#handlers.set(sub, list[i].handler);
      subs.push(sub);
    }
    this.account.addSubscriptions(subs);
  }

  unsubscribe(sid: number): void {
    const e = this.#subs.get(sid);
    if (e === undefined) return;
    this.#subs.delete(sid);
    this.#handlers.delete(e.sub);
    this.account.removeSubscription(e.sub);
  }

  removeSub(sub: Subscription): void {
    const sid = Number(sub.sid);
    if (this.#subs.get(sid)?.sub === sub) this.#subs.delete(sid);
  }

  publish(subject: string, payload: Uint8Array, opts: { reply?: string; headers?: Uint8Array } = NO_OPTS): number {
    if (this.#closed) return 0;
    let body = payload;
    let hdrSize = -1;
    if (opts.headers !== undefined && opts.headers.length > 0) {
      hdrSize = opts.headers.length;
      body = new Uint8Array(hdrSize + payload.length);
      body.set(opts.headers, 0);
      body.set(payload, hdrSize);
    }
    this.stats.out_msgs++;
    this.stats.out_bytes += body.length;
    return this.account.deliver({
      subject,
      // Slab memory (small_bytes.ts): the router's byte views live for this call.
      subjectBytes: smallUtf8(subject),
      reply: opts.reply !== undefined && opts.reply !== "" ? smallUtf8(opts.reply) : null,
      hdrSize,
      payload: body,
    }, this);
  }

  deliver(sub: Subscription, msg: RoutedMsg, origin?: SubOwner): void {
    const handler = this.#handlers.get(sub);
    if (handler === undefined || this.#closed) return;
    this.stats.in_msgs++;
    this.stats.in_bytes += msg.payload.length;
    const h = msg.hdrSize;
    // Copies: the router's byte views are only valid during this call.
    handler({
      // What a network client would see on its MSG line: a JetStream delivery shows the stored subject.
      subject: showsOtherSubject(msg) ? dec.decode(msg.subjectBytes) : msg.subject,
      reply: msg.reply !== null ? dec.decode(msg.reply) : undefined,
      // Slab memory when small (small_bytes.ts); a store that keeps them makes its own copy (MemoryBackend).
      headers: h >= 0 ? smallCopy(msg.payload, 0, h) : undefined,
      payload: smallCopy(msg.payload, h >= 0 ? h : 0, msg.payload.length),
      local: origin === undefined || (origin.kind !== "route" && origin.kind !== "gateway"),
      viaRoute: origin?.kind === "route",
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { sub } of this.#subs.values()) this.account.removeSubscription(sub);
    this.#subs.clear();
    this.#host.internalClosed(this);
  }
}
