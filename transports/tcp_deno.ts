/**
 * TCP on Deno (`Deno.listen` / `Deno.connect`). One read loop per connection into a reused buffer, and one write
 * loop that never has two writes in flight: small writes queued while a write is pending are gathered into one
 * buffer for the next write, so a burst of small messages costs one syscall; large ones are written as they are
 * and handed back to their writer afterwards (see WriteQueue).
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
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_HIGH_WATER_MARK, toError, WriteQueue } from "./write_queue.ts";
import type { TcpOptions } from "./tcp_bun.ts";

/**
 * Read buffers start small (many idle connections are cheap) and grow while reads fill them, up to 64 KiB: what
 * nats-server reads at a time, and what the input gate parses in one turn (READ_SLICE). A larger read is parsed
 * in slices with its remainder copied and held between turns: at 256 KiB that was ~190 KiB of garbage per read
 * under a fast publisher (pub-16 on Deno: peak RSS 129-134 MB; 65-69 MB with 64 KiB reads).
 */
const MIN_READ = 4 * 1024;
const MAX_READ = 64 * 1024;

const NOOP_HANDLER: ConnHandler = { onData() {}, onDrain() {}, onClose() {} };

function netAddr(a: Deno.Addr): { host: string; port: number } {
  return a.transport === "tcp" || a.transport === "udp" ? { host: unmapIPv4(a.hostname), port: a.port } : { host: "", port: 0 };
}

class DenoConn implements Duplex {
  info: ConnInfo;
  handler: ConnHandler = NOOP_HANDLER;
  /** Set by startTls: from then on the socket carries ciphertext and the session sits between it and the core. */
  private tls: TlsSession | undefined;
  private tlsEnding = false;
  private readonly queue = new WriteQueue();
  /** Bytes handed to the in-flight write and not yet confirmed. */
  private inFlight = 0;
  /** A write loop is scheduled or running. */
  private writing = false;
  private needDrain = false;
  private closing = false;
  private closed = false;
  /** The socket has been released (conn.close() called). */
  private released = false;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly startWrites = () => {
    this.writeLoop().catch((e) => this.fail(e));
  };

  constructor(
    private readonly conn: Deno.TcpConn,
    private readonly hwm: number,
    private readonly closeTimeoutMs: number,
  ) {
    const r = netAddr(conn.remoteAddr);
    const l = netAddr(conn.localAddr);
    this.info = { kind: "tcp", remoteHost: r.host, remotePort: r.port, localHost: l.host, localPort: l.port };
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

  startTls(settings: TlsSettings): Promise<TlsInfo> {
    if (this.tls !== undefined || this.closing || this.closed) {
      return Promise.reject(new Error("startTls: connection already upgraded or closing"));
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

  /** Queue bytes for the socket itself (ciphertext once TLS is on). */
  private writeRaw(data: Uint8Array, release?: (data: Uint8Array) => void): boolean {
    if (this.closing || this.closed) return false;
    if (data.length > 0) {
      this.queue.push(data, release);
      if (!this.writing) {
        this.writing = true;
        queueMicrotask(this.startWrites);
      }
    }
    if (this.queue.bytes + this.inFlight < this.hwm) return true;
    this.needDrain = true;
    return false;
  }

  bufferedAmount(): number {
    return (this.tls === undefined ? 0 : this.tls.buffered()) + this.queue.bytes + this.inFlight;
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
    this.closing = true;
    // A paused reader must still see the peer's close.
    this.pauseReading(false);
    this.lingerTimer = setTimeout(() => this.destroy(), this.closeTimeoutMs);
    if (!this.writing) {
      this.writing = true;
      queueMicrotask(this.startWrites);
    }
  }

  /** Drop the connection now, discarding unsent bytes (not part of the contract; used by tests and shutdown). */
  destroy(err?: Error): void {
    this.release();
    this.finish(err);
  }

  /** Cleartext to the core (from the TLS session). */
  private deliver(data: Uint8Array): void {
    if (this.closing || this.closed) return;
    try {
      this.handler.onData(data);
    } catch (e) {
      this.fail(e);
    }
  }

  start(): void {
    this.readLoop().catch((e) => this.fail(e));
  }

  /** Set while reading is paused (pauseReading): the read loop waits on it. */
  private readPaused: { promise: Promise<void>; resolve: () => void } | undefined;

  pauseReading(paused: boolean): void {
    if (paused) {
      if (this.readPaused === undefined) {
        let resolve = () => {};
        const promise = new Promise<void>((r) => (resolve = r));
        this.readPaused = { promise, resolve };
      }
      return;
    }
    const p = this.readPaused;
    this.readPaused = undefined;
    p?.resolve();
  }

  private async readLoop(): Promise<void> {
    let buf = new Uint8Array(MIN_READ);
    let small = 0;
    for (;;) {
      if (this.readPaused !== undefined && !this.closing && !this.closed) await this.readPaused.promise;
      const n = await this.conn.read(buf);
      if (n === null) break;
      if (this.closing || this.closed) continue; // after our close: drain the peer's bytes until it closes
      if (this.tls !== undefined) this.tls.feed(buf.subarray(0, n));
      else this.handler.onData(buf.subarray(0, n));
      if (n === buf.length) {
        small = 0;
        if (buf.length < MAX_READ) buf = new Uint8Array(buf.length * 2);
      } else if (n < buf.length >> 2 && buf.length > MIN_READ && ++small > 16) {
        small = 0;
        buf = new Uint8Array(buf.length >> 1);
      }
    }
    // EOF: the peer closed (or, after our closeWrite, acknowledged our close).
    this.release();
    this.finish(undefined);
  }

  private async writeLoop(): Promise<void> {
    const conn = this.conn;
    while (!this.closed && !this.queue.isEmpty()) {
      let buf = this.queue.take();
      this.inFlight = buf.length;
      while (buf.length > 0) {
        const n = await conn.write(buf);
        if (this.closed) return;
        buf = buf.subarray(n);
        this.inFlight = buf.length;
      }
      this.queue.done(); // written: the writer may reuse the memory
    }
    this.writing = false;
    if (this.closed) return;
    if (this.needDrain) {
      this.needDrain = false;
      if (!this.closing) this.handler.onDrain();
    }
    if (this.closing) {
      // FIN after the flushed bytes; keep reading (and discarding) until the peer closes, so unread input does
      // not turn our close into a reset that could destroy what we just sent. The linger timer bounds the wait.
      this.finish(undefined, true);
      await conn.closeWrite();
    }
  }

  private fail(e: unknown): void {
    const err = toError(e);
    const benign = this.released || err.name === "BadResource" || err.name === "Interrupted";
    this.release();
    this.finish(benign && this.closed ? undefined : err);
  }

  private release(): void {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    this.queue.clear();
    this.inFlight = 0;
    if (this.released) return;
    this.released = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  /** Report the end to the core exactly once. `lingering`: our graceful close still waits for the peer. */
  private finish(err: Error | undefined, lingering = false): void {
    if (!lingering && this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    if (this.closed) return;
    this.closed = true;
    this.pauseReading(false);
    this.tls?.destroy();
    this.handler.onClose(err);
  }
}

export function createDenoTcpTransport(options: TcpOptions = {}): Transport {
  const hwm = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;

  function adopt(conn: Deno.TcpConn, handlerFor: (conn: Duplex) => ConnHandler): DenoConn {
    try {
      conn.setNoDelay(true);
    } catch {
      // not fatal: latency only
    }
    const dc = new DenoConn(conn, hwm, closeTimeoutMs);
    try {
      dc.handler = handlerFor(dc);
    } catch (e) {
      dc.destroy(toError(e));
      throw e;
    }
    dc.start();
    return dc;
  }

  function listen(lo: ListenOptions, accept: AcceptFn): Promise<Listener> {
    let listener: Deno.TcpListener;
    try {
      listener = bindFirst(bindCandidates(lo.host), (hostname) => Deno.listen({ hostname, port: lo.port, transport: "tcp" }));
    } catch (e) {
      return Promise.reject(toError(e));
    }
    let stopped = false;
    const loop = async () => {
      while (!stopped) {
        let conn: Deno.TcpConn;
        try {
          conn = await listener.accept();
        } catch {
          if (stopped) return;
          // e.g. EMFILE: back off instead of spinning
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        if (stopped) {
          conn.close();
          return;
        }
        try {
          adopt(conn, accept);
        } catch {
          // the core refused the connection; it is closed
        }
      }
    };
    const done = loop();
    const addr = netAddr(listener.addr);
    return Promise.resolve({
      // The configured host ("0.0.0.0" stays "0.0.0.0" though "::" is bound), as nats-server reports it.
      host: addr.host === "::" && lo.host !== "::" ? lo.host : addr.host,
      port: addr.port,
      async close() {
        if (stopped) return;
        stopped = true;
        try {
          listener.close();
        } catch {
          // already closed
        }
        await done;
      },
    });
  }

  async function dial(
    to: { host: string; port: number },
    handlerFor: (conn: Duplex) => ConnHandler,
  ): Promise<Duplex> {
    const conn = await Deno.connect({ hostname: to.host, port: to.port, transport: "tcp" });
    return adopt(conn, handlerFor);
  }

  return { listen, dial, prepareTls: (s) => tlsModule().prepareTls(s), loadTls };
}

export const denoTcpTransport: Transport = createDenoTcpTransport();
