/**
 * The neutral contract between the runtime-agnostic core and the byte transports (TCP on Deno or Bun,
 * WebSocket, in-memory, later QUIC/WebTransport). A transport delivers a duplex byte stream plus a little
 * metadata; nothing here is TCP-specific.
 */

/** What the core knows about the far end of a connection. */
export interface ConnInfo {
  /** "tcp" | "ws" | "memory" | any future kind ("quic", "wt"). */
  readonly kind: string;
  readonly remoteHost: string;
  readonly remotePort: number;
  readonly localHost: string;
  readonly localPort: number;
}

/** The transport's half of a connection, as handed to the core. */
export interface Duplex {
  readonly info: ConnInfo;
  /**
   * Queue bytes for the peer. The transport takes ownership of `data` (the caller will not reuse it).
   * Returns false when the transport is holding unsent bytes (the core should wait for `onDrain`).
   */
  write(data: Uint8Array): boolean;
  /** Bytes accepted by `write` but not yet handed to the OS / peer. */
  bufferedAmount(): number;
  /** Close the connection after flushing what was already written (best effort). */
  close(): void;
}

/** The core's half of a connection: the transport calls these. */
export interface ConnHandler {
  /** Bytes from the peer. The buffer is only valid during the call (the transport may reuse it). */
  onData(data: Uint8Array): void;
  /** Everything queued by `write` has been flushed. */
  onDrain(): void;
  /** The connection is gone (peer closed, error, or our own close). Called exactly once. */
  onClose(err?: Error): void;
}

/** Called by a listener for each accepted connection. */
export type AcceptFn = (conn: Duplex) => ConnHandler;

export interface ListenOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface Listener {
  /** The bound address (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A transport that can accept connections. */
export type ListenFn = (opts: ListenOptions, accept: AcceptFn) => Promise<Listener>;

/** A transport that can dial out (routes, gateways, leafnodes). */
export type DialFn = (opts: { host: string; port: number }, handlerFor: (conn: Duplex) => ConnHandler) => Promise<Duplex>;

/** The pair of functions a runtime provides for one kind of transport. */
export interface Transport {
  listen: ListenFn;
  dial: DialFn;
}
