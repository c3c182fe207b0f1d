/**
 * TCP on Bun (`Bun.listen` / `Bun.connect`). Bun sockets do not buffer: `socket.write` returns how many bytes the
 * kernel took. Writes are gathered for one microtask and handed to the socket as one buffer; what the kernel
 * refuses stays queued, in order, until Bun's `drain` callback.
 */
import type {
  AcceptFn,
  ConnHandler,
  ConnInfo,
  Duplex,
  Listener,
  ListenOptions,
  TlsInfo,
  TlsSettings,
  Transport,
} from "../src/transport/types.ts";
import type { TlsSession } from "./tls_session.ts";
import { loadTls, tlsModule } from "./tls_loader.ts";
import { bindCandidates, bindFirst, unmapIPv4 } from "../src/transport/addr.ts";
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_HIGH_WATER_MARK, attachHandler, earlyHandler, toError, WriteQueue } from "./write_queue.ts";
import { noteRead, noteRecycled } from "./read_pacer_bun.ts";
import { LARGE_READ, ReceiveWindow } from "./recv_window_bun.ts";

export interface TcpOptions {
  /** `write` returns false once this many bytes wait to be sent. */
  highWaterMark?: number;
  /** How long `close()` may take to flush and see the peer close before the socket is dropped. */
  closeTimeoutMs?: number;
}

type BunSocket = Bun.Socket<BunConn | undefined>;

/** Reads smaller than this are not detached by recycleRead (see there). */
export const RECYCLE_MIN = 16 * 1024;

class BunConn implements Duplex {
  info: ConnInfo;
  /** Until the accept (or dial) has made the real one: see earlyHandler. */
  handler: ConnHandler = earlyHandler();
  /** Set by startTls: from then on the socket carries ciphertext and the session sits between it and the core. */
  private tls: TlsSession | undefined;
  private tlsEnding = false;
  /** Upgraded with Bun's own TLS (socket.upgradeTLS): `socket` is the TLS socket, the rest works as on plain TCP. */
  private nativeTls = false;
  /** Rejects a native handshake still in progress when the socket goes away. */
  private nativeAbort: ((e: Error) => void) | undefined;
  private readonly queue = new WriteQueue();
  /** Taken from the queue and refused (in part) by the kernel; always sent before the queue. */
  private pending: Uint8Array | null = null;
  private scheduled = false;
  private needDrain = false;
  private closing = false;
  private closed = false;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bounds the kernel receive buffer for a fast sender on a short path; reads the fd Bun has (untyped) while open. */
  private readonly window = new ReceiveWindow(() =>
    this.closed || this.closing ? undefined : (this.socket as unknown as { fd?: number }).fd
  );
  private readonly flushTask = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private socket: BunSocket,
    private readonly hwm: number,
    private readonly closeTimeoutMs: number,
  ) {
    this.info = {
      kind: "tcp",
      remoteHost: unmapIPv4(socket.remoteAddress),
      remotePort: socket.remotePort,
      localHost: unmapIPv4(socket.localAddress),
      localPort: socket.localPort,
    };
  }

  /** Bun hands each read over in a buffer of its own (the portable TLS session's output is not vouched for). */
  get freshReads(): boolean {
    return this.tls === undefined;
  }

  /**
   * The core parsed all of a read: its buffer (Bun's own, one per read) is detached, which hands its memory back
   * to the allocator at once; left alone it waits for a full collection, and a fast publisher's 512 KiB reads
   * piled up 20–60 MB of dead buffers between the pacer's collections (cluster-pubsub-1k, fanout-16).
   * A small read is left to the collector: detaching costs two ArrayBuffer cells (`.buffer`, and the one
   * `transfer` returns) to free a few hundred bytes, and a sync publish or a request is one small read. Counted in
   * process (bench/alloc_per_msg.ts): js-r1-sync 1,066 -> 874 bytes per publish (3 -> 1 ArrayBuffers), cluster
   * request/reply 3,300-3,700 -> 2,150-2,550 bytes per request (12 -> 4), so fewer eden collections inside them.
   */
  recycleRead(data: Uint8Array): void {
    if (data.byteLength < RECYCLE_MIN) return;
    const b = data.buffer as ArrayBuffer;
    const n = b.byteLength;
    try {
      b.transfer(0);
    } catch {
      return; // not detachable (pinned by the runtime): the collector frees it
    }
    noteRecycled(n);
  }

  pauseReading(paused: boolean): void {
    if (this.closing || this.closed) return;
    if (paused) this.socket.pause();
    else this.socket.resume();
  }

  write(data: Uint8Array, release?: (data: Uint8Array) => void): boolean {
    const tls = this.tls;
    if (tls === undefined) return this.writeRaw(data, release);
    if (this.tlsEnding || this.closing || this.closed) return false;
    if (data.length > 0) tls.write(data);
    if (this.bufferedAmount() < this.hwm) return true;
    this.needDrain = true;
    return false;
  }

  /** Is this Bun socket the one this connection speaks through (not the raw one under a native TLS socket)? */
  owns(socket: BunSocket): boolean {
    return socket === this.socket;
  }

  startTls(settings: TlsSettings): Promise<TlsInfo> {
    if (this.tls !== undefined || this.nativeTls || this.closing || this.closed) {
      return Promise.reject(new Error("startTls: connection already upgraded or closing"));
    }
    // The server side takes Bun's native TLS (OpenSSL in the runtime, several times cheaper per message than
    // node:tls over a JS stream) once the plain INFO is in the kernel's hands; otherwise the portable session.
    if (settings.role === "server" && settings.minVersion === undefined) {
      this.flush();
      if (this.pending === null && this.queue.isEmpty() && !this.closed) return this.upgradeNative(settings);
    }
    const session = new (tlsModule().TlsSession)(settings, {
      rawWrite: (d) => void this.writeRaw(d),
      rawClose: () => this.closeRaw(),
    }, {
      onSecure: (tls) => {
        this.info = { ...this.info, tls };
      },
      onClear: (d) => this.deliver(d),
      onFailure: () => this.closeRaw(),
    });
    this.tls = session;
    return session.handshake;
  }

  private upgradeNative(settings: TlsSettings): Promise<TlsInfo> {
    let resolve!: (i: TlsInfo) => void;
    let reject!: (e: Error) => void;
    const done = new Promise<TlsInfo>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      this.nativeAbort = undefined;
      reject(e);
    };
    this.nativeAbort = fail;
    const conn = this;
    const options: Bun.TLSOptions & { isServer: boolean } = {
      isServer: true,
      cert: settings.cert,
      key: settings.key,
      requestCert: settings.verify,
      rejectUnauthorized: settings.verify,
    };
    if (settings.ca !== undefined) options.ca = settings.ca;
    if (settings.ciphers !== undefined) options.ciphers = settings.ciphers;
    const [, secure] = this.socket.upgradeTLS<BunConn | undefined>({
      data: this,
      tls: options,
      socket: {
        binaryType: "uint8array",
        handshake(sock, success, authError) {
          // !success: the handshake itself failed (plaintext, reset, a refused certificate). authError alone speaks
          // of the peer's certificate, which matters only when one is required.
          if (!success || (settings.verify && authError !== null)) {
            fail(authError ?? new Error("TLS handshake failed"));
            conn.destroy();
            return;
          }
          if (settings.verify) {
            const why = tlsModule().verifyClientCertificate(sock, settings, Date.now());
            if (why !== undefined) {
              fail(new Error(`client certificate refused: ${why}`));
              conn.destroy();
              return;
            }
          }
          const info = tlsModule().infoOf(sock, sock.getTLSVersion());
          conn.info = { ...conn.info, tls: info };
          settled = true;
          conn.nativeAbort = undefined;
          resolve(info);
        },
        data(sock, data) {
          if (conn.owns(sock)) conn.onSocketData(data);
        },
        drain(sock) {
          if (conn.owns(sock)) conn.flush();
        },
        close(sock, err) {
          if (!conn.owns(sock)) return;
          fail(err ?? new Error("connection closed before the TLS handshake completed"));
          conn.onSocketClose(err);
        },
        error(sock, err) {
          if (!conn.owns(sock)) return;
          fail(err);
          conn.destroy(err);
        },
      },
    });
    this.socket = secure;
    this.nativeTls = true;
    return done;
  }

  /** Queue bytes for the socket itself (ciphertext once TLS is on). */
  private writeRaw(data: Uint8Array, release?: (data: Uint8Array) => void): boolean {
    if (this.closing || this.closed) return false;
    if (data.length === 0) return this.bufferedAmount() < this.hwm;
    this.queue.push(data, release);
    if (!this.scheduled && this.pending === null) {
      this.scheduled = true;
      queueMicrotask(this.flushTask);
    }
    if (this.queue.bytes + (this.pending === null ? 0 : this.pending.length) < this.hwm) return true;
    this.needDrain = true;
    return false;
  }

  /**
   * Duplex.writeNow: with nothing queued, a batch goes to the socket from the caller's memory (Bun's write takes an
   * offset and a length: no view, no copy); the rest, if the kernel did not take it all, is copied and waits for
   * `drain` as a partial write does in `flush`.
   */
  writeNow(buf: Uint8Array, len: number): boolean | undefined {
    if (this.tls !== undefined || this.closing || this.closed || this.pending !== null || !this.queue.isEmpty()) return undefined;
    if (len === 0) return true;
    const n = this.socket.write(buf, 0, len);
    if (n < 0) {
      this.destroy(new Error("write on a closed socket"));
      return false;
    }
    if (n === len) return true;
    this.pending = buf.slice(n, len); // Bun calls `drain` when the kernel takes more
    if (this.pending.length < this.hwm) return true;
    this.needDrain = true;
    return false;
  }

  bufferedAmount(): number {
    return (this.tls === undefined ? 0 : this.tls.buffered()) + this.queue.bytes + (this.pending === null ? 0 : this.pending.length);
  }

  close(): void {
    const tls = this.tls;
    // before the handshake is done there is no session to close politely
    if (tls === undefined || tls.info === undefined) return this.closeRaw();
    if (this.tlsEnding || this.closing || this.closed) return;
    // close_notify first; the session closes the socket after it (the timer bounds a session that never does)
    this.tlsEnding = true;
    this.lingerTimer = setTimeout(() => this.destroy(), this.closeTimeoutMs);
    tls.end();
  }

  private closeRaw(): void {
    if (this.closing || this.closed) return;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    // A paused reader must still see the peer's close.
    this.socket.resume();
    this.closing = true;
    this.lingerTimer = setTimeout(() => this.destroy(), this.closeTimeoutMs);
    if (!this.scheduled && this.pending === null) {
      this.scheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Drop the connection now, discarding unsent bytes (not part of the contract; used by tests and shutdown). */
  destroy(err?: Error): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.queue.clear();
    this.pending = null;
    // report first: terminate() runs Bun's close callback synchronously, which would report without the error
    this.finish(err);
    try {
      this.socket.terminate();
    } catch {
      // already gone
    }
  }

  /** Hand as much as the kernel takes to the socket. Called from the microtask and from Bun's `drain`. */
  flush(): void {
    if (this.closed) return;
    const socket = this.socket;
    for (;;) {
      let buf = this.pending;
      if (buf === null) {
        if (this.queue.isEmpty()) break;
        buf = this.queue.take();
      }
      const n = socket.write(buf);
      if (n < 0) {
        this.destroy(new Error("write on a closed socket"));
        return;
      }
      if (n < buf.length) {
        this.pending = buf.subarray(n);
        return; // Bun calls `drain` when the kernel takes more
      }
      this.pending = null;
      this.queue.done(); // the kernel has the bytes: their writer may reuse the memory
    }
    if (this.needDrain) {
      this.needDrain = false;
      if (!this.closing) this.handler.onDrain();
    }
    if (this.closing && !this.closed) {
      // FIN after the flushed bytes; the linger timer drops the socket if the peer never closes its side.
      try {
        socket.end();
      } catch {
        // already gone
      }
      this.finish(undefined, true);
    }
  }

  /** Bun's `close` callback: the socket is gone. */
  onSocketClose(err?: Error): void {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.queue.clear();
    this.pending = null;
    this.finish(err);
  }

  onSocketData(data: Uint8Array): void {
    noteRead(data.length); // every read is a fresh buffer: large ones are paced into full collections
    if (this.closing || this.closed) return;
    // a sender that outruns us: smaller reads, if the round trip allows (recv_window_bun.ts)
    if (data.length >= LARGE_READ && this.tls === undefined && !this.nativeTls) this.window.onLargeRead();
    if (this.tls !== undefined) {
      this.tls.feed(data);
      return;
    }
    this.deliver(data);
  }

  /** Cleartext to the core. */
  private deliver(data: Uint8Array): void {
    if (this.closing || this.closed) return;
    try {
      this.handler.onData(data);
    } catch (e) {
      // a bug in the core: the connection's state cannot be trusted any more
      this.destroy(toError(e));
    }
  }

  /** Report the end to the core exactly once. `keepTimer`: our graceful close is still lingering. */
  private finish(err: Error | undefined, keepTimer = false): void {
    if (!keepTimer && this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    if (this.closed) return;
    this.closed = true;
    this.tls?.destroy();
    this.nativeAbort?.(err ?? new Error("connection closed before the TLS handshake completed"));
    this.handler.onClose(err);
  }
}

function handlers(
  opts: Required<TcpOptions>,
  handlerFor: (conn: Duplex) => ConnHandler,
  onOpenError: (err: Error) => void,
): Bun.SocketHandler<BunConn | undefined> {
  return {
    binaryType: "uint8array",
    open(socket) {
      socket.setNoDelay(true);
      const conn = new BunConn(socket, opts.highWaterMark, opts.closeTimeoutMs);
      socket.data = conn;
      try {
        attachHandler(conn, handlerFor(conn));
      } catch (e) {
        onOpenError(toError(e));
        conn.destroy(toError(e));
      }
    },
    // After a native TLS upgrade the raw socket's events are the TLS socket's business: only the socket the
    // connection speaks through is listened to.
    data(socket, data) {
      const c = socket.data;
      if (c !== undefined && c.owns(socket)) c.onSocketData(data);
    },
    drain(socket) {
      const c = socket.data;
      if (c !== undefined && c.owns(socket)) c.flush();
    },
    close(socket, err) {
      const c = socket.data;
      if (c !== undefined && c.owns(socket)) c.onSocketClose(err);
    },
    error(socket, err) {
      // A handler threw (a bug in the core) or the socket failed: the connection cannot be trusted any more.
      const c = socket.data;
      if (c !== undefined && c.owns(socket)) c.destroy(err);
    },
  };
}

function withDefaults(o: TcpOptions): Required<TcpOptions> {
  return {
    highWaterMark: o.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    closeTimeoutMs: o.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
  };
}

/**
 * Bun's listen error says only "Failed to listen at <host>"; its code says why (EADDRINUSE, EACCES). The message
 * names the port and the code, as nats-server's "bind: address already in use" does, and the code stays on it.
 */
function listenError(e: unknown, port: number): Error {
  const err = toError(e);
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || err.message.includes(code)) return err;
  const out = new Error(`${err.message}:${port}: ${code === "EADDRINUSE" ? "address already in use" : "listen failed"} (${code})`);
  Object.assign(out, { code });
  return out;
}

export function createBunTcpTransport(options: TcpOptions = {}): Transport {
  const opts = withDefaults(options);

  function listen(lo: ListenOptions, accept: AcceptFn): Promise<Listener> {
    try {
      const server = bindFirst(bindCandidates(lo.host), (hostname) =>
        Bun.listen<BunConn | undefined>({
          hostname,
          port: lo.port,
          exclusive: true,
          data: undefined,
          socket: handlers(opts, accept, () => {}),
        }));
      let stopped = false;
      return Promise.resolve({
        // The configured host ("0.0.0.0" stays "0.0.0.0" though "::" is bound), as nats-server reports it.
        host: server.hostname === "::" && lo.host !== "::" ? lo.host : server.hostname,
        port: server.port,
        close() {
          if (!stopped) {
            stopped = true;
            server.stop(false);
          }
          return Promise.resolve();
        },
      });
    } catch (e) {
      return Promise.reject(listenError(e, lo.port));
    }
  }

  async function dial(
    to: { host: string; port: number },
    handlerFor: (conn: Duplex) => ConnHandler,
  ): Promise<Duplex> {
    let openError: Error | undefined;
    const socket = await Bun.connect<BunConn | undefined>({
      hostname: to.host,
      port: to.port,
      data: undefined,
      socket: {
        ...handlers(opts, handlerFor, (e) => {
          openError = e;
        }),
        connectError() {
          // the rejected promise of Bun.connect carries the error
        },
      },
    });
    if (openError !== undefined) throw openError;
    const conn = socket.data;
    if (conn === undefined) throw new Error(`connect to ${to.host}:${to.port}: socket closed before open`);
    return conn;
  }

  return { listen, dial, prepareTls: (s) => tlsModule().prepareTls(s), loadTls };
}

export const bunTcpTransport: Transport = createBunTcpTransport();
