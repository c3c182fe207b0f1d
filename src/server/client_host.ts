/** What a client connection needs from the server it belongs to (kept narrow so clients stay testable). */
import type { ServerOptions } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import type { AuthOutcome } from "./auth.ts";
import type { ConnectOptions } from "./connect.ts";
import type { ClientConn } from "./client.ts";
import type { RoutedMsg, SubOwner, Subscription } from "./types.ts";

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
  currentProducer: ClientConn | undefined;
  authenticate(c: ConnectOptions, nonce?: string): AuthOutcome;
  /** Deliver a message to every interested subscription; returns how many deliveries were made. */
  route(from: SubOwner, msg: RoutedMsg): number;
  /** Answer a request that found no subscriber with a 503 status message. */
  noResponders(from: ClientConn, reply: string): void;
  addSubscription(sub: Subscription): void;
  removeSubscription(sub: Subscription): void;
  scheduleFlush(c: ClientConn): void;
  clientClosed(c: ClientConn): void;
}
