/** What a leafnode connection needs from the leafnode manager. */
import type { Account } from "../accounts/account.ts";
import type { Logger } from "../log/logger.ts";
import type { Server } from "../server/server.ts";
import type { LeafConn } from "./conn.ts";
import type { LeafConnect, LeafInfo } from "./protocol.ts";

export interface LeafInterest {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Subscriptions behind it: the queue weight for a queue group. */
  count: number;
}

export interface LeafHost {
  readonly server: Server;
  readonly logger: Logger;
  /** `$LDS.<id>`: this server's loop-detection subject. */
  readonly ldsSubject: string;
  /** `connected`: the INFO that acknowledges the leaf's CONNECT. */
  infoJson(c: LeafConn, connected?: boolean): string;
  /** The CONNECT a leaf sends its hub (credentials of the remote `c` was dialed for, the nonce signed). */
  connectJson(c: LeafConn, info: LeafInfo): string;
  /** A hub checks a leaf's CONNECT: the account the link is bound to, or undefined to refuse it. */
  authorize(c: LeafConn, connect: LeafConnect): Account | undefined;
  /** The handshake completed; false when the connection was refused (and closed). */
  register(c: LeafConn, peer: LeafConnect | LeafInfo): boolean;
  /** The interest to announce to `c` on connect: everything here but `c`'s own. */
  interestFor(c: LeafConn): LeafInterest[];
  leafClosed(c: LeafConn): void;
  /** The leaf side, on the hub's INFO: upgrade to TLS when required; false when the connection is closing. */
  startLeafTls?(c: LeafConn, hubRequires: boolean): boolean;
}
