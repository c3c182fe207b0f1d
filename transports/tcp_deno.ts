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
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_HIGH_WATER_MARK, attachHandler, earlyHandler, toError, WriteQueue } from "./write_queue.ts";
import { lightTimeout } from "../src/runtime/light_timers.ts";
import type { Timer } from "../src/runtime/clock.ts";
import type { TcpOptions } from "./tcp_bun.ts";

/**
 * Read buffers start small (many idle connections are cheap) and grow while reads fill them, up to 64 KiB: what
 * nats-server reads at a time, and what the input gate parses in one turn (READ_SLICE). A larger read is parsed
 * in slices with its remainder copied and held between turns: at 256 KiB that was ~190 KiB of garbage per read
 * under a fast publisher (pub-16 on Deno: peak RSS 129-134 MB; 65-69 MB with 64 KiB reads).
 */
const MIN_READ = 4 * 1024;
const MAX_READ = 64 * 1024;

const NO_BYTES = new Uint8Array(0);

function netAddr(a: Deno.Addr): { host: string; port: number } {
  return a.transport === "tcp" || a.transport === "udp" ? { host: unmapIPv4(a.hostname), port: a.port } : { host: "", port: 0 };
}

class DenoConn implements Duplex {
  info: ConnInfo;
  /** Until the accept (or dial) has made the real one: see earlyHandler. */
  handler: ConnHandler = earlyHandler();
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
  /** A light timer: a runtime setTimeout on Deno loads Node's timer layer, +3.3 MB for good (light_timers.ts). */
  private lingerTimer: Timer | undefined;
  private readonly startWrites = () => this.writeNext();
  /** The batch being written (what is left of it after a short write). */
  private writeBuf: Uint8Array = NO_BYTES;
  private readonly onWritten = (n: number) => this.written(n);
  private readonly onWriteFailed = (e: unknown) => this.fail(e);

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
    this.lingerTimer = lightTimeout(this.closeTimeoutMs, () => this.destroy());
    tls.end();
  }

  private closeRaw(): void {
    if (this.closing || this.closed) return;
    this.lingerTimer?.cancel();
    this.closing = true;
    // A paused reader must still see the peer's close.
    this.pauseReading(false);
    this.lingerTimer = lightTimeout(this.closeTimeoutMs, () => this.destroy());
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
    this.readNext();
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

  /** The read buffer, grown and shrunk with the reads (see `read`). */
  private rbuf = new Uint8Array(MIN_READ);
  private smallReads = 0;
  private readonly onRead = (n: number | null) => this.read(n);
  private readonly onReadFailed = (e: unknown) => this.fail(e);
  private readonly readAfterPause = () => this.readNext(true);

  /**
   * The read loop, as promise callbacks bound once (an async loop cost its own promise and frame per read: see
   * writeNext). `resumed`: the wait for a paused reader is over, read whether or not it paused again since.
   */
  private readNext(resumed = false): void {
    try {
      const paused = this.readPaused;
      if (!resumed && paused !== undefined && !this.closing && !this.closed) {
        paused.promise.then(this.readAfterPause, this.onReadFailed);
        return;
      }
      this.conn.read(this.rbuf).then(this.onRead, this.onReadFailed);
    } catch (e) {
      this.fail(e);
    }
  }

  private read(n: number | null): void {
    if (n === null) {
      // EOF: the peer closed (or, after our closeWrite, acknowledged our close).
      this.release();
      this.finish(undefined);
      return;
    }
    try {
      // After our close: drain the peer's bytes until it closes.
      if (!this.closing && !this.closed) {
        const buf = this.rbuf;
        if (this.tls !== undefined) this.tls.feed(buf.subarray(0, n));
        else this.handler.onData(buf.subarray(0, n));
        if (n === buf.length) {
          this.smallReads = 0;
          if (buf.length < MAX_READ) this.rbuf = new Uint8Array(buf.length * 2);
        } else if (n < buf.length >> 2 && buf.length > MIN_READ && ++this.smallReads > 16) {
          this.smallReads = 0;
          this.rbuf = new Uint8Array(buf.length >> 1);
        }
      }
    } catch (e) {
      this.fail(e);
      return;
    }
    this.readNext();
  }

  /**
   * The write loop, as promise callbacks bound once: one batch at a time until the queue is empty. (An async
   * loop cost its own promises and a frame per batch: on a request/reply or sync publish load, a batch per
   * message, and their garbage sets how often V8 stops for a scavenge.)
   */
  private writeNext(): void {
    try {
      if (this.closed || this.queue.isEmpty()) {
        this.writesDone();
        return;
      }
      const buf = this.queue.take();
      this.writeBuf = buf;
      this.inFlight = buf.length;
      this.conn.write(buf).then(this.onWritten, this.onWriteFailed);
    } catch (e) {
      this.fail(e);
    }
  }

  private written(n: number): void {
    if (this.closed) return;
    try {
      const buf = this.writeBuf;
      if (n < buf.length) {
        const rest = buf.subarray(n);
        this.writeBuf = rest;
        this.inFlight = rest.length;
        this.conn.write(rest).then(this.onWritten, this.onWriteFailed);
        return;
      }
      this.writeBuf = NO_BYTES;
      this.inFlight = 0;
      this.queue.done(); // written: the writer may reuse the memory
    } catch (e) {
      this.fail(e);
      return;
    }
    this.writeNext();
  }

  /** The queue is empty (or the connection closed): drain and close-after-flush come here. */
  private writesDone(): void {
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
      this.conn.closeWrite().catch(this.onWriteFailed);
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
      this.lingerTimer.cancel();
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
      this.lingerTimer.cancel();
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
      attachHandler(dc, handlerFor(dc));
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
