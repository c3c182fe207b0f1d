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
  /** Set once a TLS handshake on this connection has completed (see `Duplex.startTls`). */
  readonly tls?: TlsInfo;
}

/**
 * What a TLS upgrade needs, runtime-free: PEM text (files are read by the caller), and the policy. One value is
 * made per listener or remote and reused for every connection, so a transport may cache what it builds from it.
 */
export interface TlsSettings {
  /** "server": we answer the handshake (client, route, gateway, leaf listeners); "client": we start it. */
  readonly role: "server" | "client";
  /** Our certificate chain and key (required for a server; a client presents them when given). */
  readonly cert?: string;
  readonly key?: string;
  /** CAs that verify the peer's certificate; without it, the runtime's default roots. */
  readonly ca?: string;
  /** server: request a client certificate and refuse the handshake without a valid one. client: ignored. */
  readonly verify: boolean;
  /** client: do not verify the server's certificate (nats-server's `insecure`). */
  readonly insecure?: boolean;
  /** client: the name the server's certificate must carry (SNI too). */
  readonly serverName?: string;
  /** Lowest protocol version accepted. */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3";
  /** OpenSSL-style cipher list (TLS 1.2 suites), when restricted. */
  readonly ciphers?: string;
}

/** The peer's certificate, as much as the core needs (verify_and_map, monitoring). */
export interface PeerCertificate {
  /** Subject attributes in the certificate's order, e.g. [["CN","alice"],["O","Acme"]]. */
  readonly subject: readonly (readonly [string, string])[];
  readonly emails: readonly string[];
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
}

/** What a completed handshake negotiated. */
export interface TlsInfo {
  /** "1.2" or "1.3" (nats-server's spelling in /connz). */
  readonly version: string;
  /** IANA cipher suite name, e.g. "TLS_AES_128_GCM_SHA256". */
  readonly cipher: string;
  /** Present when the peer sent a certificate (it has been verified when the settings asked for it). */
  readonly peer?: PeerCertificate;
}

/** The transport's half of a connection, as handed to the core. */
export interface Duplex {
  readonly info: ConnInfo;
  /**
   * Queue bytes for the peer. The transport takes ownership of `data` (the caller will not reuse it), unless
   * `release` is given: the transport then calls it once, with `data`, when it no longer reads those bytes
   * (handed to the OS, copied, or dropped), and the caller may reuse their memory from then on (its output
   * buffers alternate instead of being copied at each flush). A transport may never call it (the caller then
   * leaves the memory to the collector); it must never call it early.
   * Returns false when the transport is holding unsent bytes (the core should wait for `onDrain`).
   */
  write(data: Uint8Array, release?: (data: Uint8Array) => void): boolean;
  /**
   * Capability: write `buf[0, len)` to the OS now, when nothing is queued ahead of it, without keeping `buf` (what
   * the OS does not take at once is copied and sent after, as `write` would). Returns undefined when it did not
   * write (bytes already queued, TLS in JavaScript, closing): use `write` then. Otherwise what `write` returns.
   * No copy of the batch and no second turn through the transport's queue per flush (a request, a reply, a
   * PubAck); a receiver with this capability also hands its output over in the middle of a turn once a batch is
   * pending (client.ts EAGER_FLUSH).
   */
  writeNow?(buf: Uint8Array, len: number): boolean | undefined;
  /** Bytes accepted by `write` but not yet handed to the OS / peer. */
  bufferedAmount(): number;
  /** Close the connection after flushing what was already written (best effort). */
  close(): void;
  /**
   * Capability: stop (true) or resume (false) taking input from the peer. While paused the kernel's buffers
   * fill and TCP slows the sender: the back-pressure that bounds what a stalled connection holds in memory.
   * Absent on transports that cannot pause; the core then holds what arrives.
   */
  pauseReading?(paused: boolean): void;
  /**
   * Capability: every buffer handed to `onData` is new and never touched by the transport again, so the core
   * may keep it (or a view of it) past the call instead of copying what it holds back. Absent or false: the
   * buffer is only valid during the call (the transport reuses it).
   */
  readonly freshReads?: boolean;
  /**
   * Capability (with freshReads): the core is done with `data`, a buffer it got from `onData` or a view into one,
   * and keeps no other view of that read: the transport may free its memory now (Bun: a read is a fresh buffer that
   * otherwise waits for a full collection; the core, holding nothing past the call on a transport that reuses its
   * buffer, copies whatever it keeps). Called at most once per read, never for a read still partly unparsed.
   */
  recycleRead?(data: Uint8Array): void;
  /**
   * Capability: turn this connection into TLS in place (the STARTTLS-like upgrade nats-server does after its
   * plain INFO). Bytes written before the call go out in the clear first; afterwards `write` takes cleartext and
   * `onData` delivers cleartext. Resolves with what was negotiated (also in `info.tls`); rejects when the
   * handshake fails, and the connection is then closed. Absent on transports that cannot upgrade.
   */
  startTls?(settings: TlsSettings): Promise<TlsInfo>;
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
  /**
   * Check TLS settings once, at start-up (cert and key parse and match, CA parses), so a bad file stops the
   * server instead of failing every handshake. Throws an Error naming the problem. Absent: no TLS here.
   */
  prepareTls?(settings: TlsSettings): void;
  /**
   * Load what TLS needs, when the transport keeps it out of a plain server's memory. Awaited before the first
   * `prepareTls`/`startTls` (the server does so at start when its options use TLS anywhere). Absent: nothing to load.
   */
  loadTls?(): Promise<void>;
}
