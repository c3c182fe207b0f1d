/**
 * Gathers the chunks handed to `Duplex.write` until the transport can hand them to the OS, so that many small
 * writes in one tick become one syscall. Large chunks are not gathered (copying them would cost more than the
 * syscall it saves): they go to the socket as they are, and their writer's `release` is called once the
 * transport is done with them, so the writer can reuse the memory instead of the transport copying it.
 * Runtime-agnostic; shared by the TCP transports, with the little else they share (defaults, errors, the handler a
 * connection has until its accept made one).
 */
import type { ConnHandler } from "../src/transport/types.ts";

/**
 * At most this much is gathered into one write: the scratch buffer a connection keeps never grows past it (it
 * grew to 1 MiB once a backlog of small chunks had built up, and stayed that size for the connection's life).
 */
export const MAX_GATHER = 64 * 1024;
/** A chunk this large is written on its own, never copied into a gathered batch. */
export const LARGE_CHUNK = 16 * 1024;

type Release = ((data: Uint8Array) => void) | undefined;

const FIRST_SCRATCH = 16 * 1024;
const NO_SCRATCH = new Uint8Array(0);

export class WriteQueue {
  private chunks: Uint8Array[] = [];
  private releases: Release[] = [];
  private head = 0;
  private count = 0;
  /**
   * Made by the first write that gathers: most connections never gather (a probe, a monitoring poll, a client
   * that writes one thing at a time), and 16 KiB per connection made at accept was garbage that Deno's allocator
   * kept after the connection (1,000 connect/close: +18.6 MB [heap] against +0.7 for bare Deno.listen).
   */
  private scratch = NO_SCRATCH;
  /** The chunk last taken as it is, and its writer's release (called by `done()`). */
  private lent: Uint8Array | undefined;
  private lentRelease: Release;
  /** Bytes queued and not yet taken. */
  bytes = 0;

  /** The bytes kept for gathering (0 until a write gathers). */
  get scratchBytes(): number {
    return this.scratch.byteLength;
  }

  push(chunk: Uint8Array, release?: (data: Uint8Array) => void): void {
    const at = this.head + this.count++;
    this.chunks[at] = chunk;
    this.releases[at] = release;
    this.bytes += chunk.length;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  /**
   * The next bytes to write: a large chunk (or a lone one) as it is, else the small chunks up to the next large
   * one gathered into one buffer. A gathered result is a view of a reused scratch buffer, valid until the next
   * `take()`. Call `done()` once the taken bytes are written (or dropped), before the next `take()`.
   */
  take(): Uint8Array {
    this.done();
    const chunks = this.chunks;
    const releases = this.releases;
    const first = chunks[this.head];
    if (this.count === 1 || first.length >= LARGE_CHUNK) {
      this.lent = first;
      this.lentRelease = releases[this.head];
      this.#advance(1, first.length);
      return first;
    }
    let n = 0;
    let total = 0;
    while (n < this.count) {
      const len = chunks[this.head + n].length;
      if (len >= LARGE_CHUNK || (n > 0 && total + len > MAX_GATHER)) break;
      total += len;
      n++;
    }
    if (n === 1) {
      this.lent = first;
      this.lentRelease = releases[this.head];
      this.#advance(1, first.length);
      return first;
    }
    if (total > this.scratch.length) {
      let size = Math.max(this.scratch.length * 2, FIRST_SCRATCH);
      while (size < total) size *= 2;
      this.scratch = new Uint8Array(size); // at most MAX_GATHER (small chunks are < LARGE_CHUNK <= MAX_GATHER)
    }
    const out = this.scratch;
    let off = 0;
    for (let i = this.head; i < this.head + n; i++) {
      const c = chunks[i];
      out.set(c, off);
      off += c.length;
      releases[i]?.(c); // copied: the writer may reuse it now
    }
    this.#advance(n, total);
    return out.length === total ? out : out.subarray(0, total);
  }

  /** The bytes last taken were written (or will never be): their writer may reuse them. */
  done(): void {
    const lent = this.lent;
    if (lent === undefined) return;
    const release = this.lentRelease;
    this.lent = undefined;
    this.lentRelease = undefined;
    release?.(lent);
  }

  #advance(n: number, bytes: number): void {
    const chunks = this.chunks;
    const releases = this.releases;
    for (let i = this.head; i < this.head + n; i++) {
      chunks[i] = EMPTY; // drop the reference so the caller's buffers can be collected
      releases[i] = undefined;
    }
    this.head += n;
    this.count -= n;
    this.bytes -= bytes;
    if (this.count === 0) {
      this.head = 0;
      if (chunks.length > 1024) {
        this.chunks = [];
        this.releases = [];
      }
    } else if (this.head >= 1024) {
      // A backlog that never empties: move what is left to the front instead of growing the arrays.
      this.chunks = chunks.slice(this.head, this.head + this.count);
      this.releases = releases.slice(this.head, this.head + this.count);
      this.head = 0;
    }
  }

  /** Forget everything (connection gone). Nothing is released: the memory is left to the collector. */
  clear(): void {
    for (let i = this.head; i < this.head + this.count; i++) {
      this.chunks[i] = EMPTY;
      this.releases[i] = undefined;
    }
    this.head = 0;
    this.count = 0;
    this.bytes = 0;
    this.lent = undefined;
    this.lentRelease = undefined;
    if (this.chunks.length > 1024) {
      this.chunks = [];
      this.releases = [];
    }
  }
}

const EMPTY = new Uint8Array(0);

/** Default high-water mark: `write` returns false once this many bytes are waiting. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/** How long `close()` waits for queued bytes to flush (and for the peer to close) before dropping the socket. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 2000;

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A connection's handler until the accept (or dial) has made the real one: see earlyHandler. */
class EarlyHandler implements ConnHandler {
  closed: { err: Error | undefined } | undefined;
  onData(): void {}
  onDrain(): void {}
  onClose(err?: Error): void {
    this.closed ??= { err };
  }
}

/**
 * The handler a connection starts with. A close before the real handler is in place (a write from inside the
 * accept, e.g. a client's INFO by Duplex.writeNow, found the socket gone) is kept and told to the real handler by
 * `attachHandler`; nothing reads before then, so there is no data to keep.
 */
export function earlyHandler(): ConnHandler {
  return new EarlyHandler();
}

/** Puts the accept's (or dial's) handler in place, telling it at once of a close that came first. */
export function attachHandler(conn: { handler: ConnHandler }, handler: ConnHandler): void {
  const early = conn.handler;
  conn.handler = handler;
  if (early instanceof EarlyHandler && early.closed !== undefined) handler.onClose(early.closed.err);
}
