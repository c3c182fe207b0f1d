/**
 * Gathers the chunks handed to `Duplex.write` until the transport can hand them to the OS, so that many small
 * writes in one tick become one syscall. Runtime-agnostic; shared by the TCP transports.
 */

/** Above this, a gathered batch gets its own allocation instead of growing the reusable scratch buffer. */
const MAX_SCRATCH = 1 << 20;

export class WriteQueue {
  private chunks: Uint8Array[] = [];
  private count = 0;
  private scratch = new Uint8Array(16 * 1024);
  /** Bytes queued and not yet taken. */
  bytes = 0;

  push(chunk: Uint8Array): void {
    this.chunks[this.count++] = chunk;
    this.bytes += chunk.length;
  }

  isEmpty(): boolean {
    return this.count === 0;
  }

  /**
   * Everything queued, as one buffer. When several chunks were gathered the result is a view of a reused scratch
   * buffer: it stays valid until the next `take()`, so callers must be done with it before taking again.
   */
  take(): Uint8Array {
    const n = this.count;
    const chunks = this.chunks;
    if (n === 1) {
      const only = chunks[0];
      chunks[0] = EMPTY;
      this.count = 0;
      this.bytes = 0;
      return only;
    }
    const total = this.bytes;
    let out: Uint8Array;
    if (total <= this.scratch.length) {
      out = this.scratch;
    } else if (total <= MAX_SCRATCH) {
      let size = this.scratch.length * 2;
      while (size < total) size *= 2;
      this.scratch = new Uint8Array(size);
      out = this.scratch;
    } else {
      out = new Uint8Array(total);
    }
    let off = 0;
    for (let i = 0; i < n; i++) {
      const c = chunks[i];
      out.set(c, off);
      off += c.length;
      chunks[i] = EMPTY; // drop the reference so the caller's buffers can be collected
    }
    this.count = 0;
    this.bytes = 0;
    return out.length === total ? out : out.subarray(0, total);
  }

  /** Forget everything (connection gone). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.chunks[i] = EMPTY;
    this.count = 0;
    this.bytes = 0;
    if (this.chunks.length > 1024) this.chunks = [];
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
