/**
 * Placement that waits for peers not heard from yet. A server that has just (re)started can lead the meta group
 * (elected, or handed the leadership) before any hello of its peers got through: they are unknown to it, not
 * offline, and nats-server (which learns its peers from the routes themselves) would place on them. A create
 * that finds too few peers while a voter is still unheard waits here, bounded, and is tried again as soon as
 * one is heard, or once more (and then answered, with the error if still short) when the bound is reached.
 */

/**
 * Is a meta voter unheard? Never heard since this server started (a restart), or, for a leader elected less than
 * `offlineMs` ago, heard last before it became leader and long enough ago to count as offline: the server
 * restarted in a previous step may have said its last hello to the old leader, and a just-elected leader, as
 * nats-server's, does not take a peer for offline before it had a chance to hear it (its hellos go out every
 * 250 ms while a voter is unheard, and a peer that is not in a hello's `seen` answers at once).
 * `leaderSince`: when this server became the meta leader (0: it does not lead).
 */
export function voterUnheard(
  voters: readonly string[],
  self: string,
  lastSeen: (name: string) => number | undefined,
  now: number,
  leaderSince: number,
  offlineMs: number,
): boolean {
  const fresh = leaderSince > 0 && now - leaderSince < offlineMs;
  return voters.some((v) => {
    if (v === self) return false;
    const seen = lastSeen(v);
    if (seen === undefined) return true;
    return fresh && seen < leaderSince && now - seen >= offlineMs;
  });
}

/** Longer than a peer's periodic hello (2 s): a live peer is heard within it once the routes are up. */
export const UNHEARD_WAIT_MS = 2_500;

interface Waiting {
  readonly until: number;
  /** `last`: the bound was reached; the retry answers instead of waiting again. */
  readonly retry: (last: boolean) => void;
}

export class UnheardWaits {
  #waiting: Waiting[] = [];

  wait(now: number, retry: (last: boolean) => void): void {
    this.#waiting.push({ until: now + UNHEARD_WAIT_MS, retry });
  }

  /** A peer was heard for the first time (or again, after counting as offline): every waiting create is tried again (it may wait again). */
  heard(): void {
    const all = this.#waiting;
    this.#waiting = [];
    for (const w of all) w.retry(false);
  }

  /** Those past their bound are tried one last time. */
  sweep(now: number): void {
    if (this.#waiting.length === 0) return;
    const due = this.#waiting.filter((w) => w.until <= now);
    if (due.length === 0) return;
    this.#waiting = this.#waiting.filter((w) => w.until > now);
    for (const w of due) w.retry(true);
  }

  get size(): number {
    return this.#waiting.length;
  }
}
