/**
 * What a route connection needs from the cluster that owns it. Kept as an interface so route.ts does not
 * depend on the manager (and tests can drive a route alone).
 */
import type { Logger } from "../log/logger.ts";
import type { Server } from "../server/server.ts";
import type { RouteConnect, RouteInfo } from "./protocol.ts";
import type { RouteConn } from "./route.ts";

export interface RouteHost {
  readonly server: Server;
  readonly logger: Logger;
  /** The cluster name now (a dynamic name may change once, to the peer's). */
  readonly clusterName: string;
  /** The route INFO line this server sends (JSON, without "INFO "). */
  routeInfoJson(): string;
  /** The CONNECT line (JSON) for a route this server solicited. */
  routeConnectJson(route: RouteConn): string;
  /** Check an accepted route's CONNECT: credentials and cluster name. A string is the reason to refuse. */
  checkConnect(route: RouteConn, c: RouteConnect): string | undefined;
  /** The peer's first INFO: register the route (false = refused: duplicate, self, wrong cluster). */
  register(route: RouteConn, info: RouteInfo): boolean;
  /** A later INFO from a registered route: gossip about another server, or updated client URLs. */
  asyncInfo(route: RouteConn, info: RouteInfo): void;
  routeClosed(route: RouteConn): void;
  /** Local interest to announce on a newly registered route, as RS+ lines. */
  localInterest(): Iterable<{ account: string; subject: string; queue: string | undefined; weight: number }>;
}
