/**
 * Spare output buffers shared by every connection's OutBuffer (outbound.ts). A batch lent to a transport is
 * written asynchronously and its buffer comes back once the bytes are out. With one spare per connection, a
 * connection whose writes lag behind its flushes allocated a fresh buffer per flush and dropped the extra ones
 * when they came back: under fan-out on Deno that was a 64-128 KiB allocation per subscriber per turn, all of it
 * garbage a moment later (external memory swinging 3-13 MB between collections, and malloc fragmentation that
 * stays in RSS). Buffers that come back go here instead and the next flush of any connection takes one of the
 * same size. Bounded in bytes; past the bound a buffer is left to the collector as before.
 */

/** At most this many bytes of spare buffers are kept process-wide. */
export const POOL_BYTES = 4 * 1024 * 1024;
/**
 * Larger buffers are not pooled: they are a burst's (outbound.ts KEEP_MAX), and a buffer is taken at its exact
 * size, so Bun's fan-out filled the pool with 256 KiB and 1 MiB buffers that nothing took again.
 */
export const POOL_ITEM_MAX = 256 * 1024;

export class BufferPool {
  readonly #bySize = new Map<number, ArrayBuffer[]>();
  bytes = 0;

  constructor(readonly limit: number) {}

  /** A pooled buffer of exactly `size` bytes, or undefined. */
  take(size: number): Uint8Array | undefined {
    const list = this.#bySize.get(size);
    const b = list?.pop();
    if (b === undefined) return undefined;
    this.bytes -= b.byteLength;
    return new Uint8Array(b);
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
    if (list === undefined) this.#bySize.set(b.byteLength, (list = []));
    list.push(b);
    this.bytes += b.byteLength;
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
