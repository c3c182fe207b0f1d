/**
 * Spare output buffers shared by every connection's OutBuffer (outbound.ts). A batch lent to a transport is
 * written asynchronously and its buffer comes back once the bytes are out. With one spare per connection, a
 * connection whose writes lag behind its flushes allocated a fresh buffer per flush and dropped the extra ones
 * when they came back: under fan-out on Deno that was a 64-128 KiB allocation per subscriber per turn, all of it
 * garbage a moment later (external memory swinging 3-13 MB between collections, and malloc fragmentation that
 * stays in RSS). Buffers that come back go here instead and the next flush of any connection takes one of the
 * same size. Bounded in bytes; past the bound a buffer is left to the collector as before.
 *
 * What no flush needs any more is given back too, as Go's sync.Pool (nats-server's pool of client output buffers)
 * is emptied by its collector: every POOL_TRIM_MS the buffers that sat in the pool through the whole interval,
 * never taken, are freed. A steady fan-out keeps its working set pooled (a flush takes one every turn), and a
 * backlog that drained no longer leaves its buffers behind for good: counted in process (Deno, fanout-16 with
 * natsbench beside it), the pool sat at 448 KiB through the window, never below it, and ended at 4 MiB once the
 * subscribers' backlogs (up to the stall mark) drained into it (bench/RESULTS.md, `rss8`).
 */
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

/** At most this many bytes of spare buffers are kept process-wide. */
export const POOL_BYTES = 4 * 1024 * 1024;
/**
 * Larger buffers are not pooled: they are a burst's (outbound.ts KEEP_MAX), and a buffer is taken at its exact
 * size, so Bun's fan-out filled the pool with 256 KiB and 1 MiB buffers that nothing took again.
 */
export const POOL_ITEM_MAX = 256 * 1024;

/** How long a pooled buffer may sit untaken before it is freed (see the module comment). */
export const POOL_TRIM_MS = 1000;

/** Calls `fn` once after `ms` without keeping the process alive (the light timers; tests drive their own). */
export type PoolTimer = (ms: number, fn: () => void) => Timer;

export class BufferPool {
  readonly #bySize = new Map<number, ArrayBuffer[]>();
  /**
   * Per size, the fewest buffers its list held since the last trim. Takes and gives work at the list's end, so
   * the buffers below this mark were in the pool, untouched, the whole time.
   */
  readonly #low = new Map<number, number>();
  #trimTimer: Timer | undefined;
  readonly #trimNow = () => this.trim();
  bytes = 0;

  constructor(readonly limit: number, private readonly after: PoolTimer = lightTimeout) {}

  /** A pooled buffer of exactly `size` bytes, or undefined. */
  take(size: number): Uint8Array | undefined {
    const list = this.#bySize.get(size);
    const b = list?.pop();
    if (b === undefined) return undefined;
    this.bytes -= b.byteLength;
    const low = this.#low.get(size);
    if (low !== undefined && list!.length < low) this.#low.set(size, list!.length);
    return new Uint8Array(b);
  }

  /**
   * Frees the buffers no take reached since the last trim (the bottom `low` of each list), and starts the next
   * interval; runs on its timer while the pool holds anything.
   */
  trim(): void {
    this.#trimTimer = undefined;
    for (const [size, list] of this.#bySize) {
      const unused = Math.min(this.#low.get(size) ?? 0, list.length);
      for (const b of list.splice(0, unused)) {
        this.bytes -= b.byteLength;
        freeNow(b);
      }
      if (list.length === 0) {
        this.#bySize.delete(size);
        this.#low.delete(size);
      } else this.#low.set(size, list.length);
    }
    if (this.bytes > 0) this.#trimTimer = this.after(POOL_TRIM_MS, this.#trimNow);
  }

  /**
   * A buffer nobody reads or writes any more; kept if the pool has room and it is no larger than POOL_ITEM_MAX,
   * else its memory is freed now.
   */
  give(b: ArrayBuffer): void {
    let list = this.#bySize.get(b.byteLength);
    // One given twice would be handed to two writers at once. Looked for in its size's list (at most
    // POOL_BYTES / size entries, a few dozen): a Set of the pooled buffers rebuilt its table at nearly every add
    // and delete (it swings between empty and one entry), and V8 allocates a long-lived Set's new table in the old
    // generation: ~0.5 B per JetStream publish of old-space garbage, ~1 MB in a 5-s js-r1-async window (V8).
    if (list !== undefined && list.includes(b)) throw new Error("BufferPool.give: buffer already in the pool (released twice)");
    if (this.bytes + b.byteLength > this.limit || b.byteLength > POOL_ITEM_MAX) {
      freeNow(b);
      return;
    }
    if (list === undefined) {
      this.#bySize.set(b.byteLength, (list = []));
      this.#low.set(b.byteLength, 0); // given in this interval: it stays at least until the next trim
    }
    list.push(b);
    this.bytes += b.byteLength;
    if (this.#trimTimer === undefined) this.#trimTimer = this.after(POOL_TRIM_MS, this.#trimNow);
  }
}

/** The process-wide pool of output buffers. */
export const outputBuffers = new BufferPool(POOL_BYTES);

/**
 * Frees the memory of a buffer nothing reads or writes any more (no view of it is used again) at once, by
 * detaching it (ArrayBuffer.prototype.transfer), instead of when a collection finds it dead. A client backlog
 * that bursts to its stall mark (8 MiB in half-full 128 KiB output buffers: ~16 MB) and then drains dropped
 * what the pool could not keep; left to the collector, that memory stayed allocated for seconds, and Deno's
 * malloc kept the high-water mark in RSS. A buffer the runtime will not detach is left to the collector.
 */
export function freeNow(b: ArrayBuffer): void {
  try {
    b.transfer(0);
  } catch {
    // not detachable: the collector frees it
  }
}
