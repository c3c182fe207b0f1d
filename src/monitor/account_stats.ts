/**
 * Per-account traffic counters for /accstatz and `$SYS.REQ.ACCOUNT.<acc>.STATZ`: what closed connections
 * carried is kept here when they go, and added to what the live connections of the account carry now.
 */
import type { ClientConn } from "../server/client.ts";
import type { Server } from "../server/server.ts";
import { accountOfClient, accountOfOwner, clientsOf, GLOBAL_ACCOUNT } from "./accounts_view.ts";

export interface DataStats {
  msgs: number;
  bytes: number;
}

/** One account's entry in nats-server's account_statz list. */
export interface AccountStat {
  acc: string;
  conns: number;
  leafnodes: number;
  total_conns: number;
  sent: DataStats;
  received: DataStats;
  slow_consumers: number;
}

interface Tally {
  /** Delivered to the account's connections. */
  sent: DataStats;
  /** Published by the account's connections. */
  received: DataStats;
  slow_consumers: number;
}

export class AccountStats {
  readonly #closed = new Map<string, Tally>();
  /** Connected clients by account, so one account's numbers cost its own connections only. */
  readonly #live = new Map<string, Set<ClientConn>>();
  readonly #joined = new Map<ClientConn, string>();
  readonly #server: Server;

  /** Told of connections by its owner (monitor_state.ts). */
  constructor(server: Server) {
    this.#server = server;
  }

  /** A client came up (CONNECT done) or went. */
  connectionEvent(c: ClientConn, up: boolean): void {
    if (up) this.#join(c);
    else this.#retire(c);
  }

  #join(c: ClientConn): void {
    const account = accountOfClient(c);
    const before = this.#joined.get(c);
    if (before === account) return;
    // A second CONNECT may bind the client to another account.
    if (before !== undefined) this.#live.get(before)?.delete(c);
    this.#joined.set(c, account);
    let set = this.#live.get(account);
    if (set === undefined) {
      set = new Set();
      this.#live.set(account, set);
    }
    set.add(c);
  }

  /** The account's connections now: `$G` also holds clients that have not sent CONNECT yet. */
  #clients(account: string): Iterable<ClientConn> {
    if (account === GLOBAL_ACCOUNT) return clientsOf(this.#server, account);
    return this.#live.get(account) ?? [];
  }

  #retire(c: ClientConn): void {
    const joined = this.#joined.get(c);
    if (joined !== undefined) {
      this.#joined.delete(c);
      this.#live.get(joined)?.delete(c);
    }
    const t = this.#tally(accountOfClient(c));
    t.sent.msgs += c.stats.out_msgs;
    t.sent.bytes += c.stats.out_bytes;
    t.received.msgs += c.stats.in_msgs;
    t.received.bytes += c.stats.in_bytes;
    if (c.closeReason === "Slow Consumer") t.slow_consumers++;
  }

  #tally(account: string): Tally {
    let t = this.#closed.get(account);
    if (t === undefined) {
      t = { sent: { msgs: 0, bytes: 0 }, received: { msgs: 0, bytes: 0 }, slow_consumers: 0 };
      this.#closed.set(account, t);
    }
    return t;
  }

  /** The account's counters now: closed connections plus the live ones (internal clients included). */
  stat(account: string, leafnodes = 0): AccountStat {
    const closed = this.#closed.get(account);
    const sent = { msgs: closed?.sent.msgs ?? 0, bytes: closed?.sent.bytes ?? 0 };
    const received = { msgs: closed?.received.msgs ?? 0, bytes: closed?.received.bytes ?? 0 };
    let conns = 0;
    for (const c of this.#clients(account)) {
      conns++;
      sent.msgs += c.stats.out_msgs;
      sent.bytes += c.stats.out_bytes;
      received.msgs += c.stats.in_msgs;
      received.bytes += c.stats.in_bytes;
    }
    for (const ic of this.#server.internals.values()) {
      if (accountOfOwner(ic) !== account) continue;
      // An internal client's deliveries are what the account was sent; its publishes, what it sent in.
      sent.msgs += ic.stats.in_msgs;
      sent.bytes += ic.stats.in_bytes;
      received.msgs += ic.stats.out_msgs;
      received.bytes += ic.stats.out_bytes;
    }
    return {
      acc: account,
      conns,
      leafnodes,
      total_conns: conns + leafnodes,
      sent,
      received,
      slow_consumers: closed?.slow_consumers ?? 0,
    };
  }
}
