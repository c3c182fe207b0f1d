/**
 * What /connz shows of a connection (a snapshot), and the most recently closed connections, frozen as they closed.
 * Kept from the start (a closed connection is recorded when it goes); /connz itself (connz.ts) loads on first use.
 */
import type { ClientConn } from "../server/client.ts";
import { accountOfClient } from "./accounts_view.ts";

/** What /connz reports of a connection: read from a live client, or frozen when it closed. */
export interface ConnSnapshot {
  cid: number;
  type: string;
  ip: string;
  port: number;
  start: number;
  lastActivity: number;
  /** Closed connections only. */
  stop?: number;
  reason?: string;
  rttMs: number;
  pending: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  subs: Array<{ subject: string; queue?: string; sid: string; delivered: number; max: number }>;
  name: string;
  lang: string;
  version: string;
  user?: string;
  /** Undefined for a connection that never authenticated (nats-server reports no account for it). */
  account?: string;
  tls?: { version: string; cipher: string };
}

export function snapshotOf(c: ClientConn, closed?: { stop: number; reason: string; authenticated: boolean }): ConnSnapshot {
  const i = c.duplex.info;
  const snap: ConnSnapshot = {
    cid: c.cid,
    type: i.kind === "ws" ? "websocket" : "nats",
    ip: i.remoteHost,
    port: i.remotePort,
    start: c.start.getTime(),
    lastActivity: c.lastActivity,
    rttMs: c.rttMs,
    pending: closed !== undefined ? 0 : c.duplex.bufferedAmount() + c.out.len,
    in_msgs: c.stats.in_msgs,
    out_msgs: c.stats.out_msgs,
    in_bytes: c.stats.in_bytes,
    out_bytes: c.stats.out_bytes,
    subs: [...c.subs.values()].map((x) => ({ subject: x.subject, queue: x.queue, sid: x.sid, delivered: x.delivered, max: x.max })),
    // A connection whose CONNECT failed authentication still shows what it claimed (as nats-server does).
    name: c.name !== "" ? c.name : c.connectOptions?.name ?? "",
    lang: c.lang !== "" ? c.lang : c.connectOptions?.lang ?? "",
    version: c.version !== "" ? c.version : c.connectOptions?.version ?? "",
    user: c.user ?? c.connectOptions?.user,
    account: closed === undefined || closed.authenticated ? accountOfClient(c) : undefined,
  };
  if (i.tls !== undefined) snap.tls = { version: i.tls.version, cipher: i.tls.cipher };
  if (closed !== undefined) {
    snap.stop = closed.stop;
    snap.reason = closed.reason;
  }
  return snap;
}

/** The most recently closed connections (nats-server keeps 10000), for `/connz?state=closed`. */
export class ClosedConnections {
  readonly #ring: ConnSnapshot[] = [];
  readonly #capacity: number;
  readonly #authenticated = new WeakSet<ClientConn>();
  #next = 0;

  /** Told of connections by its owner (monitor_state.ts). */
  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /**
   * A client came up (CONNECT done) or went, at `at` (ms). A closed client's fields no longer change (its
   * subscriptions stay listed on it), so a close handed over later is recorded as it was.
   */
  connectionEvent(c: ClientConn, up: boolean, at: number): void {
    if (up) {
      this.#authenticated.add(c);
      return;
    }
    const reason = c.closeReason !== "" ? c.closeReason : "Client Closed";
    this.#add(snapshotOf(c, { stop: at, reason, authenticated: this.#authenticated.has(c) }));
  }

  #add(snap: ConnSnapshot): void {
    // A ring: once full, the oldest entry is overwritten (no shifting of 10000 entries per close).
    if (this.#ring.length < this.#capacity) this.#ring.push(snap);
    else this.#ring[this.#next] = snap;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** Oldest first. */
  list(): ConnSnapshot[] {
    if (this.#ring.length < this.#capacity) return [...this.#ring];
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
