/**
 * A connection's pending output: one growable byte buffer that protocol lines and payloads are appended to,
 * and that is handed to the transport once per flush. Writing MSG/HMSG frames here is the hot path of
 * delivery, so it copies bytes and writes digits directly instead of building strings.
 */
import { freeNow, outputBuffers } from "./buffer_pool.ts";
import { smallCopy } from "./small_bytes.ts";

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

export class OutBuffer {
  buf: Uint8Array;
  len = 0;

  constructor(initial = 32 * 1024) {
    this.buf = new Uint8Array(initial);
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    // Never lent (lend switches buffers) and only viewed while being written: nothing reads the old one again.
    freeNow(this.buf.buffer as ArrayBuffer);
    this.buf = next;
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
    this.len = 0;
    // Don't keep a huge buffer around after a burst.
    if (this.buf.length > MAX_KEPT) this.buf = new Uint8Array(32 * 1024);
    return out;
  }

  /** A buffer handed back by the transport (see `lend`), used for the next batch instead of a new one. */
  #spare: Uint8Array | undefined;

  /**
   * Hand the pending bytes to a writer that borrows them: small batches are copied (as `take`); a large one is
   * given as a view of this buffer, which switches to its spare (or a new one). The writer calls `release` with
   * the view once it no longer reads it, and that memory becomes the spare: the bytes are not copied at all.
   */
  lend(): Uint8Array {
    if (this.len < LEND_MIN) return this.take();
    const out = this.buf.subarray(0, this.len);
    const spare = this.#spare;
    this.#spare = undefined;
    const size = this.buf.length > MAX_KEPT ? 32 * 1024 : this.buf.length;
    this.buf = spare ?? outputBuffers.take(size) ?? new Uint8Array(size);
    this.len = 0;
    return out;
  }

  /** The writer is done with a view `lend` gave it. */
  readonly release = (view: Uint8Array): void => {
    const b = view.buffer;
    // A buffer in use must never become the spare (a release of the wrong view would corrupt the next batch).
    if (b === this.buf.buffer || b === this.#spare?.buffer) throw new Error("OutBuffer.release: not a lent buffer");
    // A small batch was a copy (`take`, slab memory), not lent: nothing comes back (a slab is never pooled).
    if (view.byteLength < LEND_MIN) return;
    if (view.byteOffset !== 0) throw new Error("OutBuffer.release: not a lent buffer");
    if (b.byteLength > MAX_KEPT) {
      freeNow(b as ArrayBuffer);
      return;
    }
    // The first one back is this connection's spare; the others serve any connection's next flush.
    if (this.#spare === undefined && b.byteLength >= this.buf.length) this.#spare = new Uint8Array(b);
    else outputBuffers.give(b as ArrayBuffer);
  };

  /**
   * Append `MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n`, or the HMSG form when hdrSize >= 0.
   * `prefix` lets routes reuse this for RMSG-like frames.
   */
  msg(subject: Uint8Array, sid: Uint8Array, reply: Uint8Array | null, hdrSize: number, payload: Uint8Array): void {
    const size = payload.length;
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
    i = copy(b, i, payload);
    b[i++] = CRLF0;
    b[i++] = CRLF1;
    this.len = i;
  }
}

/** Copy src into b at i; short arrays by hand, since a native set() call costs more than the loop. */
export function copy(b: Uint8Array, i: number, src: Uint8Array): number {
  const n = src.length;
  if (n < 48) {
    for (let k = 0; k < n; k++) b[i + k] = src[k];
  } else {
    b.set(src, i);
  }
  return i + n;
}

/** Write a non-negative integer as ASCII digits at b[i]; returns the new offset. */
export function writeInt(b: Uint8Array, i: number, n: number): number {
  if (n < 10) {
    b[i] = 48 + n;
    return i + 1;
  }
  let digits = 0;
  for (let t = n; t > 0; t = Math.floor(t / 10)) digits++;
  let j = i + digits - 1;
  for (let t = n; t > 0; t = Math.floor(t / 10)) b[j--] = 48 + (t % 10);
  return i + digits;
}
