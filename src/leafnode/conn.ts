/**
 * One leafnode connection, either side: the hub accepted it (INFO first, then the leaf's CONNECT) or this
 * server dialed a hub as a leaf (wait for INFO, answer CONNECT). Once active, the peer's interest (LS+/LS-)
 * lives as leaf-owned subscriptions in the sublist of the account the link is bound to (the remote's `account`
 * on the leaf side, the authenticated user's account on the hub side) and messages flow as LMSG/HMSG both ways.
 * A message from the peer is routed here, never back to the peer: its own subscriptions are skipped.
 */
import type { ConnHandler, Duplex } from "../transport/types.ts";
import { type Args, argString, bytesToString, OP, type OpCode, type ParseError, Parser, parseSize } from "../protocol/parser.ts";
import type { OutBuffer } from "../server/outbound.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { linkInput, WireConn, type WireState } from "../server/wire_conn.ts";
import { queueNames, routedArgs } from "../cluster/protocol.ts";
import { LastSubject } from "../cluster/last_subject.ts";
import { LeafOutbox } from "./outbox.ts";
import { LinkOutput } from "../server/link_output.ts";
import { leafInterestLine, type LeafConnect, type LeafInfo, parseLeafConnect, parseLeafInfo } from "./protocol.ts";
import type { LeafHost } from "./types.ts";
import type { Account } from "../accounts/account.ts";
import { readJsDelivery } from "../cluster/js_delivery.ts";
import { applyRemoteInterest, dropRemoteInterest, interestKey, type RemoteSub } from "../server/remote_interest.ts";

const LEAF_MAX_CONTROL_LINE = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5000;

export type LeafSub = RemoteSub;

export interface LeafStats {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

export class LeafConn implements ConnHandler, SubOwner {
  readonly cid: number;
  readonly kind = "leaf" as const;
  /** Never echo: a message that came from this peer does not go back to it. */
  readonly echo = false;
  readonly duplex: Duplex;
  readonly host: LeafHost;
  /** We dialed it (this server is the leaf) rather than accepted it (this server is the hub). */
  readonly solicited: boolean;
  /** This server is the hub's spoke on this link: what comes from the hub is not forwarded over routes. */
  readonly spoke: boolean;
  readonly parser: Parser;
  readonly wire: WireConn;
  readonly out: OutBuffer;
  readonly outbox: LeafOutbox;
  /** The shared outbound path of links (framing, counters, slow consumer, producer stall). */
  readonly output: LinkOutput;
  readonly subs = new Map<string, LeafSub>();
  readonly stats: LeafStats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
  readonly start = new Date();
  remoteId = "";
  remoteName = "";
  /** Part of a cycle: the manager waits longer before dialing again. */
  loopDetected = false;
  /**
   * The account the link carries: a leaf binds it from its remote's `account`, a hub from the user the leaf
   * authenticated as (`$G` until then, and without one).
   */
  account: Account;
  /** The nonce in the hub's INFO, when the leaf signs in with a key (operator mode, nkeys). */
  nonce: string | undefined;
  /** Interest announced to the peer: subject or "subject queue" -> count (the queue weight). */
  readonly announced = new Map<string, { subject: string; queue: string | undefined; count: number }>();

  constructor(cid: number, duplex: Duplex, host: LeafHost, solicited: boolean, account: Account) {
    this.cid = cid;
    this.duplex = duplex;
    this.host = host;
    this.solicited = solicited;
    this.spoke = solicited;
    this.account = account;
    this.parser = new Parser("leaf", this, { maxControlLine: LEAF_MAX_CONTROL_LINE, maxPayload: Number.MAX_SAFE_INTEGER });
    const o = host.server.options;
    this.wire = new WireConn(duplex, { cid, tag: "lid", pingInterval: o.ping_interval, pingMax: o.ping_max, ...linkInput(host.server) }, {
      feed: (data) => this.parser.feed(data),
      teardown: () => this.#teardown(),
      beforeWrite: () => this.outbox.forget(),
      afterFlush: () => this.output.flushed(),
      afterWritten: () => this.output.written(),
    });
    this.out = this.wire.out;
    this.outbox = new LeafOutbox(this.out);
    this.output = new LinkOutput(this.wire, this.outbox, this.stats, host.server, "leafnode");
  }

  get state(): WireState {
    return this.wire.state;
  }

  /** Round trip of the last server PING, or of the one sent on connect until the first of those. */
  get rttMs(): number {
    return this.wire.rttMs > 0 ? this.wire.rttMs : this.#firstRtt;
  }

  readonly #subject = new LastSubject();
  #probeAt = 0;
  #firstRtt = 0;

  #pong(): void {
    if (this.#probeAt > 0) {
      this.#firstRtt = performance.now() - this.#probeAt;
      this.#probeAt = 0;
    }
    this.wire.pong();
  }

  /** The hub greets with INFO; a leaf waits for it. Either way the handshake is bounded. */
  begin(): void {
    if (!this.solicited) {
      this.out.text(`INFO ${this.host.infoJson(this)}\r\n`);
      this.wire.flushSoon();
    }
    this.wire.startTimers(HANDSHAKE_TIMEOUT_MS, "Leafnode Handshake Timeout");
  }

  // ---- transport callbacks ----

  onData(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.wire.receive(data);
  }

  onDrain(): void {
    this.output.drained();
  }

  onClose(_err?: Error): void {
    this.wire.closed("Leafnode Closed");
  }

  // ---- parser callbacks ----

  onError(err: ParseError): void {
    this.host.logger.debug(`${this.wire.label()} - Leafnode parser ERROR: ${err.detail}`);
    if (err.kind === "unknown_op") this.wire.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    else this.wire.close("Protocol Violation");
  }

  onControl(op: OpCode, args: Args): void {
    const json = () => (args.count > 0 ? argString(args, 0) : "");
    if (this.state === "handshake") {
      // The hub must hear CONNECT first; the leaf must hear INFO first.
      if (!this.solicited && op === OP.CONNECT) return this.#processConnect(json());
      if (this.solicited && op === OP.INFO) return this.#processInfo(json());
      if (op === OP.PING) return this.wire.ping();
      if (op === OP.PONG) return this.#pong();
      if (this.solicited && op === OP.ERR) {
        this.host.logger.error(`${this.wire.label()} - Leafnode Error ${bytesToString(args.line, 0, args.line.length)}`);
        return;
      }
      this.wire.closeWithError("Authorization Violation", "Authorization Violation");
      return;
    }
    switch (op) {
      case OP.PING:
        return this.wire.ping();
      case OP.PONG:
        return this.#pong();
      case OP.INFO:
      case OP.OK:
        return; // async INFO (connect_info, leafnode_urls updates): nothing we act on
      case OP.ERR: {
        const text = bytesToString(args.line, 0, args.line.length);
        this.host.logger.error(`${this.wire.label()} - Leafnode Error ${text}`);
        // The hub saw our own loop-detection subject come back: this link closes a cycle.
        if (text.includes("Loop detected")) this.loopDetected = true;
        return;
      }
      case OP.LSPLUS:
        return this.#interest(args, true);
      case OP.LSMINUS:
        return this.#interest(args, false);
      default:
        this.wire.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    }
  }

  onMessage(op: OpCode, args: Args, payload: Uint8Array, hdrSize: number): void {
    if (this.state !== "active" || (op !== OP.LMSG && op !== OP.HMSG)) {
      this.wire.closeWithError("Unknown Protocol Operation", "Protocol Violation");
      return;
    }
    const sizes = op === OP.HMSG ? 2 : 1;
    const ra = routedArgs(args.line, args.starts, args.ends, args.count, 1, sizes);
    if (ra === undefined) {
      this.wire.close("Protocol Violation");
      return;
    }
    this.stats.in_msgs++;
    this.stats.in_bytes += payload.length;
    const st = this.host.server.stats;
    st.in_msgs++;
    st.in_bytes += payload.length;
    this.#subject.read(args.line, args.starts[0], args.ends[0]);
    const msg: RoutedMsg = {
      subject: this.#subject.text,
      subjectBytes: this.#subject.bytes,
      reply: ra.reply >= 0 ? args.line.slice(args.starts[ra.reply], args.ends[ra.reply]) : null,
      hdrSize,
      payload,
      deliverReply: undefined,
    };
    // `LMSG <deliver> $JS.ACK...@<subject>`: a JetStream delivery, routed by its deliver subject and shown
    // with the stored message's subject (nats-server's form on leafnode links and routes).
    readJsDelivery(msg);
    this.account.deliver(msg, this, queueNames(args, ra));
  }

  #processConnect(text: string): void {
    const c = parseLeafConnect(text);
    if (c === undefined) {
      this.wire.close("Protocol Violation");
      return;
    }
    if (c.lang !== undefined) {
      this.host.logger.error(`${this.wire.label()} - attempted to connect to leaf node port`);
      this.wire.closeWithError("attempted to connect to leaf node port", "Incorrect Port");
      return;
    }
    const bound = this.host.authorize(this, c);
    if (bound === undefined) {
      this.host.logger.error(`${this.wire.label()} - Leafnode authentication error`);
      this.wire.closeWithError("Authorization Violation", "Authentication Failure");
      return;
    }
    this.account = bound;
    this.remoteId = c.server_id ?? "";
    this.remoteName = c.name ?? c.server_id ?? "";
    // A nats-server leaf finishes its side of the handshake (and stops its 2 s timer) on this second INFO.
    this.out.text(`INFO ${this.host.infoJson(this, true)}\r\n`);
    this.#activate(c);
  }

  #processInfo(text: string): void {
    const info = parseLeafInfo(text);
    if (info === undefined) {
      this.wire.close("Protocol Violation");
      return;
    }
    this.remoteId = info.server_id;
    this.remoteName = info.server_name ?? info.server_id;
    // TLS before CONNECT (the CONNECT waits inside the TLS session until the handshake is done)
    if (this.host.startLeafTls?.(this, info.tls_required === true) === false) return;
    this.out.text(`CONNECT ${this.host.connectJson(this, info)}\r\n`);
    this.#activate(info);
  }

  #activate(peer: LeafConnect | LeafInfo): void {
    if (!this.host.register(this, peer)) return;
    this.wire.activate();
    // As nats-server does: a first PING right away, so /leafz has a round trip to show.
    this.#probeAt = performance.now();
    this.out.text("PING\r\n");
    this.out.text(leafInterestLine(true, this.host.ldsSubject, undefined, 1));
    for (const e of this.host.interestFor(this)) {
      this.announced.set(e.queue === undefined ? e.subject : `${e.subject} ${e.queue}`, e);
      this.out.text(leafInterestLine(true, e.subject, e.queue, e.count));
    }
    this.wire.flushSoon();
  }

  /** `LS+ subject [queue weight]`, `LS- subject [queue]`. */
  #interest(args: Args, added: boolean): void {
    const n = args.count;
    if (n < 1 || n > 3) {
      this.wire.close("Protocol Violation");
      return;
    }
    const subject = argString(args, 0);
    if (subject.startsWith("$JS.API.") && this.keepsJsApi()) {
      // A server with JetStream in a domain of its own keeps `$JS.API` to itself, as nats-server denies it on
      // leafnode links: the other side's API is asked for by its domain's name (`$JS.<domain>.API`).
      return;
    }
    if (added && subject === this.host.ldsSubject) {
      this.host.logger.error(`${this.wire.label()} - Loop detected for leafnode account ${JSON.stringify(this.account.name)}`);
      this.loopDetected = true;
      this.wire.closeWithError("Loop detected", "Loop Detected");
      return;
    }
    const queue = n >= 2 ? argString(args, 1) : undefined;
    const weight = n === 3 ? Math.max(1, parseSize(args.line, args.starts[2], args.ends[2])) : 1;
    applyRemoteInterest(this.account, this.subs, this, added, subject, queue, weight);
  }

  /** This server runs JetStream in a domain of its own: `$JS.API` does not cross its leafnode links. */
  keepsJsApi(): boolean {
    const js = this.host.server.options.jetstream;
    return js !== undefined && js.enabled !== false && (js.domain ?? "") !== "";
  }

  // ---- SubOwner ----

  deliver(sub: Subscription, msg: RoutedMsg): void {
    if (this.state !== "active") return;
    // LMSG names no account: the link is bound to one.
    this.output.send(msg, (sub as LeafSub).queueBytes, undefined);
  }

  /** Did the peer announce this loop-detection subject itself? */
  announcedLds(subject: string): boolean {
    return this.subs.has(interestKey(this.account, subject, undefined));
  }

  removeSub(sub: Subscription): void {
    if (this.subs.get(sub.sid) === sub) this.subs.delete(sub.sid);
  }

  /** Tell the peer of a change of interest on this side. */
  sendInterest(added: boolean, subject: string, queue: string | undefined, weight: number): void {
    if (this.state !== "active") return;
    this.wire.send(leafInterestLine(added, subject, queue, weight));
  }

  close(reason: string): void {
    this.wire.close(reason);
  }

  #teardown(): void {
    dropRemoteInterest(this.subs);
    this.host.leafClosed(this);
  }
}
