/**
 * What a gateway connection needs from the gateway manager that owns it. An interface so that the
 * connections do not depend on the manager (and tests can drive one alone).
 */
import type { Account } from "../accounts/account.ts";
import type { Logger } from "../log/logger.ts";
import type { Server } from "../server/server.ts";
import type { GatewayInterestEntry } from "./interest.ts";
import type { GatewayConnect, GatewayInfo } from "./protocol.ts";

/** Connection counters, as /gatewayz reports them. */
export interface GatewayStats {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

/** The parts of a connection the manager and monitoring read. */
/** One account's interest mode on a gateway link, with what it counts (nats-server's /gatewayz account entry). */
export interface AccountMode {
  readonly name: string;
  readonly mode: "Optimistic" | "Interest-Only";
  /** Optimistic mode: subjects the remote said it has no interest in. */
  readonly noInterest: number;
  /** Interest-only mode (outbound): the remote's subscriptions, and how many of them are queue subscriptions. */
  readonly subs: number;
  readonly queueSubs: number;
}

export interface GatewayConnView {
  readonly cid: number;
  readonly stats: GatewayStats;
  readonly start: Date;
  readonly lastActivity: number;
  readonly rttMs: number;
  readonly remoteId: string;
  readonly remoteGateway: string;
  readonly state: "handshake" | "active" | "closed";
  readonly closeReason: string;
  readonly duplex: { readonly info: { readonly remoteHost: string; readonly remotePort: number }; bufferedAmount(): number };
  pendingBytes(): number;
  subscriptionCount(): number;
  /** Per account, the interest mode of this link (all accounts, or only `name`): /gatewayz?accs=1. */
  accountModes(name?: string): AccountMode[];
  label(): string;
  close(reason: string): void;
  closeWithError(text: string, reason: string): void;
}

export interface GatewayHost {
  readonly server: Server;
  readonly logger: Logger;
  /** This cluster's gateway name. */
  readonly name: string;
  /** The 6-character hash of our gateway name, in mapped reply subjects. */
  readonly clusterHash: string;
  /** `_GR_.<cluster hash>.<server hash>.` as bytes. */
  readonly replyPrefix: Uint8Array;
  /** Our gateway INFO (JSON, without "INFO "). */
  infoJson(): string;
  /** The CONNECT JSON for an outbound connection to gateway `remote`. */
  connectJson(remote: string): string;
  /** Check an inbound connection's CONNECT. A string is the reason to refuse it (sent as -ERR). */
  checkConnect(c: GatewayConnect): string | undefined;
  /** An outbound connection got the remote's first INFO. false = refused (closed by the manager). */
  registerOutbound(conn: GatewayConnView, info: GatewayInfo): boolean;
  /** An inbound connection got the remote's INFO after its CONNECT. */
  registerInbound(conn: GatewayConnView, info: GatewayInfo): boolean;
  /** The remote told us about another gateway (gateway_cmd 1). */
  gossiped(info: GatewayInfo): void;
  connClosed(conn: GatewayConnView): void;
  /**
   * A message from another cluster carried a mapped reply (`_GR_.<cluster>.<server>.<reply>`): its
   * subscribers see the plain reply, and responses published to it here go back under the mapped subject.
   */
  trackReply(account: Account, mapped: string, reply: string, clusterHash: string): void;
  /** Is `subject` a tracked reply of `account` (responses to it are sent by the tracker, not by interest)? */
  isTrackedReply(account: Account, subject: string): boolean;
  /** The interest this cluster announces to other clusters. */
  interest(): Iterable<GatewayInterestEntry>;
  /** The part of it in one account. */
  interestOf(account: string): GatewayInterestEntry[];
}
