/**
 * One client connection: the protocol state machine between the parser and the router. It owns the
 * connection's subscriptions, its outbound buffer and its timers (auth, ping), and turns protocol violations
 * into the `-ERR` replies nats-server sends.
 */
import { LastSubject } from "../cluster/last_subject.ts";
import type { ConnHandler, Duplex } from "../transport/types.ts";
import { type Args, argBytes, argString, bytesToString, OP, type OpCode, type ParseError, Parser, parseSize } from "../protocol/parser.ts";
import { isValidPublishSubject, isValidQueueName, isValidSubject } from "../subjects/subject.ts";
import { OutBuffer, SMALL_PAYLOAD } from "./outbound.ts";
import { ScratchBytes } from "./small_bytes.ts";
import { LocalMsg } from "./local_msg.ts";
import { reusableFor } from "./reuse.ts";
import { type ConnectOptions, parseConnect } from "./connect.ts";
import { Permissions } from "./permissions.ts";
import { Keepalive } from "./keepalive.ts";
import { lightTimeout } from "../runtime/light_timers.ts";
import type { Timer } from "../runtime/clock.ts";
import { clientResumeMark, clientStallMark, type FlowConsumer, InputGate, linkReaderMark, type Producer, producerStallCapMs } from "./flow.ts";
import type { RoutedMsg, SubOwner, Subscription } from "./types.ts";
import type { ClientHost } from "./client_host.ts";
import type { Account } from "../accounts/account.ts";
import type { MatchResult } from "../subjects/sublist.ts";

const enc = new TextEncoder();
const PONG = enc.encode("PONG\r\n");
const PING = enc.encode("PING\r\n");
const OK = enc.encode("+OK\r\n");

export type ClientState = "connecting" | "connected" | "closed";

export interface ClientStats {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

/**
 * A receiver whose transport writes at once (Duplex.writeNow: Bun's TCP) hands its output over as soon as this much
 * is pending, in the middle of a turn, instead of at the flush after it: what it keeps is one batch, however much
 * one turn routes to it. A publisher whose messages all go to such receivers has the whole of a large read parsed
 * in one turn (the input gate's next slice waits for a turn only when a slice left output for the flush after it),
 * so Bun's 512 KiB reads are not held across turns with the reading paused and resumed for each: fanout-16's
 * RSS at the end came down to what a minimal fan-out server on Bun keeps over its own pub-16 (bench/floor_fanout_bun.ts).
 * nats-server flushes a client's output after each read of at most 64 KiB.
 */
export const EAGER_FLUSH = 64 * 1024;

/**
 * A publish's message as its own object, for receivers that may keep it (see LocalMsg for the others): apart from
 * #publish, which builds the reused one on the per-message path (bench/RESULTS.md `hotcode`).
 */
function routedMsg(subject: string, subjectBytes: Uint8Array, reply: Uint8Array | null, hdrSize: number, buf: Uint8Array, start: number, size: number): RoutedMsg {
  return { subject, subjectBytes, reply, hdrSize, payload: start === 0 && size === buf.length ? buf : buf.subarray(start, start + size) };
}

export class ClientConn implements ConnHandler, SubOwner, FlowConsumer, Producer {
  readonly cid: number;
  readonly kind = "client" as const;
  /** Its deliveries copy into its output during the call (SubOwner.keepsNothing). */
  readonly keepsNothing = true;
  readonly duplex: Duplex;
  readonly host: ClientHost;
  readonly parser: Parser;
  readonly out = new OutBuffer(4096);
  readonly subs = new Map<string, Subscription>();
  readonly stats: ClientStats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
  readonly start = new Date();
  lastActivity = Date.now();
  state: ClientState = "connecting";
  closeReason = "";

  verbose = true;
  pedantic = true;
  echo = true;
  headers = false;
  noResponders = false;
  protocol = 0;
  name = "";
  lang = "";
  version = "";
  user: string | undefined;
  /** The account this client lives in: `$G` until CONNECT binds it to its user's account. */
  account: Account;
  perms: Permissions | undefined;
  /** Came through a TLS listener: its INFO says tls_required and the connection is upgraded after it. */
  tlsRequired = false;
  /** The nonce sent in INFO, when nkey users exist. */
  nonce: string | undefined;

  #connectSeen = false;
  /** The CONNECT this client authenticated with, checked again when the configuration is reloaded. */
  #connectOpts: ConnectOptions | undefined;

  /** The last CONNECT's options, also one that failed authentication (the system account reports it). */
  get connectOptions(): ConnectOptions | undefined {
    return this.#connectOpts;
  }
  readonly #keepalive: Keepalive;
  readonly #gate: InputGate;
  /** The PUB's subject: a publisher mostly repeats its subject, a replier answers a new inbox each time. */
  readonly #subject = new LastSubject();
  /** #interestIn's memory: the subject, and the account and its interest generation it was looked up in. */
  #interestSubject = "";
  #interestGen = -1;
  /** Every subscriber in #interest keeps nothing of a message (reuse.ts): a publish may use #localMsg (see LocalMsg). */
  #interestLocal = false;
  readonly #localMsg = new LocalMsg();
  /**
   * The reply of a PUB carried by #localMsg, copied into an array kept for its length (a requester's or JetStream
   * publisher's inbox changes, its length mostly does not): valid during the delivery, as the message; a view of
   * the input line was an object per request.
   */
  readonly #replies = new ScratchBytes();
  #interestAccount: Account | undefined;
  #interest: MatchResult<Subscription> | undefined;
  /** A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (+3 MB; light_timers.ts). */
  #authTimer: Timer | undefined;
  /** When the user's JWT was issued (seconds), in operator mode: a later revocation compares against it. */
  jwtIssuedAt: number | undefined;
  /** A user JWT's `subs` limit (-1: none). */
  #userMaxSubs = -1;
  /** A user JWT's expiry: the client is told and dropped then, as nats-server does. A light timer, as #authTimer. */
  #expiryTimer: Timer | undefined;
  #flushQueued = false;
  /**
   * Something the input fed since the gate's last slice reached a receiver that keeps its output for the flush
   * after the turn (the gate then lets it flush first; see EAGER_FLUSH for the receivers that do not).
   */
  #routed = false;
  /** Deliveries of this client's publishes to receivers that write as they go (counted by them, see deliver). */
  #eagerDeliveries = 0;
  /** This connection's transport writes a batch at once from the output buffer (Duplex.writeNow): see EAGER_FLUSH. */
  readonly #eager: boolean;
  /**
   * When the write that stalled began (0: none stalled). nats-server's write deadline bounds how long one write of
   * what is pending takes; here a write hands its bytes over at once, so a stall is timed from the first write the
   * transport could not take all of, and ends once what it held then has been written (see #writeGoesThrough).
   */
  #stalledSince = 0;
  /** Transport backlog when the stall began: less than this later means the reader is making progress. */
  #stallMark = 0;
  /** What the transport had written (#handed minus its backlog) when the stall began. */
  #writtenAtStall = 0;

  constructor(cid: number, duplex: Duplex, host: ClientHost) {
    this.cid = cid;
    this.duplex = duplex;
    this.#eager = duplex.writeNow !== undefined;
    this.host = host;
    this.account = host.accountFor(undefined);
    const o = host.options;
    this.parser = new Parser("client", this, { maxControlLine: o.max_control_line, maxPayload: o.max_payload });
    // A stall is short: a consumer that stays behind is a slow consumer.
    this.#gate = new InputGate(
      (d) => {
        this.#routed = false;
        this.parser.feed(d);
      },
      () => this.isClosed(),
      producerStallCapMs(o.write_deadline),
      duplex.pauseReading !== undefined ? (paused) => this.duplex.pauseReading?.(paused) : undefined,
      undefined,
      () => this.duplex.freshReads === true,
      () => this.#routed || this.out.len > 0,
      duplex.recycleRead !== undefined ? (d) => this.duplex.recycleRead?.(d) : undefined,
    );
    this.#keepalive = new Keepalive(o.ping_interval, o.ping_max, () => {
      this.out.bytes(PING);
      this.flushSoon();
    }, () => this.closeWithError("Stale Connection", "Stale Connection"));
  }

  /** Send INFO and arm the timers; called once the server has registered the client. */
  begin(info: string): void {
    // Straight to the transport: nothing is pending before the first INFO, and a connection that only takes its
    // INFO (a port probe, a health check) leaves the output buffer's path unused until it has traffic (on Bun that
    // path's first run keeps ~0.2 MB of runtime code resident, bench/RESULTS.md "bunidle2"). Where the transport
    // writes at once (Duplex.writeNow, Bun's TCP) the socket takes it now, else in the transport's next microtask
    // (on Bun the write queue's path is ~0.13 MB more of resident code for a probe; "bunidle5"). Later writes
    // queue behind it in the transport, in order.
    const bytes = enc.encode(`INFO ${info}\r\n`);
    this.#handed += bytes.length;
    if (this.duplex.writeNow?.(bytes, bytes.length) === undefined) this.duplex.write(bytes);
    const kind = this.duplex.info.kind;
    if (this.host.authRequiredFor(kind)) {
      this.#authTimer = lightTimeout(this.host.authTimeoutFor(kind), () => this.closeWithError("Authentication Timeout", "Authentication Timeout"));
    }
    this.#keepalive.start();
  }

  get rttMs(): number {
    return this.#keepalive.rttMs;
  }

  // ---- transport callbacks ----

  onData(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastActivity = Date.now();
    this.#gate.push(data);
  }

  #exhausted = false;
  /** Bytes handed to the transport so far (what it has written is this minus its bufferedAmount). */
  #handed = 0;
  /** What the transport had written when the connection was marked exhausted. */
  #writtenAtExhausted = 0;

  /**
   * A producer already waited a whole stall for this consumer and it wrote nothing meanwhile: don't stall anyone
   * for it until it drains, or until its transport writes again (see #readsAgain).
   */
  get stallExhausted(): boolean {
    return this.#exhausted;
  }
  set stallExhausted(v: boolean) {
    this.#exhausted = v;
    if (v) this.#writtenAtExhausted = this.#handed - this.duplex.bufferedAmount();
  }

  /**
   * Has the transport written anything since the connection was marked exhausted? A reader that stopped long
   * enough to be marked and then reads again, slower than its producer publishes, is paced again instead of
   * fed at the producer's full speed until max_pending cuts it (waiting for a whole drain: a reader that was
   * far behind never got there; a route's subscriber was cut on a loaded host, cluster/backpressure on Deno).
   */
  #readsAgain(): boolean {
    return this.#handed - this.duplex.bufferedAmount() > this.#writtenAtExhausted;
  }

  /** Called by a consumer whose backlog passed half of max_pending while delivering our message. */
  stallFor(consumer: FlowConsumer): void {
    this.#gate.stallFor(consumer, consumer !== this);
  }

  isClosed(): boolean {
    return this.state === "closed";
  }

  backlog(): number {
    return this.out.len + this.duplex.bufferedAmount();
  }

  /** Is our backlog (unflushed plus held by the transport) past the stall mark (clientStallMark)? */
  isBehind(): boolean {
    return this.out.len + this.duplex.bufferedAmount() > clientStallMark(this.host.options.max_pending);
  }

  /** Past the mark at which `producer` is held: a link's reader earlier than a publishing client (linkReaderMark). */
  #behindFor(producer: Producer): boolean {
    if (producer.link !== true) return this.isBehind();
    return this.out.len + this.duplex.bufferedAmount() > linkReaderMark(this.host.options.max_pending);
  }

  caughtUp(): boolean {
    return this.out.len + this.duplex.bufferedAmount() < clientResumeMark(this.host.options.max_pending);
  }

  #drainWaiters: Array<() => void> = [];

  whenDrained(wake: () => void): void {
    if (!this.#drainWaiters.includes(wake)) this.#drainWaiters.push(wake);
  }

  onDrain(): void {
    this.#stalledSince = 0;
    this.#exhausted = false;
    if (this.#drainWaiters.length > 0) {
      const w = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const f of w) f();
    }
  }

  onClose(_err?: Error): void {
    if (this.state !== "closed") this.#teardown(this.closeReason || "Client Closed");
  }

  // ---- parser callbacks ----

  onError(err: ParseError): void {
    switch (err.kind) {
      case "unknown_op":
        this.host.logger.debug(`${this.#label()} - Client parser ERROR: ${err.detail}`);
        this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
        break;
      case "max_control_line":
        this.closeWithError("maximum control line exceeded", "Maximum Control Line Exceeded");
        break;
      case "max_payload":
        this.closeWithError("Maximum Payload Violation", "Maximum Payload Exceeded");
        break;
      case "bad_args":
        this.host.logger.debug(`${this.#label()} - Client parser ERROR: ${err.detail}`);
        this.close("Protocol Violation");
        break;
    }
  }

  #traceIn(op: OpCode, args: Args): void {
    const a = args.count > 0 ? bytesToString(args.line, args.starts[0], args.ends[args.count - 1]) : "";
    this.host.logger.trace(`${this.#label()} - <<- [${OP_NAMES.get(op) ?? "?"}${a === "" ? "" : " " + a}]`);
  }

  onControl(op: OpCode, args: Args): void {
    if (this.host.logger.traceEnabled) this.#traceIn(op, args);
    if (!this.#connectSeen && op !== OP.CONNECT && this.host.authRequiredFor(this.duplex.info.kind)) {
      this.closeWithError("Authorization Violation", "Authorization Violation");
      return;
    }
    switch (op) {
      case OP.PING:
        this.out.bytes(PONG);
        this.flushSoon();
        return;
      case OP.PONG:
        this.#keepalive.pong();
        return;
      case OP.CONNECT:
        this.#processConnect(args.count > 0 ? argString(args, 0) : "");
        return;
      case OP.SUB:
        this.#processSub(args);
        return;
      case OP.UNSUB:
        this.#processUnsub(args);
        return;
      case OP.INFO:
      case OP.OK:
        return;
    }
  }

  onMessage(op: OpCode, args: Args, payload: Uint8Array, hdrSize: number): void {
    this.#publish(op, args, payload, 0, payload.length, hdrSize);
  }

  /** A PUB whose payload lies whole in the read buffer: no view of it is made unless someone receives it. */
  onMessageIn(op: OpCode, args: Args, buf: Uint8Array, start: number, size: number, hdrSize: number): void {
    this.#publish(op, args, buf, start, size, hdrSize);
  }

  /** PUB/HPUB with its payload at `buf[start, start + size)`. */
  #publish(op: OpCode, args: Args, buf: Uint8Array, start: number, size: number, hdrSize: number): void {
    if (this.host.logger.traceEnabled) this.#traceIn(op, args);
    // PUB subject [reply] size | HPUB subject [reply] hdr size
    const rest = args.count - (op === OP.HPUB ? 2 : 1);
    if ((!this.#connectSeen || op === OP.HPUB || rest < 1 || rest > 2) && this.#publishRefused(op, rest)) return;
    this.#subject.read(args.line, args.starts[0], args.ends[0]);
    const subjectBytes = this.#subject.bytes;
    const subject = this.#subject.text;
    const hasReply = rest === 2;
    this.stats.in_msgs++;
    this.stats.in_bytes += size;
    this.host.stats.in_msgs++;
    this.host.stats.in_bytes += size;
    if ((this.pedantic || this.perms !== undefined || this.verbose) && this.#subjectRefused(subject)) return;
    // Nobody to receive it (a pub-only load): no payload view, no message object.
    const interest = this.#interestIn(subject);
    let delivered = 0;
    if (interest !== undefined) {
      // An empty header block means no headers (nats-server delivers it as MSG).
      const hdr = hdrSize === 0 ? -1 : hdrSize;
      const local = this.#interestLocal ? this.#localMsg : undefined;
      const msg: RoutedMsg = local !== undefined
        ? local.set(subject, subjectBytes, hasReply ? this.#replies.copy(args.line, args.starts[1], args.ends[1]) : null, hdr, buf, start, start + size)
        : routedMsg(subject, subjectBytes, hasReply ? argBytes(args, 1) : null, hdr, buf, start, size);
      const prev = this.host.currentProducer;
      this.host.currentProducer = this;
      const eagerBefore = this.#eagerDeliveries;
      delivered = this.account.deliverMatched(interest, msg, this);
      this.host.currentProducer = prev;
      if (this.#eagerDeliveries - eagerBefore !== delivered) this.#routed = true;
      local?.clear();
    }
    if (delivered === 0 && hasReply && this.noResponders && this.headers) {
      this.account.noResponders(this, argString(args, 1));
    }
  }

  /**
   * #publish's checks before the subject is read, for a frame that may fail them (before CONNECT, HPUB, a wrong
   * argument count): apart from #publish because the optimizing compilers compile all of a function's code and
   * these almost never fail (bench/RESULTS.md `hotcode`). True when the frame was refused (the client told or closed).
   */
  #publishRefused(op: OpCode, rest: number): boolean {
    if (!this.#connectSeen && this.host.authRequiredFor(this.duplex.info.kind)) {
      this.closeWithError("Authorization Violation", "Authorization Violation");
      return true;
    }
    if (op === OP.HPUB && !this.headers) {
      // nats-server drops a client that sends headers without having announced them.
      this.close("Protocol Violation");
      return true;
    }
    if (rest < 1 || rest > 2) {
      this.close("Protocol Violation");
      return true;
    }
    return false;
  }

  /**
   * #publish's checks of the subject for a pedantic, verbose or permission-bound client (apart from it, as
   * #publishRefused), and a verbose client's +OK. True when the publish was refused.
   */
  #subjectRefused(subject: string): boolean {
    if (this.pedantic && !isValidPublishSubject(subject)) {
      // nats-server still acknowledges the frame itself to a verbose client.
      this.sendErr("Invalid Publish Subject");
      if (this.verbose) this.#ok();
      return true;
    }
    if (this.perms !== undefined && !this.perms.canPublish(subject)) {
      this.sendErr(`Permissions Violation for Publish to "${subject}"`);
      this.host.logger.debug(`${this.#label()} - Publish Violation - User "${this.user ?? ""}", Subject "${subject}"`);
      return true;
    }
    if (this.verbose) {
      this.out.bytes(OK);
      this.flushSoon();
    }
    return false;
  }

  /**
   * The account's interest in `subject`, remembered for the last subject while the account's subscriptions do not
   * change: a publisher mostly repeats its subject (LastSubject then hands over the same string), and a match
   * hashes the subject every time.
   */
  #interestIn(subject: string): MatchResult<Subscription> | undefined {
    const account = this.account;
    const gen = account.interestGen;
    if (subject === this.#interestSubject && gen === this.#interestGen && account === this.#interestAccount) return this.#interest;
    const r = account.interestIn(subject);
    this.#interestSubject = subject;
    this.#interestGen = gen;
    this.#interestAccount = account;
    this.#interest = r;
    this.#interestLocal = r !== undefined && reusableFor(r);
    return r;
  }

  #processConnect(json: string): void {
    const c = parseConnect(json);
    if (c === undefined) {
      this.host.logger.debug(`${this.#label()} - bad CONNECT: ${json.slice(0, 200)}`);
      this.close("Protocol Violation");
      return;
    }
    const auth = this.host.authenticate(c, this.nonce, this.duplex.info.tls, this.duplex.info.kind);
    this.#connectOpts = c;
    if (!auth.ok) {
      this.host.logger.error(`${this.#label()} - ${auth.error ?? "authentication error"}`);
      this.host.stats.auth_failures = (this.host.stats.auth_failures ?? 0) + 1;
      this.closeWithError(auth.error ?? "Authorization Violation", "Authentication Failure");
      return;
    }
    if ((c.protocol ?? 0) > 1 || (c.protocol ?? 0) < 0) {
      this.closeWithError("invalid client protocol", "Protocol Violation");
      return;
    }
    if (c.no_responders === true && c.headers !== true) {
      this.closeWithError("no responders requires headers support", "Protocol Violation");
      return;
    }
    this.#authTimer?.cancel();
    this.#authTimer = undefined;
    this.#connectSeen = true;
    this.state = "connected";
    this.verbose = c.verbose ?? true;
    this.pedantic = c.pedantic ?? true;
    this.echo = c.echo ?? true;
    this.headers = c.headers ?? false;
    this.noResponders = c.no_responders ?? false;
    this.protocol = c.protocol ?? 0;
    this.name = c.name ?? "";
    this.lang = c.lang ?? "";
    this.version = c.version ?? "";
    this.user = auth.user;
    this.#bind(this.host.accountFor(auth.account));
    if (auth.permissions !== undefined) this.perms = new Permissions(auth.permissions);
    if (auth.expiresAt !== undefined) this.#expireAt(auth.expiresAt);
    this.jwtIssuedAt = auth.issuedAt;
    // A user JWT's limits narrow the server's (nats-server applies the smaller).
    if (auth.maxSubscriptions !== undefined && auth.maxSubscriptions >= 0) this.#userMaxSubs = auth.maxSubscriptions;
    if (auth.maxPayload !== undefined && auth.maxPayload >= 0 && auth.maxPayload < this.parser.limits.maxPayload) {
      this.parser.limits = { ...this.parser.limits, maxPayload: auth.maxPayload };
    }
    this.host.clientConnected(this);
    if (this.verbose) {
      this.out.bytes(OK);
      this.flushSoon();
    }
  }

  /**
   * A reloaded configuration applies to this live connection, as nats-server applies it: a user no longer
   * configured is dropped, credentials that no longer pass get -ERR 'Authorization Violation', and subscriptions
   * the new permissions deny are removed, each with a Permissions Violation naming its sid.
   */
  reauthorize(): void {
    const c = this.#connectOpts;
    if (this.state !== "connected" || c === undefined) return;
    const auth = this.host.authenticate(c, this.nonce, this.duplex.info.tls, this.duplex.info.kind);
    if (!auth.ok) {
      if (this.user !== undefined && this.host.knowsUser?.(this.user) === false) this.close("Authentication Failure");
      else this.closeWithError("Authorization Violation", "Authentication Failure");
      return;
    }
    this.user = auth.user;
    this.#bind(this.host.accountFor(auth.account));
    const perms = auth.permissions !== undefined ? new Permissions(auth.permissions) : undefined;
    this.perms = perms;
    for (const [sid, sub] of [...this.subs]) {
      const allowed = perms === undefined || perms.canSubscribe(sub.subject, sub.queue);
      const filtered = perms?.needsDeliveryFilter(sub.subject) ?? false;
      if (allowed && filtered === sub.filtered) continue;
      this.subs.delete(sid);
      this.account.removeSubscription(sub);
      if (!allowed) {
        this.sendErr(`Permissions Violation for Subscription to "${sub.subject}" (sid "${sid}")`);
        continue;
      }
      const again: Subscription = { ...sub, filtered };
      this.subs.set(sid, again);
      this.account.addSubscription(again);
    }
    this.flushSoon();
  }

  /** Bind to `account`; subscriptions made before (no auth, or a second CONNECT) move with the client. */
  #bind(account: Account): void {
    if (account === this.account) return;
    for (const sub of this.subs.values()) this.account.removeSubscription(sub);
    this.account = account;
    for (const sub of this.subs.values()) account.addSubscription(sub);
  }

  #processSub(args: Args): void {
    if (args.count === 0) {
      this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
      return;
    }
    if (args.count < 2 || args.count > 3) {
      this.close("Protocol Violation");
      return;
    }
    const subject = argString(args, 0);
    const queue = args.count === 3 ? argString(args, 1) : undefined;
    const sid = argString(args, args.count - 1);
    if (!isValidSubject(subject) || (queue !== undefined && !isValidQueueName(queue))) {
      this.sendErr("Invalid Subject");
      return;
    }
    if (this.perms !== undefined && !this.perms.canSubscribe(subject, queue)) {
      const q = queue !== undefined ? ` using queue "${queue}"` : "";
      this.sendErr(`Permissions Violation for Subscription to "${subject}"${q}`);
      return;
    }
    if (this.subs.has(sid)) {
      if (this.verbose) this.#ok();
      return;
    }
    const serverMax = this.host.options.max_subscriptions;
    const maxSubs = this.#userMaxSubs >= 0 && (serverMax <= 0 || this.#userMaxSubs < serverMax) ? this.#userMaxSubs : serverMax;
    if ((maxSubs > 0 || this.#userMaxSubs === 0) && this.subs.size >= maxSubs) {
      this.sendErr("maximum subscriptions exceeded");
      return;
    }
    const sub: Subscription = {
      subject,
      queue,
      sid,
      sidBytes: enc.encode(sid),
      owner: this,
      max: 0,
      delivered: 0,
      filtered: this.perms?.needsDeliveryFilter(subject) ?? false,
    };
    this.subs.set(sid, sub);
    this.account.addSubscription(sub);
    if (this.verbose) this.#ok();
  }

  #processUnsub(args: Args): void {
    if (args.count < 1 || args.count > 2) {
      this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
      return;
    }
    const sid = argString(args, 0);
    const sub = this.subs.get(sid);
    if (sub !== undefined) {
      const max = args.count === 2 ? parseSize(args.line, args.starts[1], args.ends[1]) : 0;
      if (max > 0 && sub.delivered < max) {
        sub.max = max;
      } else {
        this.removeSub(sub);
      }
    }
    if (this.verbose) this.#ok();
  }

  #ok(): void {
    this.out.bytes(OK);
    this.flushSoon();
  }

  removeSub(sub: Subscription): void {
    if (this.subs.get(sub.sid) !== sub) return;
    this.subs.delete(sub.sid);
    this.account.removeSubscription(sub);
  }

  // ---- delivery ----

  deliver(sub: Subscription, msg: RoutedMsg): void {
    if (this.state === "closed") return;
    let hdr = msg.hdrSize;
    if (msg instanceof LocalMsg && msg.end - msg.start < SMALL_PAYLOAD && (hdr < 0 || this.headers)) {
      // A small payload of a client's publish: copied from its input, no view made (LocalMsg).
      const size = msg.end - msg.start;
      this.out.msgSmall(msg.subjectBytes, sub.sidBytes, msg.reply, hdr, msg.buf, msg.start, msg.end);
      this.#delivered(size);
      return;
    }
    let payload = msg.payload;
    if (hdr >= 0 && !this.headers) {
      // A client that did not announce headers gets the body only, as nats-server does.
      payload = payload.subarray(hdr);
      hdr = -1;
    }
    this.out.msg(msg.subjectBytes, sub.sidBytes, msg.reply, hdr, payload);
    this.#delivered(payload.length);
  }

  /** A message of `size` bytes was written to the output: counts, flushing, the slow-consumer and stall checks. */
  #delivered(size: number): void {
    this.stats.out_msgs++;
    this.stats.out_bytes += size;
    this.host.stats.out_msgs++;
    this.host.stats.out_bytes += size;
    if (this.out.len > this.host.options.max_pending) {
      this.#slowConsumer();
      return;
    }
    this.flushSoon();
    if (this.#eager) {
      if (this.out.len >= EAGER_FLUSH) this.#write();
      // Only while the kernel takes all: a receiver with a backlog in its transport waits for drains, and its
      // publisher goes back to a slice per turn (whole reads then piled up to the stall mark: pubsub-1k 59 -> 71 MB).
      const producer = this.host.currentProducer;
      if (producer instanceof ClientConn && this.duplex.bufferedAmount() === 0) producer.#eagerDeliveries++;
    }
    if (this.out.len > this.host.options.max_pending / 2 || this.#stalledSince > 0) this.#backlogged();
  }

  /**
   * #delivered with this client's output over half its bound or stalled: the producer is paced. Apart from
   * #delivered, which runs per delivered message: the optimizing compilers compile all of a function's code
   * (bench/RESULTS.md `hotcode`).
   */
  #backlogged(): void {
    if (this.#exhausted && !this.#readsAgain()) return;
    this.#exhausted = false;
    const producer = this.host.currentProducer;
    // The producer may be this very client (it subscribes to what it publishes): its input then waits for its
    // own backlog with no cap (nats-server's read loop blocks on its own write), so a client that keeps
    // reading is paced, never dropped; one that stops reading meets the write deadline.
    if (producer !== undefined && this.#behindFor(producer)) producer.stallFor(this);
  }

  deliveryDenied(subject: string): boolean {
    return this.perms !== undefined && this.perms.deliveryDenied(subject);
  }

  sendErr(text: string): void {
    this.host.logger.trace(`${this.#label()} - ->> [-ERR '${text}']`);
    this.out.text(`-ERR '${text}'\r\n`);
    this.flushSoon();
  }

  /** Queue an INFO update (connect_urls, ldm) for clients that asked for them. */
  sendInfo(info: string): void {
    if (this.state === "closed") return;
    this.out.text(`INFO ${info}\r\n`);
    this.flushSoon();
  }

  flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.host.scheduleFlush(this);
  }

  /** Hand everything pending to the transport in one write. */
  flush(): void {
    this.#flushQueued = false;
    this.#write();
  }

  /** flush() without the scheduled flush's bookkeeping (also called mid-turn: see EAGER_FLUSH). */
  #write(): void {
    if (this.out.len === 0 || this.state === "closed") return;
    const pending = this.duplex.bufferedAmount() + this.out.len;
    if (pending > this.host.options.max_pending) {
      this.#slowConsumer();
      return;
    }
    const now = Date.now();
    if (this.#stalledSince > 0 && !this.#writeGoesThrough(now)) return;
    this.#handed += this.out.len;
    const ok = this.out.flushTo(this.duplex);
    if (!ok && this.#stalledSince === 0) {
      this.#stalledSince = now;
      this.#stallMark = this.duplex.bufferedAmount();
      this.#writtenAtStall = this.#handed - this.#stallMark;
    }
  }

  /** Has a write been stuck longer than write_deadline? (checked by the server's housekeeping timer) */
  checkWriteDeadline(now: number): void {
    if (this.state === "closed" || this.#stalledSince === 0) return;
    this.#writeGoesThrough(now);
  }

  /**
   * The write deadline, during a stall: false (and the connection cut as a slow consumer) once what the transport
   * held when the stall began has not all been written within write_deadline. A backlog that shrank ends the stall.
   * One that did not shrink but whose bytes of then have all been written since is a reader that keeps up with a
   * producer that keeps it fed (a subscriber paced through a route is held at a backlog of megabytes): the write
   * that stalled went through, and the deadline is timed again for what is held now. It was timed from the first
   * stalled write while any backlog was left, and a paced subscriber that read all along was cut write_deadline
   * after its pacing began (cluster/backpressure on Bun under load, the pacing seen only after ~12 s).
   */
  #writeGoesThrough(now: number): boolean {
    const buffered = this.duplex.bufferedAmount();
    if (buffered === 0 || buffered < this.#stallMark) {
      this.#stalledSince = 0;
      return true;
    }
    const written = this.#handed - buffered;
    if (written - this.#writtenAtStall >= this.#stallMark) {
      this.#stalledSince = now;
      this.#stallMark = buffered;
      this.#writtenAtStall = written;
      return true;
    }
    if (now - this.#stalledSince <= this.host.options.write_deadline) return true;
    this.#slowConsumer();
    return false;
  }

  #slowConsumer(): void {
    if (this.state === "closed") return;
    this.host.stats.slow_consumers++;
    this.host.logger.info(`${this.#label()} - Slow Consumer Detected`);
    this.out.len = 0;
    this.#teardown("Slow Consumer");
    this.duplex.close();
  }

  // ---- closing ----

  closeWithError(text: string, reason: string): void {
    if (this.state === "closed") return;
    this.host.logger.trace(`${this.#label()} - ->> [-ERR '${text}']`);
    this.out.text(`-ERR '${text}'\r\n`);
    this.close(reason);
  }

  /** Flush what is pending, then close. */
  close(reason: string): void {
    if (this.state === "closed") return;
    this.#flushQueued = false;
    if (this.out.len > 0) this.duplex.write(this.out.take());
    this.#teardown(reason);
    this.duplex.close();
  }

  #expireAt(at: number): void {
    this.#expiryTimer?.cancel();
    // timers hold 32-bit delays: a far expiry is re-armed when the first wait ends
    const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
    this.#expiryTimer = lightTimeout(wait, () => {
      this.#expiryTimer = undefined;
      if (Date.now() < at) this.#expireAt(at);
      else this.closeWithError("User Authentication Expired", "Authentication Expired");
    });
  }

  #teardown(reason: string): void {
    this.state = "closed";
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    this.closeReason = reason;
    this.#keepalive.stop();
    this.#authTimer?.cancel();
    this.#authTimer = undefined;
    for (const sub of this.subs.values()) this.account.removeSubscription(sub);
    this.host.clientClosed(this);
  }

  #label(): string {
    const i = this.duplex.info;
    return `${i.remoteHost}:${i.remotePort} - cid:${this.cid}`;
  }
}

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k === "OK" ? "+OK" : k]));
