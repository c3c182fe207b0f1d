/**
 * One route connection to another server of the cluster: the handshake (CONNECT/INFO), the peer's interest
 * (RS+/RS-, LS+/LS-) kept as route-owned subscriptions in the server's sublist, and messages in both
 * directions (RMSG/HMSG). A message reaching a route is sent once per route even when several of the
 * route's subscriptions match it (see outbox.ts).
 */
import type { ConnHandler, Duplex } from "../transport/types.ts";
import { type Args, argString, bytesToString, OP, type OpCode, type ParseError, Parser, parseSize } from "../protocol/parser.ts";
import type { OutBuffer } from "../server/outbound.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import type { Account } from "../accounts/account.ts";
import { RouteOutbox } from "./outbox.ts";
import { LastSubject } from "./last_subject.ts";
import { LinkOutput } from "../server/link_output.ts";
import { LocalMsg } from "../server/local_msg.ts";
import { reusableFor } from "../server/reuse.ts";
import { ScratchBytes } from "../server/small_bytes.ts";
import { interestLine, parseRouteConnect, parseRouteInfo, queueNames, type RoutedArgs, type RoutedArgsOut, type RouteInfo, routedArgs } from "./protocol.ts";
import { readJsDelivery } from "./js_delivery.ts";
import type { RouteHost } from "./types.ts";
import { linkInput, WireConn, type WireState } from "../server/wire_conn.ts";
import { applyRemoteInterest, dropRemoteInterest, type RemoteSub } from "../server/remote_interest.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

const NO_EXTRAS: RoutedArgs = { reply: -1, queueFrom: 0, queueTo: 0 };
/** A route control line may carry a long subject plus account and queue. */
const ROUTE_MAX_CONTROL_LINE = 64 * 1024;
/** Time for CONNECT and INFO to be exchanged before the connection is dropped. */
const HANDSHAKE_TIMEOUT_MS = 5000;

export type RouteState = WireState;

/** A remote subscription as the router sees it, with the queue name ready for RMSG frames. */
type RouteSub = RemoteSub;

export interface RouteStats {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

/** A routed message as its own object, for receivers that may keep it (#routed builds the reused one otherwise). */
function keptRoutedMsg(subject: string, subjectBytes: Uint8Array, reply: Uint8Array | null, hdrSize: number, buf: Uint8Array, start: number, size: number): RoutedMsg {
  return {
    subject,
    subjectBytes,
    reply,
    hdrSize,
    payload: start === 0 && size === buf.length ? buf : buf.subarray(start, start + size),
    deliverReply: undefined,
  };
}

export class RouteConn implements ConnHandler, SubOwner {
  readonly cid: number;
  readonly kind = "route" as const;
  readonly echo = true;
  readonly duplex: Duplex;
  readonly host: RouteHost;
  /** We dialed it (explicit or gossiped URL) rather than accepted it. */
  readonly solicited: boolean;
  /** The configured URL this connection was dialed for (explicit routes only). */
  readonly configuredUrl: string | undefined;
  readonly parser: Parser;
  readonly wire: WireConn;
  readonly out: OutBuffer;
  /** Message frames for the peer, one per message however many of the peer's subscriptions match. */
  readonly outbox: RouteOutbox;
  /** The shared outbound path of links (framing, counters, slow consumer, producer stall). */
  readonly output: LinkOutput;
  readonly subs = new Map<string, RouteSub>();
  readonly stats: RouteStats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
  readonly start = new Date();
  lastActivity = Date.now();
  remoteId = "";
  remoteName = "";
  remoteInfo: RouteInfo | undefined;
  /** Client URLs the peer advertises (for connect_urls). */
  connectUrls: string[] = [];
  /** WebSocket client URLs the peer advertises (for ws_connect_urls). */
  wsConnectUrls: string[] = [];

  #connectSeen = false;
  /** A light timer, as a client's (on Deno a runtime setTimeout loads Node's timer layer for good). */
  #authTimer: Timer | undefined;
  readonly #subject = new LastSubject();
  /** The message of a frame whose receivers all keep nothing of it (see #routed). */
  readonly #local = new LocalMsg();
  /** Its reply, copied out of the frame's line (a request's inbox: no view per request). */
  readonly #replies = new ScratchBytes();
  /** Where a frame's reply and queues are (routedArgs): one object per route, not one per message with a reply. */
  readonly #ra: RoutedArgsOut = { reply: -1, queueFrom: 0, queueTo: 0 };
  /** The queue groups a frame names (queueNames), read during its delivery only. */
  readonly #queues: string[] = [];

  constructor(cid: number, duplex: Duplex, host: RouteHost, opts: { solicited: boolean; configuredUrl?: string }) {
    this.cid = cid;
    this.duplex = duplex;
    this.host = host;
    this.solicited = opts.solicited;
    this.configuredUrl = opts.configuredUrl;
    this.parser = new Parser("route", this, { maxControlLine: ROUTE_MAX_CONTROL_LINE, maxPayload: Number.MAX_SAFE_INTEGER });
    const o = host.server.options;
    this.wire = new WireConn(duplex, { cid, tag: "rid", pingInterval: o.ping_interval, pingMax: o.ping_max, ...linkInput(host.server) }, {
      feed: (data) => this.parser.feed(data),
      teardown: () => this.#teardown(),
      beforeWrite: () => this.outbox.forget(),
      afterFlush: () => this.output.flushed(),
      afterWritten: () => this.output.written(),
    });
    this.out = this.wire.out;
    this.outbox = new RouteOutbox(this.out);
    this.output = new LinkOutput(this.wire, this.outbox, this.stats, host.server, "route");
  }

  get state(): RouteState {
    return this.wire.state;
  }

  get closeReason(): string {
    return this.wire.closeReason;
  }

  get rttMs(): number {
    return this.wire.rttMs;
  }

  /** Send CONNECT (when we dialed) and INFO; arm the auth and ping timers. */
  begin(authTimeoutMs: number | undefined): void {
    if (this.solicited) {
      this.#connectSeen = true;
      this.out.text(`CONNECT ${this.host.routeConnectJson(this)}\r\n`);
    } else if (authTimeoutMs !== undefined) {
      this.#authTimer = lightTimeout(authTimeoutMs, () => this.closeWithError("Authentication Timeout", "Authentication Timeout"));
    }
    this.out.text(`INFO ${this.host.routeInfoJson()}\r\n`);
    this.wire.flushSoon();
    // Whatever answers on the other end must complete the handshake; a silent or foreign peer is dropped.
    this.wire.startTimers(Math.max(HANDSHAKE_TIMEOUT_MS, authTimeoutMs ?? 0), "Route Handshake Timeout");
  }

  // ---- transport callbacks ----

  onData(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastActivity = Date.now();
    this.wire.receive(data);
  }

  onDrain(): void {
    this.output.drained();
  }

  onClose(_err?: Error): void {
    this.wire.closed("Route Closed");
  }

  // ---- parser callbacks ----

  onError(err: ParseError): void {
    this.host.logger.debug(`${this.label()} - Route parser ERROR: ${err.detail}`);
    if (err.kind === "unknown_op") this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    else this.close("Protocol Violation");
  }

  onControl(op: OpCode, args: Args): void {
    // The parser goes on through the rest of a chunk after the connection closed (a duplicate dropped at
    // registration, say). The gossip INFO that follows must not be taken for the handshake: it would
    // register the closed route under another server's id and point a configured route at that server.
    if (this.state === "closed") return;
    if (!this.#connectSeen && op !== OP.CONNECT) {
      // An accepted connection must present CONNECT (credentials, cluster name) before anything else.
      this.closeWithError("Authorization Violation", "Authorization Violation");
      return;
    }
    switch (op) {
      case OP.PING:
        this.wire.ping();
        return;
      case OP.PONG:
        this.wire.pong();
        return;
      case OP.CONNECT:
        this.#processConnect(args.count > 0 ? argString(args, 0) : "");
        return;
      case OP.INFO:
        this.#processInfo(args.count > 0 ? argString(args, 0) : "");
        return;
      case OP.OK:
        return;
      case OP.ERR:
        this.host.logger.error(`${this.label()} - Route Error ${bytesToString(args.line, 0, args.line.length)}`);
        return;
      case OP.RSPLUS:
        this.#interest(args, 0, true);
        return;
      case OP.RSMINUS:
        this.#interest(args, 0, false);
        return;
      case OP.LSPLUS:
        this.#interest(args, 1, true);
        return;
      case OP.LSMINUS:
        this.#interest(args, 1, false);
        return;
      default:
        // Old-style SUB/UNSUB are not part of the 2.9 route protocol.
        this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    }
  }

  onMessage(op: OpCode, args: Args, payload: Uint8Array, hdrSize: number): void {
    this.#routed(op, args, payload, 0, payload.length, hdrSize);
  }

  /** A frame whose payload lies whole in the read buffer: no view of it is made unless someone keeps it. */
  onMessageIn(op: OpCode, args: Args, buf: Uint8Array, start: number, size: number, hdrSize: number): void {
    this.#routed(op, args, buf, start, size, hdrSize);
  }

  /** RMSG/HMSG/LMSG with its payload at `buf[start, start + size)`. */
  #routed(op: OpCode, args: Args, buf: Uint8Array, start: number, size: number, hdrSize: number): void {
    if (this.state === "closed") return; // the rest of a chunk read before the close (see onControl)
    // RMSG/HMSG: acc subject [...] sizes. LMSG carries the origin cluster first.
    const first = op === OP.LMSG ? 1 : 0;
    const sizes = op === OP.HMSG ? 2 : 1;
    if (this.state !== "active" || (first === 0 && op !== OP.RMSG && op !== OP.HMSG) || args.count < first + 2 + sizes) {
      this.#refuseFrame(op);
      return;
    }
    this.stats.in_msgs++;
    this.stats.in_bytes += size;
    const st = this.host.server.stats;
    st.in_msgs++;
    st.in_bytes += size;
    const account = this.host.server.accounts.byBytes(args.line, args.starts[first], args.ends[first]);
    if (account === undefined) return; // an account this server does not have: no subscribers here
    const ra = args.count === first + 2 + sizes ? NO_EXTRAS : routedArgs(args.line, args.starts, args.ends, args.count, first + 2, sizes, this.#ra);
    if (ra === undefined) {
      this.#refuseFrame(op);
      return;
    }
    const si = first + 1;
    this.#subject.read(args.line, args.starts[si], args.ends[si]);
    const subject = this.#subject.text;
    const interest = account.interestIn(subject);
    if (interest === undefined) return; // nobody here (any more): no message object, no payload view
    // Receivers that all keep nothing of it (clients and internal clients of this server: the request to its
    // responder, the reply to its requester; see reuse.ts): one reused object, the payload a range of the read
    // and the reply a scratch copy (RoutedMsg's contract). Anyone else may keep the message and gets its own.
    const local = reusableFor(interest) ? this.#local : undefined;
    const r = ra.reply;
    const msg: RoutedMsg = local !== undefined
      ? local.set(subject, this.#subject.bytes, r >= 0 ? this.#replies.copy(args.line, args.starts[r], args.ends[r]) : null, hdrSize, buf, start, start + size)
      : keptRoutedMsg(subject, this.#subject.bytes, r >= 0 ? args.line.subarray(args.starts[r], args.ends[r]) : null, hdrSize, buf, start, size);
    // `<deliver> $JS.ACK...@<subject>`: a JetStream delivery (nats-server's form), routed by the frame's subject
    // and shown with the stored message's (see js_delivery.ts).
    const reply = msg.reply;
    if (!readJsDelivery(msg) && reply !== null && reply.length > 5 && reply[0] === 95) this.#gatewayReply(msg, reply, account);
    account.deliverMatched(interest, msg, this, queueNames(args, ra, this.#queues));
    local?.clear();
  }

  /**
   * A frame #routed does not take (before the link is active, an op or argument count a route does not send):
   * apart from #routed, as its other rare paths, because the optimizing compilers compile all of a function's code
   * (bench/RESULTS.md `hotcode`).
   */
  #refuseFrame(op: OpCode): void {
    if (this.state !== "active") this.close("Protocol Violation");
    else if (op !== OP.LMSG && op !== OP.RMSG && op !== OP.HMSG) this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    else this.close("Protocol Violation");
  }

  /**
   * A reply starting "_GR_.": a request another cluster sent, forwarded by the server its gateway reached: tracked
   * here too, so a response from this server goes back to that cluster (Server.mappedReply); subscribers see the
   * plain reply. Apart from #routed (see #refuseFrame).
   */
  #gatewayReply(msg: RoutedMsg, reply: Uint8Array, account: Account): void {
    if (reply[1] !== 71 || reply[2] !== 82 || reply[3] !== 95 || reply[4] !== 46) return;
    const plain = this.host.server.mappedReply?.(account, bytesToString(reply, 0, reply.length));
    if (plain !== undefined) msg.reply = new TextEncoder().encode(plain);
  }

  #processConnect(json: string): void {
    if (this.solicited || this.#connectSeen) {
      this.close("Protocol Violation");
      return;
    }
    const c = parseRouteConnect(json);
    if (c === undefined) {
      this.close("Protocol Violation");
      return;
    }
    const refused = this.host.checkConnect(this, c);
    if (refused !== undefined) {
      this.host.logger.error(`${this.label()} - ${refused}`);
      this.closeWithError(refused, refused);
      return;
    }
    this.#authTimer?.cancel();
    this.#authTimer = undefined;
    this.#connectSeen = true;
    if (c.name !== undefined) this.remoteId = c.name;
  }

  #processInfo(json: string): void {
    const info = parseRouteInfo(json);
    if (info === undefined) {
      this.close("Protocol Violation");
      return;
    }
    if (this.state === "active") {
      this.host.asyncInfo(this, info);
      return;
    }
    this.remoteId = info.server_id;
    this.remoteName = info.server_name ?? "";
    this.remoteInfo = info;
    this.connectUrls = info.connect_urls ?? [];
    this.wsConnectUrls = info.ws_connect_urls ?? [];
    if (!this.host.register(this, info)) return;
    this.wire.activate();
    for (const i of this.host.localInterest()) this.out.text(interestLine(true, i.subject, i.queue, i.weight, i.account));
    this.wire.flushSoon();
  }

  /** RS+/LS+ `acc subject [queue weight]`, RS-/LS- `acc subject [queue]` (offset skips LS's origin). */
  #interest(args: Args, offset: number, added: boolean): void {
    if (this.state !== "active") {
      this.close("Protocol Violation");
      return;
    }
    const n = args.count - offset;
    if (n < 2 || n > 4) {
      this.close("Protocol Violation");
      return;
    }
    // Interest in an account this server was not configured with has no publishers here.
    const account = this.host.server.accounts.byBytes(args.line, args.starts[offset], args.ends[offset]);
    if (account === undefined) return;
    const subject = argString(args, offset + 1);
    const queue = n >= 3 ? argString(args, offset + 2) : undefined;
    const weight = n === 4 ? Math.max(1, parseSize(args.line, args.starts[offset + 3], args.ends[offset + 3])) : 1;
    applyRemoteInterest(account, this.subs, this, added, subject, queue, weight);
  }

  // ---- SubOwner: messages from local publishers to the peer ----

  deliver(sub: Subscription, msg: RoutedMsg): void {
    if (this.state !== "active") return;
    const rs = sub as RouteSub;
    this.output.send(msg, rs.queueBytes, rs.account.nameBytes);
  }

  removeSub(sub: Subscription): void {
    const key = sub.sid;
    if (this.subs.get(key) === sub) this.subs.delete(key);
  }

  /** Announce a change of local interest in `account`. */
  sendInterest(added: boolean, subject: string, queue: string | undefined, weight: number, account: string): void {
    if (this.state !== "active") return;
    this.wire.send(interestLine(added, subject, queue, weight, account));
  }

  sendInfo(json: string): void {
    if (this.state === "closed") return;
    this.wire.send(`INFO ${json}\r\n`);
  }

  // ---- closing ----

  closeWithError(text: string, reason: string): void {
    this.wire.closeWithError(text, reason);
  }

  close(reason: string): void {
    this.wire.close(reason);
  }

  /** The connection ended (see WireConn): release the peer's subscriptions and tell the cluster. */
  #teardown(): void {
    this.#authTimer?.cancel();
    dropRemoteInterest(this.subs);
    this.host.routeClosed(this);
  }

  label(): string {
    return this.wire.label();
  }
}

