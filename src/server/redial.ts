/**
 * The one dial/backoff loop of server-to-server links (routes, gateways, leafnode remotes): one pending dial per
 * peer (scheduling again replaces it), a count of failed attempts, and the delay before the next try growing
 * from `minMs` to `maxMs` (doubling) unless the peer's policy fixes it. The managers decide when to dial; this
 * keeps the timer and the count in one place. The timer is a light one: on Deno a runtime setTimeout loads Node's
 * timer layer for good (+2-3 MB; light_timers.ts); it need not keep the process alive (the server's listeners do).
 */
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

export interface RedialPolicy {
  readonly minMs: number;
  readonly maxMs: number;
}

/** Routes and gateways: 50 ms, doubling, at most a second. */
export const LINK_BACKOFF: RedialPolicy = { minMs: 50, maxMs: 1000 };

/** The delay before attempt `attempt` (1-based) under `policy`. */
export function backoff(attempt: number, policy: RedialPolicy = LINK_BACKOFF): number {
  return Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, attempt - 1));
}

export class Redial {
  readonly #dial: () => void;
  readonly #policy: RedialPolicy;
  #timer: Timer | undefined;
  #delayMs: number | undefined;
  #stopped = false;
  /** Failed (or not yet successful) attempts since the last success. */
  attempts = 0;

  constructor(dial: () => void, policy: RedialPolicy = LINK_BACKOFF) {
    this.#dial = dial;
    this.#policy = policy;
  }

  /** Is a dial waiting for its timer? */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** The delay the pending dial was scheduled with (undefined when none is pending). */
  get delayMs(): number | undefined {
    return this.#timer === undefined ? undefined : this.#delayMs;
  }

  /** Dial after `delayMs`, replacing a pending dial. */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#delayMs = delayMs;
    this.#timer = lightTimeout(delayMs, () => {
      this.#timer = undefined;
      if (!this.#stopped) this.#dial();
    });
  }

  /** Dial again after the backoff for the attempts so far (`jitterMs` adds up to that much at random). */
  retry(jitterMs = 0): void {
    this.schedule(backoff(Math.max(1, this.attempts), this.#policy) + (jitterMs > 0 ? Math.floor(Math.random() * jitterMs) : 0));
  }

  /** The link is up: the next failure starts the backoff over. */
  succeeded(): void {
    this.attempts = 0;
  }

  /** No more dials (the server stops). */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
