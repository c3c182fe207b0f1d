/**
 * An inbound gateway connection: a server of another cluster dialed us to send its messages. We expect its
 * CONNECT (gateway name, credentials) and INFO, then tell it that the global account is interest-only and
 * send our cluster's whole interest (RS+), then every change of it. Messages that arrive (RMSG/HMSG) are
 * delivered to this server's subscribers and to the other servers of our cluster (routes), never to
 * another gateway. A mapped reply subject (`_GR_.<our cluster>...`) is unwrapped back to the original.
 */
import type { ConnHandler, Duplex } from "../transport/types.ts";
import { type Args, argString, bytesToString, OP, type OpCode, type ParseError, Parser } from "../protocol/parser.ts";
import type { OutBuffer } from "../server/outbound.ts";
import { linkInput, WireConn } from "../server/wire_conn.ts";
import type { RoutedMsg, SubOwner } from "../server/types.ts";
import type { Account } from "../accounts/account.ts";
import { interestLine, queueNames, routedArgs } from "../cluster/protocol.ts";
import { LastSubject } from "../cluster/last_subject.ts";
import { jsDeliveryShown } from "../cluster/js_delivery.ts";
import {
  CMD_ALL_SUBS_COMPLETE,
  CMD_ALL_SUBS_START,
  GW_REPLY_HEAD,
  interestModeInfo,
  parseGatewayConnect,
  parseGatewayInfo,
  parseMappedReply,
} from "./protocol.ts";
import type { AccountMode, GatewayConnView, GatewayHost, GatewayStats } from "./types.ts";

const enc = new TextEncoder();
const MAX_CONTROL_LINE = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5000;

export class InboundGateway implements ConnHandler, GatewayConnView, SubOwner {
  readonly cid: number;
  /** As the origin of the messages it brings (it owns no subscriptions: interest goes the other way). */
  readonly kind = "gateway" as const;
  readonly echo = true;
  readonly duplex: Duplex;
  readonly host: GatewayHost;
  readonly parser: Parser;
  readonly wire: WireConn;
  readonly out: OutBuffer;
  readonly stats: GatewayStats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
  readonly start = new Date();
  lastActivity = Date.now();
  remoteId = "";
  remoteGateway = "";
  #connectSeen = false;
  readonly #subject = new LastSubject();

  constructor(cid: number, duplex: Duplex, host: GatewayHost) {
    this.cid = cid;
    this.duplex = duplex;
    this.host = host;
    const o = host.server.options;
    // Gateways ping at least every 15s whatever the client ping interval, as nats-server does.
    this.wire = new WireConn(duplex, { cid, tag: "gid", pingInterval: Math.min(o.ping_interval, 15_000), pingMax: o.ping_max, ...linkInput(host.server) }, {
      feed: (data) => this.parser.feed(data),
      teardown: () => this.#teardown(),
    });
    this.out = this.wire.out;
    this.parser = new Parser("route", this, { maxControlLine: MAX_CONTROL_LINE, maxPayload: Number.MAX_SAFE_INTEGER });
  }

  get state(): "handshake" | "active" | "closed" {
    return this.wire.state;
  }

  get closeReason(): string {
    return this.wire.closeReason;
  }

  get rttMs(): number {
    return this.wire.rttMs;
  }

  begin(timeoutMs = HANDSHAKE_TIMEOUT_MS): void {
    this.out.text(`INFO ${this.host.infoJson()}\r\n`);
    this.wire.flushSoon();
    this.wire.startTimers(timeoutMs, "Gateway Handshake Timeout");
  }

  // ---- transport ----

  onData(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastActivity = Date.now();
    this.wire.receive(data);
  }

  onDrain(): void {}

  onClose(_err?: Error): void {
    this.wire.closed("Gateway Closed");
  }

  // ---- parser ----

  onError(err: ParseError): void {
    this.host.logger.debug(`${this.label()} - Gateway parser ERROR: ${err.detail}`);
    // Before CONNECT, nats-server answers anything it cannot use as an authorization failure.
    if (!this.#connectSeen) this.closeWithError("Authorization Violation", "Authorization Violation");
    else if (err.kind === "unknown_op") this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    else this.close("Protocol Violation");
  }

  onControl(op: OpCode, args: Args): void {
    if (!this.#connectSeen && op !== OP.CONNECT) {
      this.closeWithError("Authorization Violation", "Authorization Violation");
      return;
    }
    switch (op) {
      case OP.CONNECT:
        this.#processConnect(args.count > 0 ? argString(args, 0) : "");
        return;
      case OP.INFO:
        this.#processInfo(args.count > 0 ? argString(args, 0) : "");
        return;
      case OP.PING:
        this.wire.ping();
        return;
      case OP.PONG:
        this.wire.pong();
        return;
      case OP.OK:
        return;
      case OP.ERR:
        this.host.logger.error(`${this.label()} - Gateway Error ${bytesToString(args.line, 0, args.line.length)}`);
        return;
      default:
        this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    }
  }

  onMessage(op: OpCode, args: Args, payload: Uint8Array, hdrSize: number): void {
    if (!this.#connectSeen) {
      this.closeWithError("Authorization Violation", "Authorization Violation");
      return;
    }
    if (this.state !== "active" || (op !== OP.RMSG && op !== OP.HMSG)) {
      this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
      return;
    }
    const sizes = op === OP.HMSG ? 2 : 1;
    if (args.count < 2 + sizes) {
      this.close("Protocol Violation");
      return;
    }
    this.stats.in_msgs++;
    this.stats.in_bytes += payload.length;
    const st = this.host.server.stats;
    st.in_msgs++;
    st.in_bytes += payload.length;
    const account = this.host.server.accounts.byBytes(args.line, args.starts[0], args.ends[0]);
    if (account === undefined) {
      // An account this server does not have: tell the remote once to stop sending it (A-).
      this.#noAccount(argString(args, 0));
      return;
    }
    const ra = routedArgs(args.line, args.starts, args.ends, args.count, 2, sizes);
    if (ra === undefined) {
      this.close("Protocol Violation");
      return;
    }
    this.#subject.read(args.line, args.starts[1], args.ends[1]);
    let subject = this.#subject.text;
    let subjectBytes = this.#subject.bytes;
    // A view of the read buffer, like the payload: valid during the delivery, which copies what it keeps.
    let reply = ra.reply >= 0 ? args.line.subarray(args.starts[ra.reply], args.ends[ra.reply]) : null;
    // `<deliver> $JS.ACK...@<subject>`: a JetStream delivery (nats-server's form, as on routes), routed by the
    // frame's subject and shown with the stored message's (see cluster/js_delivery.ts).
    const shown = jsDeliveryShown(reply);
    const jsDelivery = shown !== undefined;
    if (shown !== undefined) {
      subjectBytes = shown.subject;
      reply = shown.reply;
    }
    if (subject.length > GW_REPLY_HEAD && subject.startsWith("_GR_.")) {
      // A reply to a request this cluster sent: unwrap it if it is ours, drop it otherwise. A delivery goes on to
      // the plain subject (a route does not hand messages to the `_GR_.>` catch-all, which only takes what is
      // published here) and keeps its shown subject.
      const m = parseMappedReply(subject);
      if (m === undefined || m.cluster !== this.host.clusterHash) return;
      subject = m.reply;
      if (!jsDelivery) subjectBytes = enc.encode(subject);
    }
    let routeReply: Uint8Array | undefined;
    if (!jsDelivery && reply !== null && reply.length > GW_REPLY_HEAD && reply[0] === 95 && reply[1] === 71 && reply[2] === 82 && reply[3] === 95) {
      // "_GR_.": subscribers see the original reply, as with nats-server; responses are mapped back.
      const mapped = argString(args, ra.reply);
      const m = parseMappedReply(mapped);
      if (m !== undefined) {
        if (m.cluster !== this.host.clusterHash) {
          this.host.trackReply(account, mapped, m.reply, m.cluster);
          // Other servers of this cluster get the mapped reply (a route carries it): whichever answers, the
          // response goes back to the requester's cluster, known interest or not (see Server.mappedReply).
          routeReply = reply;
        }
        reply = enc.encode(m.reply);
      }
    }
    const msg: RoutedMsg = {
      subject,
      subjectBytes,
      reply,
      hdrSize,
      payload,
      deliverReply: routeReply,
    };
    account.deliver(msg, this, queueNames(args, ra));
  }

  #processConnect(json: string): void {
    if (this.#connectSeen) {
      this.close("Protocol Violation");
      return;
    }
    const c = parseGatewayConnect(json);
    if (c === undefined) {
      this.close("Protocol Violation");
      return;
    }
    if (c.gateway === undefined || c.gateway === "") {
      // A client or a route dialed the gateway port.
      this.host.logger.error(`${this.label()} - attempted to connect to gateway port`);
      this.closeWithError("attempted to connect to gateway port", "Wrong Port");
      return;
    }
    const refused = this.host.checkConnect(c);
    if (refused !== undefined) {
      this.host.logger.error(`${this.label()} - ${refused}`);
      this.closeWithError(refused, refused === "Authorization Violation" ? refused : "Wrong Gateway");
      return;
    }
    this.#connectSeen = true;
    this.remoteGateway = c.gateway;
    this.remoteId = c.name ?? "";
  }

  #processInfo(json: string): void {
    const info = parseGatewayInfo(json);
    if (info === undefined) {
      this.close("Protocol Violation");
      return;
    }
    if (this.state === "active") return; // later INFOs (URL updates) change nothing on this side
    if (info.server_id !== undefined) this.remoteId = info.server_id;
    if (info.gateway !== undefined && info.gateway !== "") this.remoteGateway = info.gateway;
    if (!this.host.registerInbound(this, info)) return;
    this.wire.activate();
    this.#sendAllInterest();
  }

  /**
   * Interest-only from the start for every account, as nats-server 2.9 does: per account the mode switch,
   * every subscription, done.
   */
  #sendAllInterest(): void {
    const name = this.host.name;
    for (const account of this.host.server.accounts) {
      this.out.text(interestModeInfo(name, CMD_ALL_SUBS_START, account.name));
      for (const i of this.host.interestOf(account.name)) this.out.text(interestLine(true, i.subject, i.queue, 1, account.name));
      this.out.text(interestModeInfo(name, CMD_ALL_SUBS_COMPLETE, account.name));
    }
    this.wire.flushSoon();
  }

  /**
   * An account created since the link came up (operator mode): if we told the remote we had none (A-), take
   * that back, and make the account interest-only with its interest so far, like the others.
   */
  accountCreated(account: Account): void {
    if (this.state !== "active") return;
    if (this.#refused.delete(account.name)) this.out.text(`A+ ${account.name}\r\n`);
    const name = this.host.name;
    this.out.text(interestModeInfo(name, CMD_ALL_SUBS_START, account.name));
    for (const i of this.host.interestOf(account.name)) this.out.text(interestLine(true, i.subject, i.queue, 1, account.name));
    this.out.text(interestModeInfo(name, CMD_ALL_SUBS_COMPLETE, account.name));
    this.wire.flushSoon();
  }

  /** `A- <acc>`: the remote sent a message of an account this server does not have. */
  #noAccount(name: string): void {
    if (this.#refused.has(name)) return;
    this.#refused.add(name);
    this.wire.send(`A- ${name}\r\n`);
  }

  readonly #refused = new Set<string>();

  sendInterest(added: boolean, subject: string, queue: string | undefined, account: string): void {
    if (this.state !== "active") return;
    this.wire.send(interestLine(added, subject, queue, 1, account));
  }

  sendInfo(json: string): void {
    if (this.state === "closed") return;
    this.wire.send(`INFO ${json}\r\n`);
  }

  deliver(): void {}

  removeSub(): void {}

  pendingBytes(): number {
    return this.out.len + this.duplex.bufferedAmount();
  }

  subscriptionCount(): number {
    return 0;
  }

  /** Every account is interest-only from the start on this side (see #sendAllInterest). */
  accountModes(name?: string): AccountMode[] {
    if (this.state !== "active") return [];
    const out: AccountMode[] = [];
    for (const a of this.host.server.accounts) {
      if (name === undefined || a.name === name) out.push({ name: a.name, mode: "Interest-Only", noInterest: 0, subs: 0, queueSubs: 0 });
    }
    return out;
  }

  closeWithError(text: string, reason: string): void {
    this.wire.closeWithError(text, reason);
  }

  close(reason: string): void {
    this.wire.close(reason);
  }

  /** The connection ended (see WireConn): tell the gateway manager. */
  #teardown(): void {
    this.host.connClosed(this);
  }

  label(): string {
    return this.wire.label();
  }
}
