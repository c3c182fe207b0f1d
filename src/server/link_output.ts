/**
 * The one outbound path of every server-to-server link (route, gateway, leafnode): a message is framed once
 * per peer (see RouteOutbox), counted, and the flush scheduled; one slow-consumer policy for all three: a peer
 * that falls behind holds back the client publishing to it (as nats-server stalls fast producers) and one
 * whose backlog passes the limit is cut as a slow consumer.
 */
import type { RouteOutbox } from "../cluster/outbox.ts";
import type { Logger } from "../log/logger.ts";
import type { ServerStats } from "./client_host.ts";
import type { FlowConsumer, Producer } from "./flow.ts";
import type { RoutedMsg } from "./types.ts";
import { payloadSize } from "./local_msg.ts";
import type { WireConn } from "./wire_conn.ts";

/** Links carry many clients' traffic: they get more room than a client before being cut. */
export const LINK_MAX_PENDING = 512 * 1024 * 1024;
/**
 * Backlog at which a link stalls the publisher feeding it. Past what the kernel's send buffer takes, a backlog is
 * only memory: at 4 MiB the publisher's node of cluster-pubsub-1k held 4 MiB of lent output buffers at each peak,
 * more than the process-wide buffer pool keeps (buffer_pool.ts), so every cycle of the backlog allocated fresh
 * 128 KiB buffers and dropped as many (Deno: ~110 MB/s of them, the node at 134–141 MB RSS; 88–94 MB at 1 MiB,
 * delivered rate within noise).
 */
export const LINK_STALL_AT = 1024 * 1024;
/**
 * A stalled publisher goes on once the link's backlog is under this (see FlowConsumer.caughtUp): resuming the
 * moment it dipped under LINK_STALL_AT would stall it again after one slice of its input.
 */
export const LINK_RESUME_AT = LINK_STALL_AT / 2;

export interface LinkStats {
  out_msgs: number;
  out_bytes: number;
}

/** What the output needs of the server: its counters, the publisher being routed, the log, write_deadline. */
export interface LinkServer {
  readonly stats: ServerStats;
  readonly logger: Logger;
  readonly currentProducer: Producer | undefined;
  readonly options: { readonly write_deadline: number };
}

export class LinkOutput implements FlowConsumer {
  readonly #wire: WireConn;
  readonly #outbox: RouteOutbox;
  readonly #stats: LinkStats;
  readonly #server: LinkServer;
  /** "route", "gateway", "leafnode": named in the slow consumer log line. */
  readonly #kind: string;
  /** A producer already waited a whole stall for this link; don't stall anyone until it catches up. */
  stallExhausted = false;
  /** Only clients wait for a link (see FlowConsumer.link). */
  readonly link = true;
  /**
   * A publisher waits for a link up to the write deadline, not a client's short stall: a route carries every
   * subscriber of the peer, and a link is never cut for a fast publisher (nats-server's routes are not either).
   */
  readonly stallCapMs: number;

  constructor(wire: WireConn, outbox: RouteOutbox, stats: LinkStats, server: LinkServer, kind: string) {
    this.#wire = wire;
    this.#outbox = outbox;
    this.#stats = stats;
    this.#server = server;
    this.#kind = kind;
    this.stallCapMs = server.options.write_deadline;
  }

  /** Queue `msg` of `account` for the peer (for queue group `queue`, or a plain subscription). */
  send(msg: RoutedMsg, queue: Uint8Array | undefined, account: Uint8Array | undefined): void {
    if (!this.#outbox.add(msg, queue, account)) return;
    const n = payloadSize(msg);
    this.#stats.out_msgs++;
    this.#stats.out_bytes += n;
    const st = this.#server.stats;
    st.out_msgs++;
    st.out_bytes += n;
    if (this.#wire.out.len > LINK_MAX_PENDING) {
      this.#server.logger.info(`${this.#wire.label()} - Slow Consumer Detected (${this.#kind})`);
      st.slow_consumers++;
      this.#wire.drop("Slow Consumer");
      return;
    }
    this.#wire.flushSoon();
    if (!this.stallExhausted && this.isBehind()) this.#server.currentProducer?.stallFor(this);
  }

  #drainWaiters: Array<() => void> = [];

  whenDrained(wake: () => void): void {
    if (!this.#drainWaiters.includes(wake)) this.#drainWaiters.push(wake);
  }

  /** The link's transport handed everything to the OS: producers waiting for it go on at once. */
  drained(): void {
    if (this.#drainWaiters.length === 0) return;
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  /**
   * The transport wrote a batch: publishers held for this link go on once it is under LINK_RESUME_AT, not when it
   * is empty (drained) or at their next 2 ms re-check, by when a 1 MiB backlog has run dry at ~500 MB/s.
   */
  written(): void {
    if (this.#drainWaiters.length === 0 || this.#wakeQueued || !this.caughtUp()) return;
    // Not inside the transport's write loop (the wake parses held input): right after it.
    this.#wakeQueued = true;
    queueMicrotask(this.#wake);
  }

  #wakeQueued = false;
  readonly #wake = (): void => {
    this.#wakeQueued = false;
    this.drained();
  };

  /** After a flush: a link that caught up may stall producers again. */
  flushed(): void {
    if (this.stallExhausted && this.#wire.duplex.bufferedAmount() < LINK_STALL_AT / 2) this.stallExhausted = false;
  }

  isClosed(): boolean {
    return this.#wire.state === "closed";
  }

  backlog(): number {
    return this.#wire.out.len + this.#wire.duplex.bufferedAmount();
  }

  caughtUp(): boolean {
    return this.backlog() < LINK_RESUME_AT;
  }

  isBehind(): boolean {
    return this.backlog() > LINK_STALL_AT;
  }
}
