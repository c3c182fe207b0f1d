/**
 * A stream's API requests (`$JS.API.STREAM.INFO.<stream>` and the like) reach every server, and only the
 * stream's leader answers. While the leadership moves, a request could be answered by nobody: the new leader
 * took it while it still believed the old one leads, and the old one took it once it no longer led (a slow
 * route to it makes that window as long as the route's delay). nats-server stays silent then too; Petrel now
 * answers:
 * - a server that led the stream until a moment ago (PASS_ON_MS) passes each request it gets for it to the
 *   leader it knows, or keeps it until one is known (`$JSC.FWDA.<peer>`, forward.ts's framing); only until the
 *   leadership moves on again (a second leader after it): then its successor passes them on, and two old leaders
 *   passing on the same request made the new leader answer it twice;
 * - a leader that is not ready yet (applying its log) keeps requests and answers them once ready;
 * - a leader takes one copy of a request that came both directly and passed on (RepeatFilter, by subject,
 *   reply and content: every request has its own reply inbox).
 * A request that was passed on to a server that does not lead (its sender's view of the leader was a step
 * behind, or the leadership moved again) is passed on again or kept there the same way, at most MAX_HOPS
 * passes in all (forward.ts); any other server that does not lead leaves a request to the stream's leader.
 *
 * "Led until a moment ago" starts when the Raft node stops leading, not when its owner hears of it: the owner
 * hears in the group's next flush (a microtask), and a request read in the same chunk as the message that
 * ended the leadership (the successor's vote request), or in another connection's read finished in the same
 * turn (Deno runs those before the microtasks either queues), came in between and was dropped.
 *
 * A request is kept at most MAX_HELD_MS: one kept longer (a long loss of quorum) is dropped when a leader is known
 * or ready (or on the owner's tick), never run late — a create or delete done minutes after its client gave up.
 *
 * A passed-on copy can reach the leader before the requester's server's own, and so before the interest in the
 * request's reply that travels just ahead of that copy (a fresh inbox: a client's first request). Answered by
 * interest then, the answer went to nobody and the direct copy, when it came, was taken for a repeat. The leader
 * now answers such a copy back through the server that first passed it on (answer_back.ts), as nats-server sends
 * the answer to a request that crossed a gateway back to the server it came through.
 */
import type { PeerId } from "../../raft/types.ts";
import type { BusMsg } from "../types.ts";
import { MAX_HOPS } from "./forward.ts";

export const FORWARD_API_PREFIX = "$JSC.FWDA.";
/** How long after it stopped leading a server passes a stream's API requests on. */
export const PASS_ON_MS = 2_000;
/** At most this many requests kept per stream while no leader is known or ready. */
const MAX_HELD = 1_000;
/**
 * How long a request is kept for a leader. The official clients give up on a JetStream API request after 5 s by
 * default (nats.js `JetStreamOptions.timeout`, nats.go `DefaultAPITimeout`; the `nats` CLI the same): one kept
 * longer has nobody waiting for its answer, and running it then would change the stream behind its client's back
 * (the client, told "timeout", may already have retried or given up). Counted from when this server kept it, so a
 * request that waited on a hop before is kept a little longer than its client waits, never less.
 */
export const MAX_HELD_MS = 5_000;

interface Held {
  m: BusMsg;
  at: number;
}

export class ApiPassOn {
  readonly #ledUntil = new Map<string, number>();
  /** Streams this server leads as far as it was told (roleChanged): asked while not leading, it just stopped. */
  readonly #leading = new Set<string>();
  readonly #held = new Map<string, Held[]>();
  /** The first leader known after this server stopped leading (while it passes requests on). */
  readonly #successor = new Map<string, PeerId>();

  /** `forward`: to the leader's server; `answer`: through this server's engine (it leads and is ready). */
  constructor(
    readonly forward: (key: string, leader: PeerId, m: BusMsg) => void,
    readonly answer: (key: string, m: BusMsg) => void,
  ) {}

  /** This server started leading stream `key`. */
  startedLeading(key: string): void {
    this.#leading.add(key);
  }

  /** This server stopped leading stream `key` at `now`. */
  stoppedLeading(key: string, now: number): void {
    this.#leading.delete(key);
    this.#ledUntil.set(key, now + PASS_ON_MS);
    this.#successor.delete(key);
  }

  /**
   * Does this server pass `m` on (it led the stream until a moment ago, or `m` was passed here already and may
   * go on)? A request that came directly to a server that never led is answered by the leader's own copy.
   * Asked only while this server does not lead the stream.
   */
  passesOn(key: string, m: BusMsg, now: number): boolean {
    if (m.forwarded === true) return mayGoOn(m);
    // Stopped leading, and not told yet: from now on.
    if (this.#leading.has(key)) this.stoppedLeading(key, now);
    const until = this.#ledUntil.get(key);
    if (until === undefined) return false;
    if (now > until) {
      this.#ledUntil.delete(key);
      return false;
    }
    return true;
  }

  /** Keep `m` (at `now`) until the stream has a leader (passed on to it) or this server leads it ready (answered here). */
  hold(key: string, m: BusMsg, now: number): void {
    let q = this.#held.get(key);
    if (q === undefined) this.#held.set(key, q = []);
    if (q.length < MAX_HELD) q.push({ m, at: now });
  }

  /** Stream `key` is led by `leader` now: what waits here goes there (or waits for this server to be ready). */
  leaderIs(key: string, leader: PeerId, self: PeerId, now: number): void {
    if (leader === self) return;
    if (this.#ledUntil.has(key)) {
      const first = this.#successor.get(key);
      if (first === undefined) this.#successor.set(key, leader);
      else if (first !== leader) {
        // The leadership moved on again: the server that led after this one passes on what reaches it late now.
        // Both passing the same request on, the leader took it twice (once with its direct copy, once not).
        this.#ledUntil.delete(key);
        this.#successor.delete(key);
      }
    }
    for (const m of this.#take(key, now)) if (m.forwarded !== true || mayGoOn(m)) this.forward(key, leader, m);
  }

  /** This server leads stream `key` and is ready: it answers what waited. */
  ready(key: string, now: number): void {
    for (const m of this.#take(key, now)) this.answer(key, m);
  }

  /** Drops what has waited longer than MAX_HELD_MS, for every stream (the owner's tick). */
  expire(now: number): void {
    for (const [key, q] of this.#held) {
      const fresh = q.filter((h) => !stale(h, now));
      if (fresh.length === 0) this.#held.delete(key);
      else if (fresh.length < q.length) this.#held.set(key, fresh);
    }
  }

  /** What waits for stream `key` and is still fresh, no longer kept. */
  #take(key: string, now: number): BusMsg[] {
    const q = this.#held.get(key);
    if (q === undefined) return [];
    this.#held.delete(key);
    return q.filter((h) => !stale(h, now)).map((h) => h.m);
  }

  forget(key: string): void {
    this.#leading.delete(key);
    this.#ledUntil.delete(key);
    this.#successor.delete(key);
    this.#held.delete(key);
  }
}

/** Kept longer than its client waits for an answer. */
function stale(h: Held, now: number): boolean {
  return now - h.at > MAX_HELD_MS;
}

/** A passed-on request may be passed on once more (bounded: two stale views cannot bounce it for ever). */
function mayGoOn(m: BusMsg): boolean {
  return (m.hops ?? 1) < MAX_HOPS;
}
