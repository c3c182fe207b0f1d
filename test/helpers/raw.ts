// A raw TCP client for byte-level protocol tests: what is sent is exactly what the server sees, and
// everything received is kept so tests can assert on the exact lines.
import { Buffer } from "node:buffer";
import { connect as netConnect, type Socket } from "node:net";

export type Matcher = RegExp | string | ((text: string) => boolean);

export interface RawClient {
  /** Write text (latin1, byte-for-byte) or bytes. */
  send(data: string | Uint8Array): Promise<void>;
  /**
   * Waits until the not-yet-consumed input matches; returns the consumed text: up to the end of the match
   * for a RegExp/string, everything received so far for a predicate. Throws on timeout or close without match.
   */
  readUntil(m: Matcher, timeoutMs?: number): Promise<string>;
  /** Resolves once the server closed the connection; throws if it is still open after timeoutMs. */
  expectClosed(timeoutMs?: number): Promise<void>;
  /** Resolves true if closed within timeoutMs, false otherwise. */
  waitClosed(timeoutMs?: number): Promise<boolean>;
  /** Asserts the connection is still open after a round trip (PING -> PONG). */
  expectOpen(timeoutMs?: number): Promise<void>;
  /** All complete CRLF-terminated lines received so far (payload lines included). */
  lines(): string[];
  /** Everything received so far. */
  text(): string;
  /** Stop reading from the socket (kernel buffers fill up; the server sees a slow consumer). */
  pause(): void;
  /** Read from the socket again after pause(). */
  resume(): void;
  /** While paused: read one chunk from the socket and pause again (a slow reader, not a stuck one). */
  readOneChunk(): Promise<void>;
  closed(): boolean;
  close(): void;
  /** Bytes received so far. */
  bytesReceived(): number;
  /**
   * The error of a write the socket refused (EPIPE, ECONNRESET: the server had closed), if any. The runtime then
   * drops the socket, and what the server sent before its close but this process had not read yet is lost.
   */
  sendError(): string | undefined;
}

export function connectRaw(port: number, host = "127.0.0.1", timeoutMs = 3000): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const sock: Socket = netConnect({ host, port });
    sock.setNoDelay(true);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`raw connect to ${host}:${port} timed out`));
    }, timeoutMs);
    sock.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once("connect", () => {
      clearTimeout(timer);
      resolve(wrapSocket(sock));
    });
  });
}

/** A RawClient over an already connected socket (a TLS socket too). */
export function wrapSocket(sock: Socket): RawClient {
  let buf = "";
  let cursor = 0;
  let received = 0;
  let isClosed = false;
  let sendError: string | undefined;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  let pauseAfterChunk = false;
  sock.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (pauseAfterChunk) {
      pauseAfterChunk = false;
      sock.pause();
    }
    // Keep memory bounded in flood tests: only the last 1 MB of text is retained.
    buf += chunk.toString("latin1");
    if (buf.length > 2_000_000) {
      const drop = buf.length - 1_000_000;
      buf = buf.slice(drop);
      cursor = Math.max(0, cursor - drop);
    }
    notify();
  });
  sock.on("error", () => { /* surfaced as close */ });
  sock.on("close", () => {
    isClosed = true;
    notify();
  });
  // Half-close from the server is treated as closed as well.
  sock.on("end", () => {
    isClosed = true;
    notify();
    sock.destroy();
  });

  const tryMatch = (m: Matcher): string | undefined => {
    const rest = buf.slice(cursor);
    if (typeof m === "function") {
      if (!m(rest)) return undefined;
      cursor = buf.length;
      return rest;
    }
    if (typeof m === "string") {
      const i = rest.indexOf(m);
      if (i < 0) return undefined;
      cursor += i + m.length;
      return rest.slice(0, i + m.length);
    }
    const r = new RegExp(m.source, m.flags.replace("g", ""));
    const found = r.exec(rest);
    if (!found) return undefined;
    const end = found.index + found[0].length;
    cursor += end;
    return rest.slice(0, end);
  };

  const wait = (cond: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (cond()) return resolve(true);
      const check = () => {
        if (cond()) done(true);
      };
      const done = (v: boolean) => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(check);
    });

  const client: RawClient = {
    send(data) {
      if (isClosed) return Promise.resolve();
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      return new Promise((resolve) => {
        // A write to a socket the server just closed may never call back: a close ends the wait too.
        const check = () => {
          if (isClosed) finish();
        };
        const finish = () => {
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        sock.write(bytes, (err) => {
          if (err) sendError ??= (err as NodeJS.ErrnoException).code ?? String(err);
          finish();
        });
      });
    },
    async readUntil(m, timeoutMs = 2000) {
      let result: string | undefined;
      const ok = await wait(() => {
        result = tryMatch(m);
        return result !== undefined || isClosed;
      }, timeoutMs);
      if (result === undefined) result = tryMatch(m); // data and close may arrive together
      if (result !== undefined) return result;
      const why = ok ? "connection closed" : `timeout after ${timeoutMs} ms`;
      throw new Error(`readUntil(${String(m)}): ${why}; unconsumed: ${JSON.stringify(buf.slice(cursor, cursor + 500))}`);
    },
    async expectClosed(timeoutMs = 2000) {
      if (!(await wait(() => isClosed, timeoutMs))) {
        throw new Error(`connection still open after ${timeoutMs} ms; received: ${JSON.stringify(buf.slice(-500))}`);
      }
    },
    waitClosed(timeoutMs = 2000) {
      return wait(() => isClosed, timeoutMs);
    },
    async expectOpen(timeoutMs = 2000) {
      await client.send("PING\r\n");
      await client.readUntil("PONG\r\n", timeoutMs);
      if (isClosed) throw new Error("connection closed");
    },
    lines() {
      const parts = buf.split("\r\n");
      parts.pop();
      return parts;
    },
    text: () => buf,
    pause() {
      sock.pause();
    },
    resume() {
      pauseAfterChunk = false;
      sock.resume();
    },
    readOneChunk() {
      const before = received;
      return new Promise<void>((resolve) => {
        const w = () => {
          if (received === before && !isClosed) return;
          waiters.delete(w);
          resolve();
        };
        waiters.add(w);
        pauseAfterChunk = true;
        sock.resume();
      });
    },
    closed: () => isClosed,
    close() {
      sock.destroy();
    },
    bytesReceived: () => received,
    sendError: () => sendError,
  };
  return client;
}

/** Reads the INFO line the server sends first and parses its JSON. */
export async function readInfo(c: RawClient, timeoutMs = 2000): Promise<Record<string, unknown>> {
  const text = await c.readUntil(/INFO [^\r\n]*\r\n/, timeoutMs);
  const line = text.slice(text.indexOf("INFO "));
  return JSON.parse(line.slice(5).trim()) as Record<string, unknown>;
}

/** Connects, reads INFO and sends CONNECT (non-verbose, non-pedantic unless overridden). */
export async function connectReady(
  port: number,
  connectOpts: Record<string, unknown> = {},
): Promise<{ c: RawClient; info: Record<string, unknown> }> {
  const c = await connectRaw(port);
  const info = await readInfo(c);
  await c.send(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connectOpts })}\r\n`);
  return { c, info };
}
