/** A tiny echo ConnHandler and a collecting client, shared by the transport tests. */
import type { ConnHandler, Duplex, Listener, Transport } from "../../src/transport/types.ts";

export interface Events {
  data: Uint8Array[];
  bytes: number;
  drains: number;
  closes: (Error | undefined)[];
}

export function newEvents(): Events {
  return { data: [], bytes: 0, drains: 0, closes: [] };
}

/** Echoes everything back (copying: the transport may reuse the read buffer). */
export function echoHandler(conn: Duplex, ev: Events = newEvents()): ConnHandler {
  return {
    onData(d) {
      ev.bytes += d.length;
      conn.write(d.slice());
    },
    onDrain() {
      ev.drains++;
    },
    onClose(err) {
      ev.closes.push(err);
    },
  };
}

/** Records what arrives. */
export function collector(ev: Events): ConnHandler {
  return {
    onData(d) {
      ev.data.push(d.slice());
      ev.bytes += d.length;
    },
    onDrain() {
      ev.drains++;
    },
    onClose(err) {
      ev.closes.push(err);
    },
  };
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Abrupt close where the implementation offers one (TCP and memory duplexes have `destroy`). */
export function destroy(conn: Duplex): void {
  const d = (conn as Duplex & { destroy?: (err?: Error) => void }).destroy;
  if (typeof d !== "function") throw new Error("duplex has no destroy()");
  d.call(conn);
}

export interface EchoServer {
  listener: Listener;
  conns: Duplex[];
  events: Events[];
}

export async function startEcho(t: Transport, host = "127.0.0.1"): Promise<EchoServer> {
  const s: EchoServer = { listener: undefined as unknown as Listener, conns: [], events: [] };
  s.listener = await t.listen({ host, port: 0 }, (conn) => {
    const ev = newEvents();
    s.conns.push(conn);
    s.events.push(ev);
    return echoHandler(conn, ev);
  });
  return s;
}
