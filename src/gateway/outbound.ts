/**
 * The outbound connection to one remote gateway (cluster): we dialed it, we send it our messages, and it
 * tells us what it wants (RS+/RS-, A+/A-, interest-mode commands in INFO). The remote's interest lives in
 * the server's sublist as subscriptions owned by this connection, so the router reaches it like a route.
 *
 * Interest modes, per account, as nats-server 2.9 has them:
 * - optimistic (until the remote switches us): one catch-all subscription sends everything, except
 *   subjects the remote answered RS- for, or nothing at all after A-; queue interest is always explicit.
 * - interest-only (after gateway_cmd 2): only subjects the remote announced with RS+.
 *
 * A request's reply subject is mapped to `_GR_.<our cluster>.<our server>.<reply>` when it has a subscriber
 * here, so the response comes back to this server whatever the remote knows of our interest yet.
 * Only control lines arrive on this connection (messages flow the other way): the route protocol's parser
 * reads them (RS+/RS-, A+/A-, INFO, PING/PONG).
 */
import type { ConnHandler, Duplex } from "../transport/types.ts";
import { type Args, argString, bytesToString, OP, type OpCode, type ParseError, Parser, parseSize } from "../protocol/parser.ts";
import type { OutBuffer } from "../server/outbound.ts";
import { linkInput, WireConn } from "../server/wire_conn.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { RouteOutbox } from "../cluster/outbox.ts";
import { isJsDelivery } from "../cluster/js_delivery.ts";
import { LinkOutput } from "../server/link_output.ts";
import { CMD_ALL_SUBS_COMPLETE, CMD_ALL_SUBS_START, CMD_GOSSIP, commandAccount, type GatewayInfo, parseGatewayInfo } from "./protocol.ts";
import type { AccountMode, GatewayConnView, GatewayHost, GatewayStats } from "./types.ts";
import { applyRemoteInterest, dropRemoteInterest, type RemoteSub, remoteSub } from "../server/remote_interest.ts";
import type { Account } from "../accounts/account.ts";

const dec = new TextDecoder();
/** A gateway control line may carry a long subject plus account and queue. */
const MAX_CONTROL_LINE = 64 * 1024;
const HANDSHAKE_TIMEOUT_MS = 5000;
const CATCH_ALL = ">";

export type InterestMode = "optimistic" | "interest-only";

type GatewaySub = RemoteSub;

/** What the remote told us about one account. */
interface AccountLink {
  mode: InterestMode;
  /** Optimistic mode: subjects the remote said it has no interest in (RS-). */
  readonly noInterest: Set<string>;
  /** Optimistic mode: the remote has no interest in the account at all (A-). */
  accountNoInterest: boolean;
  catchAll: GatewaySub | undefined;
}

export class OutboundGateway implements ConnHandler, SubOwner, GatewayConnView {
  readonly cid: number;
  readonly kind = "gateway" as const;
  readonly echo = true;
  readonly duplex: Duplex;
  readonly host: GatewayHost;
  /** The gateway (cluster) name we dialed. */
  readonly remoteGateway: string;
  readonly wire: WireConn;
  readonly out: OutBuffer;
  readonly outbox: RouteOutbox;
  /** The shared outbound path of links (framing, counters, slow consumer, producer stall). */
  readonly output: LinkOutput;
  readonly parser: Parser;
  readonly subs = new Map<string, GatewaySub>();
  readonly stats: GatewayStats = { in_msgs: 0, out_msgs: 0, in_bytes: 0, out_bytes: 0 };
  readonly start = new Date();
  lastActivity = Date.now();
  remoteId = "";
  remoteInfo: GatewayInfo | undefined;
  readonly #links = new Map<Account, AccountLink>();

  /** Messages whose reply was mapped, so that the outbox still sees one message per route() call. */
  #mapped = new WeakMap<RoutedMsg, RoutedMsg>();

  constructor(cid: number, duplex: Duplex, host: GatewayHost, remoteGateway: string) {
    this.cid = cid;
    this.duplex = duplex;
    this.host = host;
    const o = host.server.options;
    // Gateways ping at least every 15s whatever the client ping interval, as nats-server does.
    this.wire = new WireConn(duplex, { cid, tag: "gid", pingInterval: Math.min(o.ping_interval, 15_000), pingMax: o.ping_max, ...linkInput(host.server) }, {
      feed: (data) => this.parser.feed(data),
      teardown: () => this.#teardown(),
      beforeWrite: () => this.outbox.forget(),
      afterFlush: () => this.output.flushed(),
      afterWritten: () => this.output.written(),
    });
    this.out = this.wire.out;
    this.outbox = new RouteOutbox(this.out);
    this.output = new LinkOutput(this.wire, this.outbox, this.stats, host.server, "gateway");
    this.parser = new Parser("route", this, { maxControlLine: MAX_CONTROL_LINE, maxPayload: Number.MAX_SAFE_INTEGER });
    this.remoteGateway = remoteGateway;
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

  /** The remote speaks first (INFO); we only arm the timers. */
  begin(): void {
    this.wire.startTimers(HANDSHAKE_TIMEOUT_MS, "Gateway Handshake Timeout");
  }

  // ---- transport and parser: the route protocol's parser, control lines only ----

  onData(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastActivity = Date.now();
    this.wire.receive(data);
  }

  onDrain(): void {
    this.output.drained();
  }

  onClose(_err?: Error): void {
    this.wire.closed("Gateway Closed");
  }

  onError(err: ParseError): void {
    this.host.logger.debug(`${this.label()} - Gateway parser ERROR: ${err.detail}`);
    if (err.kind === "unknown_op") this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    else if (err.kind === "max_control_line") this.closeWithError("Maximum Control Line Exceeded", "Maximum Control Line Exceeded");
    else this.close("Protocol Violation");
  }

  /** Messages flow the other way on this connection. */
  onMessage(): void {
    this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
  }

  onControl(op: OpCode, args: Args): void {
    switch (op) {
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
    }
    if (this.state !== "active") {
      this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
      return;
    }
    switch (op) {
      case OP.RSPLUS:
      case OP.RSMINUS:
        this.#interest(op === OP.RSPLUS, args);
        return;
      case OP.APLUS:
      case OP.AMINUS: {
        if (args.count < 1) return;
        const account = this.host.server.accounts.byBytes(args.line, args.starts[0], args.ends[0]);
        if (account !== undefined) this.#link(account).accountNoInterest = op === OP.AMINUS;
        return;
      }
      default:
        this.closeWithError("Unknown Protocol Operation", "Protocol Violation");
    }
  }

  #processInfo(json: string): void {
    const info = parseGatewayInfo(json);
    if (info === undefined) {
      this.close("Protocol Violation");
      return;
    }
    if (this.state === "handshake") {
      this.#firstInfo(info);
      return;
    }
    const cmd = info.gateway_cmd ?? 0;
    if (cmd === CMD_GOSSIP) {
      if (info.gateway !== undefined && info.gateway !== this.remoteGateway) this.host.gossiped(info);
      return;
    }
    if (cmd === CMD_ALL_SUBS_START || cmd === CMD_ALL_SUBS_COMPLETE) {
      const name = commandAccount(info);
      const account = name === undefined ? undefined : this.host.server.accounts.get(name);
      if (account !== undefined) this.#switchMode(account, cmd);
      return;
    }
    if (cmd === 0 && info.gateway === this.remoteGateway) this.remoteInfo = { ...this.remoteInfo, ...info };
  }

  #firstInfo(info: GatewayInfo): void {
    if (info.gateway === undefined || info.gateway === "") {
      this.host.logger.error(`${this.label()} - Attempt to connect to gateway ${JSON.stringify(this.remoteGateway)} using wrong port`);
      this.closeWithError(`Attempt to connect to gateway "${this.remoteGateway}" using wrong port`, "Wrong Port");
      return;
    }
    if (info.gateway !== this.remoteGateway) {
      this.host.logger.error(`${this.label()} - Failing connection to gateway ${JSON.stringify(this.remoteGateway)}, remote gateway name is ${JSON.stringify(info.gateway)}`);
      this.closeWithError(
        `Connection from "${this.host.name}" rejected, wanted to connect to "${this.remoteGateway}", this is "${info.gateway}"`,
        "Wrong Gateway",
      );
      return;
    }
    this.remoteId = info.server_id ?? "";
    this.remoteInfo = info;
    this.out.text(`CONNECT ${this.host.connectJson(this.remoteGateway)}\r\n`);
    this.out.text(`INFO ${this.host.infoJson()}\r\n`);
    this.wire.flushSoon();
    if (!this.host.registerOutbound(this, info)) return;
    this.wire.activate();
    // Queue groups prefer the nearest cluster: know this link's RTT from the start, as nats-server does.
    this.wire.measureRtt();
    // Optimistic for every account until the remote switches it to interest-only.
    for (const account of this.host.server.accounts) this.#setCatchAll(account, this.#link(account), true);
  }

  /** The remote's view of `account` (optimistic until told otherwise). */
  #link(account: Account): AccountLink {
    let l = this.#links.get(account);
    if (l === undefined) {
      l = { mode: "optimistic", noInterest: new Set(), accountNoInterest: false, catchAll: undefined };
      this.#links.set(account, l);
    }
    return l;
  }

  /** An account created since the link came up (operator mode): optimistic, like the others were at first. */
  accountCreated(account: Account): void {
    if (this.state !== "active") return;
    this.#setCatchAll(account, this.#link(account), true);
  }

  /** The interest mode of `account` on this link. */
  modeOf(account: Account): InterestMode {
    return this.#links.get(account)?.mode ?? "optimistic";
  }

  /** gateway_cmd 2: the remote is about to send all its subscriptions of `account`; 3: it has. */
  #switchMode(account: Account, cmd: number): void {
    if (cmd === CMD_ALL_SUBS_START) {
      const l = this.#link(account);
      l.mode = "interest-only";
      l.noInterest.clear();
      l.accountNoInterest = false;
      this.#setCatchAll(account, l, false);
    }
    // CMD_ALL_SUBS_COMPLETE changes nothing more: from the start command on, only RS+ interest counts.
  }

  #setCatchAll(account: Account, l: AccountLink, on: boolean): void {
    if (on && l.catchAll === undefined && l.mode === "optimistic") {
      l.catchAll = remoteSub(this, account, CATCH_ALL, undefined);
      account.addSubscription(l.catchAll);
    } else if (!on && l.catchAll !== undefined) {
      account.removeSubscription(l.catchAll);
      l.catchAll = undefined;
    }
  }

  /** RS+ `acc subject [queue weight]`, RS- `acc subject [queue]`. */
  #interest(added: boolean, args: Args): void {
    const n = args.count;
    if (n < 2 || n > 4) {
      this.close("Protocol Violation");
      return;
    }
    const account = this.host.server.accounts.byBytes(args.line, args.starts[0], args.ends[0]);
    if (account === undefined) return; // an account this server does not have sends nothing
    const subject = argString(args, 1);
    const queue = n >= 3 ? argString(args, 2) : undefined;
    const l = this.#link(account);
    if (queue === undefined && l.mode === "optimistic") {
      // Optimistic mode: RS- is negative interest, RS+ takes it back.
      if (added) l.noInterest.delete(subject);
      else l.noInterest.add(subject);
      return;
    }
    const weight = n === 4 ? Math.max(1, parseSize(args.line, args.starts[3], args.ends[3])) : 1;
    applyRemoteInterest(account, this.subs, this, added, subject, queue, weight);
  }

  // ---- SubOwner: local messages to the remote cluster ----

  deliver(sub: Subscription, msg: RoutedMsg): void {
    if (this.state !== "active") return;
    const gs = sub as GatewaySub;
    const account = gs.account;
    if (gs.queue === undefined && gs.subject === CATCH_ALL) {
      const l = this.#links.get(account);
      if (l !== undefined && l.catchAll === sub && (l.accountNoInterest || l.noInterest.has(msg.subject) || startsWithGR(msg.subjectBytes))) return;
    }
    // A response to a request from another cluster goes back under its mapped subject (see Gateway.trackReply).
    if (this.host.isTrackedReply(account, msg.subject)) return;
    this.#send(this.#withMappedReply(msg, account), gs.queueBytes, account);
  }

  /** A response to a mapped reply subject of the remote's: sent whatever its interest. */
  sendReply(msg: RoutedMsg, account: Account): void {
    if (this.state !== "active") return;
    this.#send(msg, undefined, account);
  }

  #send(msg: RoutedMsg, queue: Uint8Array | undefined, account: Account): void {
    this.output.send(msg, queue, account.nameBytes);
  }

  /** The same message with `_GR_.<cluster>.<server>.` before its reply, when the reply has a subscriber here. */
  #withMappedReply(msg: RoutedMsg, account: Account): RoutedMsg {
    const reply = msg.reply;
    // A JetStream delivery's ack reply is not mapped (nats-server neither): the ack finds the consumer by interest.
    if (reply === null || reply.length === 0 || startsWithGR(reply) || isJsDelivery(msg)) return msg;
    const seen = this.#mapped.get(msg);
    if (seen !== undefined) return seen;
    if (!hasLocalInterest(account, dec.decode(reply))) return msg;
    const prefix = this.host.replyPrefix;
    const mapped = new Uint8Array(prefix.length + reply.length);
    mapped.set(prefix);
    mapped.set(reply, prefix.length);
    const out: RoutedMsg = { ...msg, reply: mapped };
    this.#mapped.set(msg, out);
    return out;
  }

  isClosed(): boolean {
    return this.state === "closed";
  }

  removeSub(sub: Subscription): void {
    if (this.subs.get(sub.sid) === sub) this.subs.delete(sub.sid);
  }

  pendingBytes(): number {
    return this.out.len + this.duplex.bufferedAmount();
  }

  subscriptionCount(): number {
    return this.subs.size;
  }

  accountModes(name?: string): AccountMode[] {
    const out: AccountMode[] = [];
    for (const [account, l] of this.#links) {
      if (name !== undefined && account.name !== name) continue;
      let subs = 0;
      let queueSubs = 0;
      for (const s of this.subs.values()) {
        if (s.account !== account) continue;
        subs++;
        if (s.queue !== undefined) queueSubs++;
      }
      out.push({ name: account.name, mode: l.mode === "optimistic" ? "Optimistic" : "Interest-Only", noInterest: l.noInterest.size, subs, queueSubs });
    }
    return out;
  }

  closeWithError(text: string, reason: string): void {
    this.wire.closeWithError(text, reason);
  }

  close(reason: string): void {
    this.wire.close(reason);
  }

  /** The connection ended (see WireConn): release the remote's interest and tell the gateway manager. */
  #teardown(): void {
    for (const [account, l] of this.#links) this.#setCatchAll(account, l, false);
    dropRemoteInterest(this.subs);
    this.host.connClosed(this);
  }

  label(): string {
    return this.wire.label();
  }
}

function startsWithGR(b: Uint8Array): boolean {
  return b.length > 5 && b[0] === 95 && b[1] === 71 && b[2] === 82 && b[3] === 95 && b[4] === 46; // "_GR_."
}

/** Does a subscriber on this server or elsewhere in the cluster (not another gateway) want `subject`? */
function hasLocalInterest(account: Account, subject: string): boolean {
  const r = account.sublist.match(subject);
  for (const s of r.psubs) if (s.owner.kind !== "gateway") return true;
  for (const g of r.qsubs) for (const s of g) if (s.owner.kind !== "gateway") return true;
  return false;
}
