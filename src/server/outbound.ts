/**
 * A connection's pending output: one growable byte buffer that protocol lines and payloads are appended to,
 * and that is handed to the transport once per flush. Writing MSG/HMSG frames here is the hot path of
 * delivery, so it copies bytes and writes digits directly instead of building strings.
 */
import { freeNow, outputBuffers } from "./buffer_pool.ts";
import { smallCopy } from "./small_bytes.ts";
import type { Duplex } from "../transport/types.ts";

const CRLF0 = 13;
const CRLF1 = 10;
const SPACE = 32;

const MSG_ = new Uint8Array([77, 83, 71, 32]); // "MSG "
const HMSG_ = new Uint8Array([72, 77, 83, 71, 32]); // "HMSG "
const enc = new TextEncoder();
/** Batches smaller than this are copied at the flush: cheaper than keeping a second buffer for every connection. */
const LEND_MIN = 8 * 1024;
/** A buffer grown past this by a burst is not kept. */
const MAX_KEPT = 4 * 1024 * 1024;
/**
 * A buffer larger than this (grown by a burst) is given back once the connection's output has drained, and is
 * never pooled: what a connection keeps between bursts is bounded by what a steady load needs (64-70 KiB batches
 * in 128 KiB buffers), not by its largest burst. A 1 MiB buffer kept per consumer after one burst was most of
 * Bun's fan-out memory (four consumers: 4 MiB plus 1 MiB spares and a pool of them).
 */
export const KEEP_MAX = 256 * 1024;

export class OutBuffer {
  buf: Uint8Array;
  len = 0;

  readonly #initial: number;

  constructor(initial = 32 * 1024) {
    this.#initial = initial;
    this.buf = new Uint8Array(initial);
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    const mem = this.buf.buffer as ArrayBuffer;
    const full = mem.byteLength;
    // Past the end of the memory's tail: a fresh buffer of the same size if the batch fits one, else a larger one.
    let cap = full;
    if (cap < need) {
      cap *= 2;
      while (cap < need) cap *= 2;
    }
    const next = (cap === full ? this.#fresh(full) : undefined) ?? new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.#retire(mem, cap !== full);
  }

  /** A full buffer of `size` bytes: the spare, a pooled one, or undefined. */
  #fresh(size: number): Uint8Array | undefined {
    const spare = this.#spare;
    if (spare !== undefined && spare.length >= size) {
      this.#spare = undefined;
      return spare;
    }
    return outputBuffers.take(size);
  }

  /**
   * The writer moved off `mem`. With batches of it still lent, the last release brings it back (see `release`);
   * otherwise it is free now: kept for reuse, or freed (`grown`: outgrown, never wanted again).
   */
  #retire(mem: ArrayBuffer, grown: boolean): void {
    if (this.#lentOf.has(mem)) return;
    if (grown || mem.byteLength > MAX_KEPT) freeNow(mem);
    else this.#recycle(mem);
  }

  /** Memory nothing reads or writes any more: this connection's spare, or the process-wide pool. */
  #recycle(mem: ArrayBuffer): void {
    if (this.#spare === undefined && mem.byteLength >= this.buf.buffer.byteLength) this.#spare = new Uint8Array(mem);
    else outputBuffers.give(mem);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** ASCII/UTF-8 text (protocol lines that are not on the hot path). */
  text(s: string): void {
    this.bytes(enc.encode(s));
  }

  /**
   * Take the pending bytes as an array the transport may keep (a copy: in slab memory when small, see
   * small_bytes.ts); the buffer is reused.
   */
  take(): Uint8Array {
    const out = smallCopy(this.buf, 0, this.len);
    this.#emptied();
    return out;
  }

  /** The pending bytes were handed over: start again at the beginning, in a fresh buffer if a burst grew it huge. */
  #emptied(): void {
    this.len = 0;
    if (this.buf.buffer.byteLength > MAX_KEPT) {
      const mem = this.buf.buffer as ArrayBuffer;
      this.buf = new Uint8Array(32 * 1024);
      this.#retire(mem, true);
    }
  }

  /**
   * Hand the pending bytes to `duplex`: written at once where the transport can (Duplex.writeNow: no copy, no
   * second microtask per flush; on Bun one array and one queue turn less per sync publish, and four per cluster
   * request; a large batch, which would otherwise be lent, is not copied either unless the kernel refuses part of
   * it); otherwise as `lend` describes, `release` called back by the transport. Returns what the
   * transport's write returned (false: it holds unsent bytes past its mark). `written` (optional) is told when
   * the bytes were handed over at once, as the transport's release would have told it.
   */
  flushTo(duplex: Duplex, release: (view: Uint8Array) => void = this.release, written?: () => void): boolean {
    if (duplex.writeNow !== undefined) {
      const ok = duplex.writeNow(this.buf, this.len);
      if (ok !== undefined) {
        this.#emptied();
        written?.();
        return ok;
      }
    }
    return duplex.write(this.lend(), release);
  }

  /** A buffer handed back by the transport (see `lend`), used for the next batch instead of a new one. */
  #spare: Uint8Array | undefined;
  /**
   * Views `lend` handed out and not yet released, and how many of them each memory holds. Weak: a transport may
   * never release what it was lent (Duplex.write), and such memory is then left to the collector.
   */
  readonly #lent = new WeakSet<Uint8Array>();
  readonly #lentOf = new WeakMap<ArrayBuffer, number>();

  /**
   * Hand the pending bytes to a writer that borrows them: small batches are copied (as `take`); a large one is
   * given as a view, and the next batches are written after it in the same memory while one and a half of its
   * size still fit there, else into the spare (or a pooled or new buffer). The writer calls `release` with the view
   * once it no longer reads it; a memory whose views all came back is written from its start again (the writer
   * is still in it) or becomes the spare: the bytes are not copied at all. Packing the batches matters under a
   * backlog: one batch per buffer left buffers of twice a batch's size mostly empty (Deno: 64 KiB batches in
   * 128 KiB buffers; Bun: in 512 KiB-1 MiB buffers, grown once by a burst), so a backlog held 2-16x its bytes.
   */
  lend(): Uint8Array {
    if (this.len < LEND_MIN) return this.take();
    const len = this.len;
    const out = this.buf.subarray(0, len);
    const mem = out.buffer as ArrayBuffer;
    this.#lent.add(out);
    this.#lentOf.set(mem, (this.#lentOf.get(mem) ?? 0) + 1);
    this.len = 0;
    // Room for half as much again as this batch: a next batch that did not fit would be copied to a new buffer
    // (Deno's 64 KiB batches in 128 KiB buffers: every other batch copied, pubsub-1k at 0.8x).
    const rest = this.buf.length - len;
    if (rest >= len + (len >> 1) && rest >= 2 * LEND_MIN) {
      this.buf = this.buf.subarray(len);
      return out;
    }
    const size = mem.byteLength > MAX_KEPT ? 32 * 1024 : mem.byteLength;
    this.buf = this.#fresh(size) ?? new Uint8Array(size);
    return out;
  }

  /** The writer is done with a view `lend` gave it. */
  readonly release = (view: Uint8Array): void => {
    if (!this.#lent.delete(view)) {
      // A small batch was a copy (`take`), never lent: nothing comes back, and nothing is done with it. Its
      // `.buffer` is not read: on Bun that turns a small array into one with an ArrayBuffer of its own (a cell and
      // a malloc'd copy per flush, i.e. per sync publish or request), which made each eden collection ~3x longer.
      if (view.byteLength < LEND_MIN) return;
      // A lent view (never smaller) released twice, or one not ours, would hand memory still read or written to
      // the next batch.
      throw new Error("OutBuffer.release: not a lent buffer");
    }
    const mem = view.buffer as ArrayBuffer;
    const n = this.#lentOf.get(mem) ?? 0;
    if (n > 1) {
      this.#lentOf.set(mem, n - 1);
      return;
    }
    this.#lentOf.delete(mem);
    if (mem === this.buf.buffer) {
      if (this.len !== 0) return;
      // All written: a buffer grown by a burst is given back; otherwise the writer starts again at its beginning.
      if (mem.byteLength > KEEP_MAX) this.#shrink(mem);
      else if (this.buf.byteOffset !== 0) this.buf = new Uint8Array(mem);
      return;
    }
    if (mem.byteLength > MAX_KEPT || (mem.byteLength > KEEP_MAX && this.#spare !== undefined)) {
      freeNow(mem);
      return;
    }
    this.#recycle(mem);
  };

  /** The output drained out of a buffer grown past KEEP_MAX (`mem`, the current one): back to a small one. */
  #shrink(mem: ArrayBuffer): void {
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined && spare.length <= KEEP_MAX) this.buf = spare;
    else {
      if (spare !== undefined) freeNow(spare.buffer as ArrayBuffer);
      this.buf = new Uint8Array(this.#initial);
    }
    freeNow(mem);
  }

  /** Bytes of memory this buffer keeps (its current memory and its spare): for tests and diagnostics. */
  get keptBytes(): number {
    return this.buf.buffer.byteLength + (this.#spare?.buffer.byteLength ?? 0);
  }

  /**
   * Append `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`, or the HMSG form when hdrSize >= 0.
   * `prefix` lets routes reuse this for RMSG-like frames.
   */
  msg(subject: Uint8Array, sid: Uint8Array, reply: Uint8Array | null, hdrSize: number, payload: Uint8Array): void {
    const size = payload.length;
    let i = this.#head(subject, sid, reply, hdrSize, size);
    const b = this.buf;
    i = copy(b, i, payload);
    b[i++] = CRLF0;
    b[i++] = CRLF1;
    this.len = i;
  }

  /**
   * `msg` with a payload of fewer than SMALL_PAYLOAD bytes given as `src[start, end)`: copied by hand, so that
   * no view of it is made (LocalMsg).
   */
  msgSmall(subject: Uint8Array, sid: Uint8Array, reply: Uint8Array | null, hdrSize: number, src: Uint8Array, start: number, end: number): void {
    const size = end - start;
    if (size >= SMALL_PAYLOAD) throw new Error(`invariant: msgSmall with a ${size}-byte payload`);
    let i = this.#head(subject, sid, reply, hdrSize, size);
    const b = this.buf;
    for (let k = start; k < end; k++) b[i++] = src[k];
    b[i++] = CRLF0;
    b[i++] = CRLF1;
    this.len = i;
  }

  /** Room for the frame and its `MSG ... <size>\r\n` line written; returns where the payload goes. */
  #head(subject: Uint8Array, sid: Uint8Array, reply: Uint8Array | null, hdrSize: number, size: number): number {
    this.ensure(subject.length + sid.length + (reply ? reply.length : 0) + size + 48);
    const b = this.buf;
    let i = this.len;
    const head = hdrSize >= 0 ? HMSG_ : MSG_;
    i = copy(b, i, head);
    i = copy(b, i, subject);
    b[i++] = SPACE;
    i = copy(b, i, sid);
    b[i++] = SPACE;
    if (reply !== null && reply.length > 0) {
      i = copy(b, i, reply);
      b[i++] = SPACE;
    }
    if (hdrSize >= 0) {
      i = writeInt(b, i, hdrSize);
      b[i++] = SPACE;
    }
    i = writeInt(b, i, size);
    b[i++] = CRLF0;
    b[i++] = CRLF1;
    return i;
  }
}

/** Payloads shorter than this are copied byte by byte (copy, msgSmall): cheaper than a native set() call. */
export const SMALL_PAYLOAD = 48;

/** Copy src into b at i; short arrays by hand, since a native set() call costs more than the loop. */
export function copy(b: Uint8Array, i: number, src: Uint8Array): number {
  return copyRange(b, i, src, 0, src.length);
}

/** Copy `src[start, end)` into b at i, as `copy` does, without a view of the range. */
export function copyRange(b: Uint8Array, i: number, src: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < SMALL_PAYLOAD) {
    for (let k = 0; k < n; k++) b[i + k] = src[start + k];
  } else {
    b.set(start === 0 && end === src.length ? src : src.subarray(start, end), i);
  }
  return i + n;
}

/** Decimal digits of a non-negative integer (no string made). */
export function digitCount(n: number): number {
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  return digits;
}

/** Write a non-negative integer as ASCII digits at b[i]; returns the new offset. */
export function writeInt(b: Uint8Array, i: number, n: number): number {
  if (n < 10) {
    b[i] = 48 + n;
    return i + 1;
  }
  const digits = digitCount(n);
  let j = i + digits - 1;
  for (let t = n; t > 0; t = Math.floor(t / 10)) b[j--] = 48 + (t % 10);
  return i + digits;
}
