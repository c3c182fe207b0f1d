/**
 * A raw byte connection for tests and tools: dial any Transport (memory, TCP), write bytes or text, and wait for
 * what comes back. Runtime-agnostic.
 */
import type { Duplex, Transport } from "../src/transport/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type Matcher = string | RegExp | ((text: string) => boolean);

export interface RawConn {
  readonly duplex: Duplex;
  /** Resolves when the connection is gone, with the error if it ended with one. */
  readonly closed: Promise<Error | undefined>;
  isClosed(): boolean;
  write(data: Uint8Array | string): boolean;
  /** Everything received so far. */
  received(): Uint8Array;
  /** Everything received so far, as UTF-8. */
  text(): string;
  /** Forget what was received so far (later waits only look at newer bytes). */
  clear(): void;
  /** Resolves with the received text once it matches; rejects on timeout or close (quoting what arrived). */
  waitFor(match: Matcher, timeoutMs?: number): Promise<string>;
  /** Resolves once at least `n` bytes have arrived. */
  waitForBytes(n: number, timeoutMs?: number): Promise<Uint8Array>;
  close(): void;
}

function matches(m: Matcher, text: string): boolean {
  if (typeof m === "string") return text.includes(m);
  if (m instanceof RegExp) return m.test(text);
  return m(text);
}

export async function openRaw(transport: Transport, to: { host: string; port: number }): Promise<RawConn> {
  let buf = new Uint8Array(4096);
  let len = 0;
  let closed = false;
  let resolveClosed: (err: Error | undefined) => void = () => {};
  const closedP = new Promise<Error | undefined>((r) => (resolveClosed = r));
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };

  const duplex = await transport.dial(to, () => ({
    onData(data) {
      if (len + data.length > buf.length) {
        let size = buf.length * 2;
        while (size < len + data.length) size *= 2;
        const next = new Uint8Array(size);
        next.set(buf.subarray(0, len));
        buf = next;
      }
      buf.set(data, len);
      len += data.length;
      wake();
    },
    onDrain() {},
    onClose(err) {
      closed = true;
      resolveClosed(err);
      wake();
    },
  }));

  function waitUntil<T>(ready: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = ready();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (closed) {
          done();
          reject(new Error(`connection closed while waiting for ${what}; received: ${JSON.stringify(text())}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; received: ${JSON.stringify(text())}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  const text = () => decoder.decode(buf.subarray(0, len));

  return {
    duplex,
    closed: closedP,
    isClosed: () => closed,
    write: (data) => duplex.write(typeof data === "string" ? encoder.encode(data) : data),
    received: () => buf.slice(0, len),
    text,
    clear() {
      len = 0;
    },
    waitFor(match, timeoutMs = 2000) {
      return waitUntil(() => {
        const t = text();
        return matches(match, t) ? t : undefined;
      }, String(match), timeoutMs);
    },
    waitForBytes(n, timeoutMs = 2000) {
      return waitUntil(() => (len >= n ? buf.slice(0, len) : undefined), `${n} bytes`, timeoutMs);
    },
    close: () => duplex.close(),
  };
}
