/**
 * What a JetStream cluster answers while a group has no leader (an election, or no quorum). nats-server 2.9
 * answers the API then with 503 / 10008 "JetStream system temporarily unavailable" in the request's response
 * shape (observed on a 3-node 2.9.10 cluster with two nodes killed: stream create, names, list, delete, consumer
 * create, msg get and account info all get it; stream info is answered by a replica with its own state and no
 * `leader`; a publish finds no responders). So that a request is answered once and not by every server that
 * hears it, one server answers: the lowest-named of those that could (`designatedResponder`).
 */
import { disabledResponse } from "../disabled.ts";
import { Errors } from "../errors.ts";

type Json = Record<string, unknown>;

/** The one of `candidates` (server names, `self` among them when it may answer) that answers. */
export function designatedResponder(candidates: readonly string[], self: string): string {
  let low = self;
  for (const c of candidates) if (c < low) low = c;
  return low;
}

/** The "temporarily unavailable" answer for an API subject, or undefined where nats-server stays silent. */
export function unavailableResponse(subject: string): Json | undefined {
  const r = disabledResponse(subject);
  if (!r) return undefined;
  return { ...r, error: Errors.clusterNotAvailable() };
}

/**
 * How long the meta group and each stream group have had no leader, as the server's tick sees them. A normal
 * election (a leader stopped or stepped down) ends well within `LEADERLESS_GRACE_MS`; until then requests wait
 * for the new leader (nats-server's followers likewise still forward to the old leader until their election
 * timeout), and only a group leaderless for longer gets the "unavailable" answer.
 */
export const LEADERLESS_GRACE_MS = 1_500;

export class LeaderlessSince {
  /** Per group: when it was first seen without a leader, and the latest tick that saw it so before this one. */
  readonly #since = new Map<string, { since: number; last: number; prev: number }>();

  /** Records whether group `key` has a leader now (a tick's view). */
  note(key: string, hasLeader: boolean, now: number): void {
    if (hasLeader) {
      this.#since.delete(key);
      return;
    }
    const s = this.#since.get(key);
    if (s === undefined) this.#since.set(key, { since: now, last: now, prev: now });
    else {
      s.prev = s.last;
      s.last = now;
    }
  }

  /** True once group `key` has had no leader for the grace period (as of `now`: the caller saw it leaderless now). */
  unavailable(key: string, now: number): boolean {
    const s = this.#since.get(key);
    return s !== undefined && now - s.since >= LEADERLESS_GRACE_MS;
  }

  /**
   * The same for a tick's own view: leaderless for the grace period as of the tick before the latest. A tick is a
   * timer, and a process that was stalled (starved of CPU, a long collection) runs its due timers before the input
   * that came meanwhile: the first tick after a stall still sees the view from before it. Judged by that tick alone,
   * an election in progress when the stall began (a few ms without a leader) counted as the whole stall without
   * one, and the stream stopped taking publishes for a tick (a client's publish then found no responders:
   * "jetstream is not enabled", ops_sigusr2 at the lame duck's exit, on a loaded machine). A later tick has seen
   * the input in between.
   */
  unavailableAsOfTicks(key: string): boolean {
    const s = this.#since.get(key);
    return s !== undefined && s.prev - s.since >= LEADERLESS_GRACE_MS;
  }

  forget(key: string): void {
    this.#since.delete(key);
  }
}
