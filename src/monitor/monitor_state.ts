/**
 * What monitoring must count from the server's start: each account's traffic (connections that closed take theirs
 * with them) and the recently closed connections. The endpoints that read it (endpoints.ts, with /connz, /varz,
 * /subsz, /accountz...) are loaded on first use; a server nobody monitors never loads them.
 */
import type { Server } from "../server/server.ts";
import { AccountStats } from "./account_stats.ts";
import { ClosedConnections } from "./closed_connections.ts";

export interface MonitorState {
  readonly accountStats: AccountStats;
  readonly closed: ClosedConnections;
}

/** Create it once per server, before it accepts connections: it starts listening to them. */
export function createMonitorState(s: Server): MonitorState {
  return { accountStats: new AccountStats(s), closed: new ClosedConnections(s) };
}
