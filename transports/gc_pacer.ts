/**
 * A full garbage collection after every few MiB of socket input, within a bound on the time it may take.
 *
 * Why (Bun): Bun hands every socket read over in a buffer of its own, up to 512 KiB, that is dead once parsed. A
 * fast publisher's reads come in at 50-300 MB/s; JavaScriptCore frees such buffers only in a full collection
 * (eden collections on a 10 ms timer left `external` climbing to 40 MB) and by its own pacing runs one after
 * tens of MB, so 30-70 MB of dead read buffers sat in RSS under load (fanout-16: 95-110 MB, with this 68-76 MB).
 * A full collection of a server's small heap takes well under a millisecond; one per `budget` bytes read costs
 * little, and never more than `maxShare` of the time: after a collection that took `d` ms the next one waits at
 * least `d / maxShare` ms, so a large heap (JetStream state) is collected less often instead of pausing more.
 *
 * Runtime-agnostic logic; the transport gives it the runtime's collector and clock.
 */

export interface GcPacerOptions {
  /** Input bytes between collections. */
  budget: number;
  /** The largest share of time the collections may take (0.02: 2 %). */
  maxShare: number;
  /** Runs one full collection. */
  collect: () => void;
  /** Milliseconds, monotonic. */
  now: () => number;
  /** Runs `f` on a later turn of the event loop (not inside the read that crossed the budget). */
  later: (f: () => void) => void;
}

export class GcPacer {
  readonly #o: GcPacerOptions;
  #bytes = 0;
  #scheduled = false;
  /** No collection before this time (the duty-cycle bound). */
  #notBefore = 0;
  /** Collections run and the time they took (ms), for benchmarks. */
  runs = 0;
  totalMs = 0;
  readonly #run = () => this.#collect();

  constructor(o: GcPacerOptions) {
    if (!(o.budget > 0) || !(o.maxShare > 0 && o.maxShare <= 1)) {
      throw new Error(`GcPacer: budget must be > 0 and maxShare in (0, 1] (got ${o.budget}, ${o.maxShare})`);
    }
    this.#o = o;
  }

  /** `n` more bytes were read into fresh buffers. */
  read(n: number): void {
    const bytes = this.#bytes + n;
    this.#bytes = bytes;
    if (bytes < this.#o.budget || this.#scheduled) return;
    // Too soon after the last one: go on counting; a read after the wait schedules it.
    if (this.#o.now() < this.#notBefore) return;
    this.#scheduled = true;
    this.#o.later(this.#run);
  }

  /** `n` of the bytes read were freed without a collection (their buffer went back to the allocator). */
  freed(n: number): void {
    this.#bytes = Math.max(0, this.#bytes - n);
  }

  #collect(): void {
    this.#scheduled = false;
    // The reads that crossed the budget were freed since (freed): no garbage to collect.
    if (this.#bytes < this.#o.budget) return;
    this.#bytes = 0;
    const t0 = this.#o.now();
    this.#o.collect();
    const t1 = this.#o.now();
    const took = t1 - t0;
    this.runs++;
    this.totalMs += took;
    this.#notBefore = t1 + took / this.#o.maxShare;
  }
}

/** PETREL_GC_SHARE's default: the collections may take at most this share of the time. */
export const DEFAULT_GC_SHARE = 0.03;

/**
 * PETREL_GC_SHARE's value, read by every pacer (socket reads on Bun, file-store writes): unset or empty gives
 * the default; anything that is not a fraction in (0, 1] stops start-up naming the variable.
 */
export function gcShareSetting(raw: string | undefined): number {
  const share = raw === undefined || raw === "" ? DEFAULT_GC_SHARE : Number(raw);
  if (!(share > 0 && share <= 1)) throw new Error(`PETREL_GC_SHARE must be a fraction of the time in (0, 1], got '${raw}'`);
  return share;
}
