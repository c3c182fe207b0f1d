/**
 * A connection's pending output: one growable byte buffer that protocol lines and payloads are appended to,
 * and that is handed to the transport once per flush. Writing MSG/HMSG frames here is the hot path of
 * delivery, so it copies bytes and writes digits directly instead of building strings.
 */

const CRLF0 = 13;
const CRLF1 = 10;
const SPACE = 32;

const MSG_ = new Uint8Array([77, 83, 71, 32]); // "MSG "
const HMSG_ = new Uint8Array([72, 77, 83, 71, 32]); // "HMSG "
const enc = new TextEncoder();

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

  /** Take the pending bytes as a fresh array the transport may keep; the buffer is reused. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    // Don't keep a huge buffer around after a burst.
    if (this.buf.length > 4 * 1024 * 1024) this.buf = new Uint8Array(32 * 1024);
    return out;
  }

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
