/** What a client connection needs from the server it belongs to (kept narrow so clients stay testable). */
import type { ServerOptions } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { TlsInfo } from "../transport/types.ts";
import type { AuthOutcome } from "./auth.ts";
import type { ConnectOptions } from "./connect.ts";
import type { ClientConn } from "./client.ts";
import type { Producer } from "./flow.ts";
import type { Account } from "../accounts/account.ts";

export interface ServerStats {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  slow_consumers: number;
  total_connections: number;
  auth_failures?: number;
}

export interface ClientHost {
  readonly options: ServerOptions;
  readonly logger: Logger;
  readonly stats: ServerStats;
  readonly authRequired: boolean;
  /** The client whose message is being routed right now (for flow control). */
  currentProducer: Producer | undefined;
  /** `tls`: what the connection's TLS handshake negotiated (verify_and_map takes the user from its certificate). */
  authenticate(c: ConnectOptions, nonce?: string, tls?: TlsInfo, kind?: string): AuthOutcome;
  /** Must a client of this transport kind ("tcp", "ws", ...) authenticate? */
  authRequiredFor(kind: string): boolean;
  /** How long a client of this transport kind has to authenticate, ms. */
  authTimeoutFor(kind: string): number;
  /** Is `user` still a configured user (a reload tells a removed user from changed credentials by this)? */
  knowsUser?(user: string): boolean;
  /** The account a client binds to after authentication (undefined: the global account `$G`). */
  accountFor(name: string | undefined): Account;
  scheduleFlush(c: ClientConn): void;
  /** The client finished CONNECT and was authenticated (system events start here). */
  clientConnected(c: ClientConn): void;
  clientClosed(c: ClientConn): void;
}
