/**
 * Small, short-lived byte arrays carved out of shared slabs instead of allocated one by one.
 *
 * Why: on Deno every `new Uint8Array(n)` (and `slice()`, `TextEncoder.encode`) gets a backing store of its own
 * outside the V8 heap, ~0.4-0.5 us each whatever the size (measured: 40 bytes 450 ns; a view of a slab 30-100 ns;
 * Bun 20-30 ns for either). The per-message paths (a PubAck's bytes, an internal publish's subject and reply, a
 * small flush of a connection's output) made several of them per message: a third of js-r1-async's server CPU.
 *
 * Off by default: on Bun a fresh small array is cheaper than a view (10-40 ns against 50-110 ns), so the runtime
 * adapter turns slabs on where they pay (`useSlabs`, Deno); without them these are plain allocations.
 *
 * A bump allocator: a slab is never written twice, so a view stays valid (and zero-filled when handed out) for as
 * long as anyone holds it; the collector frees a slab once no view of it is left. Use it only for bytes that are
 * not kept long (a view pins its whole slab), never for bytes whose `.buffer` is used or transferred.
 */

/** A held view pins its slab: small enough that a few stragglers cost little, large enough to amortise its allocation. */
const SLAB = 32 * 1024;
/** Larger requests get an array of their own (they are rare on the per-message paths, and would waste slab). */
export const SMALL_MAX = 4 * 1024;

let slabs = false;
let slab = new Uint8Array(0);
/** Bytes of `slab` handed out (full: the first request allocates a slab). */
let used = SLAB;

/** Carve small arrays out of slabs from now on (or stop): for runtimes where an allocation costs more than a view. */
export function useSlabs(on: boolean): void {
  slabs = on;
}

/** A zero-filled array of `n` bytes: a view of the current slab when small. */
export function smallBytes(n: number): Uint8Array {
  if (!slabs || n > SMALL_MAX) return new Uint8Array(n);
  if (used + n > SLAB) {
    slab = new Uint8Array(SLAB);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  used += n;
  return out;
}

/** A copy of `src[start, end)` (as `src.slice(start, end)`), in slab memory when small. */
export function smallCopy(src: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  if (!slabs || n > SMALL_MAX) return src.slice(start, end);
  const out = smallBytes(n);
  if (n < 48) {
    for (let k = 0; k < n; k++) out[k] = src[start + k];
  } else out.set(src.subarray(start, end));
  return out;
}

const enc = new TextEncoder();

/** UTF-8 bytes of `s` (as `TextEncoder.encode`); ASCII, the common case for subjects, without the encoder call. */
export function smallUtf8(s: string): Uint8Array {
  if (!slabs || s.length > SMALL_MAX) return enc.encode(s);
  const out = smallBytes(s.length);
  // Not ASCII: the view is left unused (slab memory is never handed out twice).
  return asciiInto(out, s) ? out : enc.encode(s);
}

/** Writes ASCII `s` into `out` (its length); false, with `out` part-written, when `s` is not ASCII. */
export function asciiInto(out: Uint8Array, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return false;
    out[i] = c;
  }
  return true;
}

/** ScratchBytes' default limit: replies and subjects (an inbox is ~20-60 bytes). */
const SCRATCH_MAX = 64;
/** From this length on a range is copied four bytes at a time (when its source's DataView is at hand). */
const WORD_COPY_MIN = 16;

/** An array kept for one length, and a DataView of it once written four bytes at a time. */
interface Kept {
  readonly bytes: Uint8Array;
  view: DataView | undefined;
}

/**
 * Small copies, valid until the next call, in one array kept per length up to `max` bytes (so at most
 * `max * (max + 1) / 2` bytes in all: 2 KiB at the default 64, 33 KiB at 256). Used where a per-message range is
 * read during a call and not kept: a unique reply subject per request or PubAck (an inbox's length rarely changes)
 * copied out of the read or written from a string, the small payload and header block lent to a JetStream
 * capture. Such a copy costs no allocation, where a view or a copy of its own was an object per message for every
 * young collection to walk (on V8 a view of a publish's bytes was ~100 B of garbage, bench/RESULTS.md `denojs`).
 * Longer ranges: `copy` gives a copy of their own, `lend` a view (beyond a few hundred bytes a view is cheaper than
 * the copy).
 *
 * The copy is byte by byte, or with `wordCopy`, from WORD_COPY_MIN bytes on, four bytes at a time through DataViews
 * when the source is the one of the call before (a read's messages follow each other in one buffer: 128 B cost
 * ~15 ns more than a view that way, ~45 ns more byte by byte, Deno); a new source is copied byte by byte and only
 * remembered, since a DataView made for a source used once (one request per read) would be the very garbage this
 * saves. The remembered source stays referenced until the next call: for an owner that copies from one buffer
 * many times in a row (the internal client's captures), not for a connection, which would hold its last read for
 * as long as it is idle.
 */
export class ScratchBytes {
  readonly #max: number;
  readonly #wordCopy: boolean;
  readonly #byLength: (Kept | undefined)[] = [];
  /** With wordCopy: the source of the last copy, and a DataView of it once it was used twice in a row. */
  #src: Uint8Array | undefined;
  #srcView: DataView | undefined;

  constructor(max = SCRATCH_MAX, opts: { wordCopy?: boolean } = {}) {
    this.#max = max;
    this.#wordCopy = opts.wordCopy === true;
  }

  /** The longest range kept (beyond it: `copy` copies, `lend` lends a view). */
  get max(): number {
    return this.#max;
  }

  /** `src[start, end)`, copied. */
  copy(src: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    if (n > this.#max) return src.slice(start, end);
    return this.#fill(src, start, n);
  }

  /** `src[start, end)`: copied when small, else a view of `src` (valid as long as `src` is). */
  lend(src: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    if (n > this.#max) return src.subarray(start, end);
    return this.#fill(src, start, n);
  }

  /** The UTF-8 bytes of `s`: written into the kept array when ASCII, else encoded into an array of their own. */
  utf8(s: string): Uint8Array {
    const n = s.length;
    if (n > this.#max) return smallUtf8(s);
    const out = this.#kept(n).bytes;
    return asciiInto(out, s) ? out : smallUtf8(s);
  }

  #kept(n: number): Kept {
    let k = this.#byLength[n];
    if (k === undefined) {
      const bytes = new Uint8Array(n);
      this.#byLength[n] = k = { bytes, view: undefined };
    }
    return k;
  }

  #fill(src: Uint8Array, a: number, n: number): Uint8Array {
    const kept = this.#kept(n);
    const out = kept.bytes;
    let k = 0;
    if (this.#wordCopy && n >= WORD_COPY_MIN) {
      if (src === this.#src) {
        const sv = this.#srcView ??= new DataView(src.buffer, src.byteOffset, src.byteLength);
        const ov = kept.view ??= new DataView(out.buffer);
        for (; k + 4 <= n; k += 4) ov.setUint32(k, sv.getUint32(a + k));
      } else {
        this.#src = src;
        this.#srcView = undefined;
      }
    }
    for (; k < n; k++) out[k] = src[a + k];
    return out;
  }
}
