/**
 * Time for the core: one injected clock that reads the time and schedules callbacks. Production uses
 * `runtimeClock` (Date.now + setTimeout, available in every runtime); tests and the simulator use `ManualClock`
 * and move time themselves, so deadlines (ack waits, backoff, expiry, heartbeats) are tested without sleeping.
 *
 * Rules for users: read time only through `now()`, schedule only through `after()`, and treat a callback as
 * "at least this late" (a runtime timer may fire a little early or late: check the deadline again when it runs).
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now (0 or less: as soon as possible, never synchronously). */
  after(ms: number, fn: () => void): Timer;
  /**
   * Calls `fn` once on the next turn of the event loop: after the current task's microtasks (the flushes it
   * queued) and pending I/O, without a timer's minimum delay (a 0 ms setTimeout waits ~1 ms on Bun, ~2.5 ms on
   * Deno here). For cooperative yields inside a long piece of work, never for waiting on time.
   */
  soon(fn: () => void): Timer;
}

/**
 * Whether UTC times are written with Date's own methods (src/runtime/utc_text.ts): a runtime adapter whose Date
 * formatting costs less than utc_text's arithmetic sets it (Bun). The switch lives here, a module every start loads,
 * so that setting it does not load the formatting code, which only monitoring runs: on Bun it was a module of
 * every plain start (~0.5-0.9 ms of CPU; bench/RESULTS.md, `start6`).
 */
export let runtimeDateText = false;

/** For a runtime whose Date formatting is cheaper than utc_text's arithmetic (Bun). */
export function useRuntimeDateText(): void {
  runtimeDateText = true;
}

type Immediate = (fn: () => void) => unknown;
interface Immediates {
  set: Immediate;
  clear: (h: unknown) => void;
}
/**
 * setImmediate is a global of Bun, Deno 2 and Node (not a web API): used when present, a 0 ms timer if not.
 * Looked up on the first `soon()`, not at import: on Deno the first read of `globalThis.setImmediate` loads
 * the Node timers compatibility layer, +3.9 MB RSS for the life of the process, which an idle server (nothing
 * held back yet) should not pay.
 */
let immediates: Immediates | undefined | null = null;
function runtimeImmediates(): Immediates | undefined {
  if (immediates === null) {
    const g = globalThis as { setImmediate?: Immediate; clearImmediate?: (h: unknown) => void };
    const set = g.setImmediate;
    const clear = g.clearImmediate;
    immediates = set !== undefined && clear !== undefined ? { set, clear } : undefined;
  }
  return immediates;
}

/** The runtime's clock and timers. */
export const runtimeClock: Clock = {
  now: () => Date.now(),
  after(ms: number, fn: () => void): Timer {
    const h = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(h) };
  },
  soon(fn: () => void): Timer {
    const im = runtimeImmediates();
    if (im === undefined) return runtimeClock.after(0, fn);
    const h = im.set(fn);
    return { cancel: () => im.clear(h) };
  },
};

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  live: boolean;
}

/**
 * A clock that moves only when told. `advance(ms)` runs every callback due on the way, in deadline order
 * (ties in scheduling order), with `now()` set to each callback's deadline while it runs; callbacks may schedule
 * more, which run in the same advance when due.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #queue: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, live: true };
    this.#queue.push(p);
    return { cancel: () => void (p.live = false) };
  }

  /** Runs at the next `advance`, `advance(0)` included. */
  soon(fn: () => void): Timer {
    return this.after(0, fn);
  }

  /** How many callbacks are still scheduled. */
  get pending(): number {
    return this.#queue.filter((p) => p.live).length;
  }

  /** The deadline of the next scheduled callback, or undefined. */
  nextAt(): number | undefined {
    let best: number | undefined;
    for (const p of this.#queue) if (p.live && (best === undefined || p.at < best)) best = p.at;
    return best;
  }

  /** Moves time forward by `ms`, running what falls due. */
  advance(ms: number): void {
    if (ms < 0) throw new Error(`ManualClock.advance: negative step ${ms}`);
    const end = this.#now + ms;
    for (;;) {
      this.#queue = this.#queue.filter((p) => p.live);
      let next: Pending | undefined;
      for (const p of this.#queue) {
        if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.order < next.order))) next = p;
      }
      if (!next) break;
      next.live = false;
      if (next.at > this.#now) this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
