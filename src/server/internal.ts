/**
 * A client that lives inside the server (JetStream, system services). It is bound to one account and
 * subscribes and publishes through that account's router like network clients, but receives copies of
 * messages as plain objects (or, for a handler that keeps nothing, views in one reused object: InternalSub.borrow).
 */
import type { Account } from "../accounts/account.ts";
import type { MatchResult } from "../subjects/sublist.ts";
import type { RoutedMsg, SubOwner, Subscription } from "./types.ts";
import { ScratchBytes, smallCopy, smallUtf8 } from "./small_bytes.ts";
import { bytesToString } from "../protocol/parser.ts";
import { LocalMsg, payloadSize } from "./local_msg.ts";
import { reusableFor } from "./reuse.ts";

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

/** What an internal client knows of one of its subscriptions. */
interface InternalSub {
  sub: Subscription;
  handler: InternalHandler;
  /**
   * The handler keeps neither the message nor its byte views once it returns (it copies what it keeps): it is
   * handed one reused message whose headers and payload are views of the router's bytes, valid during the call
   * (a stream's capture, whose store copies the bytes into its write batch: no copy and no object per publish).
   */
  borrow: boolean;
}

/** Where an internal client reports that it closed. */
export interface InternalHost {
  internalClosed(c: InternalClient): void;
}

const enc = new TextEncoder();
// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

/**
 * Does `msg` show a subject other than the one it is routed by? JetStream deliveries do: they route by the
 * deliver subject or the pull request's reply and show the stored message's subject, and keep showing it when
 * an import carries them into another account (as nats-server does; clients tell messages from status by it).
 * Here, with the internal clients that always run, not with the imports (accounts/imports.ts, which use it too): a
 * server without accounts loads none of the imports' code.
 */
export function showsOtherSubject(msg: RoutedMsg): boolean {
  const b = msg.subjectBytes;
  const s = msg.subject;
  if (b.length !== s.length) return dec.decode(b) !== s;
  for (let i = 0; i < b.length; i++) if (b[i] !== s.charCodeAt(i)) return dec.decode(b) !== s;
  return false;
}

const EMPTY = new Uint8Array(0);

/** The largest payload a borrowing handler gets as a copy (ScratchBytes.lend): beyond it a view is cheaper than the copy. */
const LENT_COPY_MAX = 256;

/** The options of a plain publish (a default `{}` is a new object per call). */
const NO_OPTS: { reply?: string; headers?: Uint8Array } = Object.freeze({});

/** A message's headers and payload in one buffer (InternalClient.publish with headers). */
function withHeaders(headers: Uint8Array, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(headers.length + payload.length);
  body.set(headers, 0);
  body.set(payload, headers.length);
  return body;
}

export class InternalClient implements SubOwner {
  readonly cid: number;
  readonly kind = "internal" as const;
  /** Its handlers get copies, or views valid during the call (InternalSub.borrow): never the message itself. */
  readonly keepsNothing = true;
  readonly echo = true;
  readonly name: string;
  /** The account it lives in: its subscriptions and publishes stay there. */
  readonly account: Account;
  readonly #host: InternalHost;
  readonly #subs = new Map<number, InternalSub>();
  /** By subscription: the router forgets an auto-unsubscribed sub just before handing over its last message. */
  readonly #handlers = new WeakMap<Subscription, InternalSub>();
  /**
   * What this client's publishes are carried in when everyone they reach keeps nothing of them (reuse.ts), and the
   * bytes of their subjects by length, rewritten for each publish (the PubAck to a new inbox each time, an API
   * reply): undefined while a publish is being delivered (a nested one gets its own).
   */
  #pub: { msg: LocalMsg; subjects: ScratchBytes } | undefined = { msg: new LocalMsg(), subjects: new ScratchBytes() };
  /** The message lent to borrowing handlers, or undefined while one holds it (a nested delivery gets its own). */
  #lent: InternalMsg | undefined = { subject: "", reply: undefined, headers: undefined, payload: EMPTY, local: false, viaRoute: false };
  /**
   * Small payloads and header blocks lent to borrowing handlers, copied into one array per length, ~33 KB each at
   * most. Why copies: the views of a client's publish that a LocalMsg makes (its payload, and its header block)
   * were ~100 B of garbage per JetStream publish on V8, a third of what was left of it (bench/RESULTS.md,
   * `denojs`), and that garbage sets how often Deno's young generation is collected and so how soon it grows under
   * load. Only the one lent message uses them, so a nested delivery (which gets a message of its own) cannot
   * rewrite them under the handler.
   */
  readonly #lentBytes = new ScratchBytes(LENT_COPY_MAX, { wordCopy: true });
  readonly #lentHeaders = new ScratchBytes(LENT_COPY_MAX, { wordCopy: true });
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
  /** `opts.borrow`: see InternalSub.borrow. */
  subscribe(subject: string, handler: InternalHandler, opts: { queue?: string; max?: number; local?: boolean; borrow?: boolean } = {}): number {
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
    const entry: InternalSub = { sub, handler, borrow: opts.borrow === true };
    this.#subs.set(sid, entry);
    this.#handlers.set(sub, entry);
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
      const entry: InternalSub = { sub, handler: list[i].handler, borrow: false };
      this.#subs.set(Number(sidStr), entry);
      this.#handlers.set(sub, entry);
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
    const headers = opts.headers;
    const hdrSize = headers !== undefined && headers.length > 0 ? headers.length : -1;
    const body = hdrSize < 0 ? payload : withHeaders(headers as Uint8Array, payload);
    this.stats.out_msgs++;
    this.stats.out_bytes += body.length;
    const account = this.account;
    const r = account.interestIn(subject);
    if (r === undefined) return 0;
    const reply = opts.reply !== undefined && opts.reply !== "" ? smallUtf8(opts.reply) : null;
    const pub = this.#pub;
    if (pub === undefined || !reusableFor(r)) return this.#publishKept(r, subject, reply, hdrSize, body);
    this.#pub = undefined;
    const msg = pub.msg;
    try {
      return account.deliverMatched(r, msg.set(subject, pub.subjects.utf8(subject), reply, hdrSize, body, 0, body.length), this);
    } finally {
      msg.clear();
      this.#pub = pub;
    }
  }

  /**
   * publish to receivers that may keep the message, or nested in a publish of ours (the reused message is out): a
   * message object of its own. Apart from publish, whose per-message path is the reused one (the optimizing
   * compilers compile all of a function's code, bench/RESULTS.md `hotcode`).
   */
  #publishKept(r: MatchResult<Subscription>, subject: string, reply: Uint8Array | null, hdrSize: number, body: Uint8Array): number {
    // Slab memory (small_bytes.ts): the router's byte views live for this call.
    return this.account.deliverMatched(r, { subject, subjectBytes: smallUtf8(subject), reply, hdrSize, payload: body }, this);
  }

  deliver(sub: Subscription, msg: RoutedMsg, origin?: SubOwner): void {
    const entry = this.#handlers.get(sub);
    if (entry === undefined || this.#closed) return;
    this.stats.in_msgs++;
    this.stats.in_bytes += payloadSize(msg);
    const h = msg.hdrSize;
    const lent = entry.borrow ? this.#lent : undefined;
    if (lent === undefined) return this.#deliverCopy(entry, msg, origin);
    // Views (or small copies, #lentBytes), in the one lent object: the handler keeps nothing of it
    // (InternalSub.borrow).
    lent.subject = showsOtherSubject(msg) ? dec.decode(msg.subjectBytes) : msg.subject;
    lent.reply = msg.reply !== null ? bytesToString(msg.reply, 0, msg.reply.length) : undefined;
    if (msg instanceof LocalMsg && !(msg.start === 0 && msg.end === msg.buf.length && h < 0)) {
      const s = msg.start;
      lent.headers = h >= 0 ? this.#lentHeaders.lend(msg.buf, s, s + h) : undefined;
      lent.payload = this.#lentBytes.lend(msg.buf, h >= 0 ? s + h : s, msg.end);
    } else {
      const payload = msg.payload;
      lent.headers = h >= 0 ? payload.subarray(0, h) : undefined;
      lent.payload = h >= 0 ? payload.subarray(h) : payload;
    }
    lent.local = origin === undefined || (origin.kind !== "route" && origin.kind !== "gateway");
    lent.viaRoute = origin?.kind === "route";
    this.#lent = undefined;
    try {
      entry.handler(lent);
    } finally {
      lent.headers = undefined;
      lent.payload = EMPTY;
      this.#lent = lent;
    }
  }

  /**
   * deliver() to a handler that keeps what it gets, or while the lent object is out (a handler that publishes to
   * another of ours): copies, apart from deliver because the optimizing compilers compile all of a function's code
   * and the per-message path is the lent one (a stream's capture, bench/RESULTS.md `hotcode`).
   */
  #deliverCopy(entry: InternalSub, msg: RoutedMsg, origin: SubOwner | undefined): void {
    const h = msg.hdrSize;
    // Copies: the router's byte views are only valid during this call.
    const payload = msg.payload;
    entry.handler({
      // What a network client would see on its MSG line: a JetStream delivery shows the stored subject.
      subject: showsOtherSubject(msg) ? dec.decode(msg.subjectBytes) : msg.subject,
      // Made from its codes (an inbox is ASCII): a decode made a view and a string with more garbage on V8.
      reply: msg.reply !== null ? bytesToString(msg.reply, 0, msg.reply.length) : undefined,
      // Slab memory when small (small_bytes.ts); a store that keeps them makes its own copy (MemoryBackend).
      headers: h >= 0 ? smallCopy(payload, 0, h) : undefined,
      payload: smallCopy(payload, h >= 0 ? h : 0, payload.length),
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
