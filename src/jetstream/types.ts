import type { Clock } from "../runtime/clock.ts";
import type { FlowConsumer } from "../server/flow.ts";
import type { AccountLimits } from "./limits.ts";

/**
 * The engine's view of the server: a tiny bus it subscribes and publishes on. The server's internal client
 * (`server.createInternalClient("$JS")`) satisfies it; tests use an in-process bus.
 */

export interface BusMsg {
  subject: string;
  reply?: string;
  /** Raw `NATS/1.0...\r\n\r\n` block. */
  headers?: Uint8Array;
  payload: Uint8Array;
  /** Published on this server (not brought by a route or gateway): set by the server's internal client. */
  local?: boolean;
  /** Brought by a route (another server of this cluster sent it here by the interest it knew). */
  viaRoute?: boolean;
  /** Passed on by a stream's old leader to this one (see cluster/forward.ts). */
  forwarded?: boolean;
  /** How many times a forwarded publish was passed on (a stale view of the leader passes it on again, bounded). */
  hops?: number;
  /**
   * A forwarded message: the server that first passed it on (the interest in its reply reached that server ahead
   * of it; an answer the leader cannot send by interest goes back through it, answer_back.ts).
   */
  origin?: string;
  /** A publish a stream's old leader sends again (stream_replica.ts): taken only in its original order. */
  resend?: ResendMark;
  /** The old leader of a hand-off has passed on everything it held: its successor takes its direct publishes now. */
  handoffEnd?: true;
}

/**
 * Where a re-sent publish belongs: the `k`-th (from 0) of the publishes one server sends again together (`chain`),
 * in the order it first took them; the first is taken only while the leader's last sequence is `after`, each
 * next one only right after the one before it.
 */
export interface ResendMark {
  chain: string;
  k: number;
  after: number;
}

export interface PublishOpts {
  reply?: string;
  headers?: Uint8Array;
  /**
   * Route to subscribers of this subject while the message keeps `subject` (JetStream deliveries: the client
   * sees the stored message's subject on its inbox or deliver subject).
   */
  deliverTo?: string;
}

export interface JsBus {
  /**
   * `local: false` announces the subscription to routes and leafnode links even when the engine's others stay
   * on this server (a mirror's feed listens for an origin elsewhere). `interest: true` makes it a listener for
   * `hasInterest` although it is the engine's own (a feed's deliver subject, its origin may be on this server).
   *
   * `borrow: true`: the handler keeps neither the message nor its byte views once it returns (it copies what it
   * keeps), so the bus may hand over one reused message whose bytes are views valid during the call only.
   */
  subscribe(
    subject: string,
    handler: (msg: BusMsg) => void,
    opts?: { queue?: string; local?: boolean; interest?: boolean; borrow?: boolean },
  ): number;
  unsubscribe(sid: number): void;
  publish(subject: string, payload: Uint8Array, opts?: PublishOpts): void;
  /** Optional: is anyone subscribed to `subject`? Lets ephemeral push consumers go away with their subscriber. */
  hasInterest?(subject: string): boolean;
  /**
   * Optional: calls `fn` with the subject of every new subscription (push consumers start on interest), or with
   * undefined for a new subscription in an account that imports from this one (its subject space differs).
   */
  onSubscribe?(fn: (subject: string | undefined) => void): void;
  /**
   * Optional: calls `done` once the subscriptions made so far are known where a message this server sends next
   * may arrive first (another cluster: a gateway hears this cluster's interest through any of its servers).
   * `cluster: true`: also on every server of this cluster (an answer after which its requester may publish
   * through any of them, such as a stream create's).
   */
  afterInterestSpread?(done: () => void, cluster?: boolean): void;
  /**
   * Optional: does another server of this cluster listen to `subject` (a route carries interest in it, as a
   * stream's leader announces its subjects)? A publish here went there too when it does.
   */
  routeInterest?(subject: string): boolean;
  /**
   * Optional: the client whose publish is being delivered right now waits for `consumer` to catch up (flow.ts, as
   * for a slow subscriber). A stream leader asks it while too many bytes of proposals wait for their commit. The
   * reader of a route, gateway or leafnode link is not held (the commits it waits for come over the routes).
   */
  holdPublisher?(consumer: FlowConsumer): void;
}

/** The subset of the server's `jetstream {}` options the engine reads, and the account it serves. */
export interface EngineOptions {
  /** The account this engine serves; `$G` by default. */
  account?: string;
  /** The account's JetStream limits; unlimited by default. */
  limits?: AccountLimits;
  /**
   * Bytes reserved by streams' `max_bytes` in the server's other accounts, on memory or file storage: the
   * server's `max_*_store` caps the sum over all accounts.
   */
  reservedElsewhere?: (memory: boolean) => number;
  domain?: string;
  max_memory_store?: number;
  max_file_store?: number;
  /** Used in API responses (`cluster.leader`) and /jsz. */
  server_name?: string;
  server_id?: string;
  store_dir?: string;
  /** Clock, for tests (prefer `clock`). */
  now?: () => number;
  /** Time and timers for consumer deadlines; tests inject a ManualClock. Default: the runtime's. */
  clock?: Clock;
}
