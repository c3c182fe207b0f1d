/**
 * Connections that arrive while a starting server holds its clients (Server.start's `holdClients`): the client
 * port is bound early (its port goes into the routes' INFO) but clients are served only once the extensions
 * (JetStream, the routes) have started. nats-server's port is not bound yet at that point and a client's connect is
 * refused and retried; here the connection is kept waiting, without its INFO, and served when the server takes
 * clients (it sees a server slow to answer, not a closed connection: benchmark clients and nats.js's first connect
 * treat a close before INFO as a failure). What such a client sends meanwhile is kept, bounded, and handed on.
 */
import type { ConnHandler, Duplex } from "../transport/types.ts";

/** More than a client sends before its INFO (a CONNECT, a PING, a few PUBs): beyond it the connection is closed. */
const MAX_HELD_BYTES = 64 * 1024;

/** One waiting connection: buffers its input until `release` hands it (and the input) to the real handler. */
class HeldConn implements ConnHandler {
  readonly duplex: Duplex;
  /** Serves it once clients are taken: the connection's real handler, as its listener would have got it. */
  readonly serve: () => ConnHandler;
  #input: Uint8Array[] = [];
  #bytes = 0;
  #closed = false;
  #to: ConnHandler | undefined;

  constructor(duplex: Duplex, serve: () => ConnHandler) {
    this.duplex = duplex;
    this.serve = serve;
  }

  get closed(): boolean {
    return this.#closed;
  }

  onData(data: Uint8Array): void {
    if (this.#to !== undefined) return this.#to.onData(data);
    if (this.#closed) return;
    this.#bytes += data.length;
    if (this.#bytes > MAX_HELD_BYTES) {
      this.#input = [];
      this.duplex.close();
      return;
    }
    this.#input.push(data.slice()); // the transport may reuse its read buffer
  }

  onDrain(): void {
    this.#to?.onDrain();
  }

  onClose(err?: Error): void {
    this.#closed = true;
    this.#to?.onClose(err);
  }

  /** From now on `to` gets this connection's events, starting with what it sent while held. */
  release(to: ConnHandler): void {
    if (this.#closed) return;
    this.#to = to;
    const input = this.#input;
    this.#input = [];
    for (const d of input) {
      if (this.#closed) return;
      to.onData(d);
    }
  }
}

/** The connections a starting server holds, bounded by count (its max_connections). */
export class HeldConns {
  #held: HeldConn[] = [];

  /** How many are waiting (still open). */
  get size(): number {
    let n = 0;
    for (const h of this.#held) if (!h.closed) n++;
    return n;
  }

  /** Holds `duplex` until release() calls `serve`; undefined when `max` are already waiting (the caller turns it away). */
  hold(duplex: Duplex, max: number, serve: () => ConnHandler): ConnHandler | undefined {
    this.#held = this.#held.filter((h) => !h.closed);
    if (this.#held.length >= max) return undefined;
    const h = new HeldConn(duplex, serve);
    this.#held.push(h);
    return h;
  }

  /** Serves every waiting connection that is still open, in the order they came. */
  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) if (!h.closed) h.release(h.serve());
  }

  /** Closes every waiting connection (the server stops before it took clients). */
  closeAll(): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) if (!h.closed) h.duplex.close();
  }
}
