/**
 * What monitoring must count from the server's start: each account's traffic (connections that closed take theirs
 * with them) and the recently closed connections. The endpoints that read it (endpoints.ts, with /connz, /varz,
 * /subsz, /accountz...) are loaded on first use; a server nobody monitors never loads them. A Petrel loads this
 * module itself on demand too (petrel.ts): a server without accounts with its first connection event, what
 * happened before it was loaded handed over with the time it happened (connectionEvent).
 */
import type { ClientConn } from "../server/client.ts";
import type { Server } from "../server/server.ts";
import { AccountStats } from "./account_stats.ts";
import { ClosedConnections } from "./closed_connections.ts";

export interface MonitorState {
  readonly accountStats: AccountStats;
  readonly closed: ClosedConnections;
  /** A client came up (CONNECT done) or went, at `at` (ms since the epoch). */
  connectionEvent(c: ClientConn, up: boolean, at: number): void;
}

/** Create it once per server, before it accepts connections: it listens to them from then on. */
export function createMonitorState(s: Server): MonitorState {
  const state = monitorStateFor(s);
  s.connectionListeners.add((c, up) => state.connectionEvent(c, up, Date.now()));
  return state;
}

/** The same, told of connection events by the caller (which may hand over events from before it was made). */
export function monitorStateFor(s: Server): MonitorState {
  const accountStats = new AccountStats(s);
  const closed = new ClosedConnections();
  return {
    accountStats,
    closed,
    connectionEvent(c, up, at) {
      accountStats.connectionEvent(c, up);
      closed.connectionEvent(c, up, at);
    },
  };
}
