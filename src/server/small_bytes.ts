/**
 * Small, short-lived byte arrays carved out of shared slabs instead of allocated one by one.
 *
 * Why: on Deno every `new Uint8Array(n)` (and `slice()`, `TextEncoder.encode`) gets a backing store of its own
 * outside the V8 heap, ~0.4-0.5 µs each whatever the size (measured: 40 bytes 450 ns; a view of a slab 30-100 ns;
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

/** Ranges up to this long get an array kept for their length (ScratchBytes); longer ones a copy of their own. */
const SCRATCH_MAX = 64;

/**
 * Bytes valid until the next call, in one array kept per length: a unique reply subject per request or PubAck (an
 * inbox's length rarely changes) copied out of the read or written from a string costs no allocation, where a view
 * or a copy of its own was an object per message for every young collection to walk. Longer ones get their own array.
 */
export class ScratchBytes {
  readonly #byLength: (Uint8Array | undefined)[] = [];

  /** `src[start, end)`, copied. */
  copy(src: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    if (n > SCRATCH_MAX) return src.slice(start, end);
    const out = this.#byLength[n] ??= new Uint8Array(n);
    for (let k = 0; k < n; k++) out[k] = src[start + k];
    return out;
  }

  /** The UTF-8 bytes of `s`: written into the kept array when ASCII, else encoded into an array of their own. */
  utf8(s: string): Uint8Array {
    const n = s.length;
    if (n > SCRATCH_MAX) return smallUtf8(s);
    const out = this.#byLength[n] ??= new Uint8Array(n);
    return asciiInto(out, s) ? out : smallUtf8(s);
  }
}
