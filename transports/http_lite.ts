/**
 * A small HTTP/1.1 server over a byte transport: what the monitoring port needs (requests with a head and an
 * optional Content-Length body, keep-alive, pipelining answered in order) and nothing more.
 *
 * Why not the runtime's own server: on Deno, `Deno.serve` brings its HTTP stack's code and state into the process
 * when it starts listening, +2.2 MB RSS against a plain `Deno.listen` (a bare script, 2 pairs: 4.6 / 4.7 vs
 * 2.4 / 2.4 MB over the same base), and every bench configuration and most deployments have an `http` port that
 * nobody asks anything most of the time (a plain start with `http` idles at 45.4 MB, without it at 43.3 MB). Served
 * over the TCP transport the server already uses for clients, an idle monitoring port costs a listener. An npm
 * HTTP server would bring node:http with it on Deno, which costs more than Deno.serve.
 *
 * A GET the caller's `plain` answers (the monitoring endpoints a metrics agent polls) is written from its text, with
 * the bytes the same answer as a Response would get, without a Request, a Response or a body stream.
 *
 * A response body that is not all there at once (the dashboard's server-sent events) goes out as it comes, chunked
 * (close-delimited to an HTTP/1.0 client); one that is gets a Content-Length.
 *
 * Fail closed on what it does not do: a chunked request body gets 501, a head over `MAX_HEAD` 431, a body over
 * `MAX_BODY` 413, anything malformed 400, another HTTP version 505; each closes the connection. TLS stays with the
 * runtime's server (the caller decides).
 */
import type { FetchHandler, HttpServer, PlainAnswer, PlainGet } from "../src/runtime/types.ts";
import type { ConnHandler, Duplex, Transport } from "../src/transport/types.ts";
import { httpDate } from "../src/runtime/utc_text.ts";
import { lightTimeout } from "../src/runtime/light_timers.ts";

export const MAX_HEAD = 16 * 1024;
export const MAX_BODY = 1024 * 1024;

/** A parsed request head; `length` is its size in bytes, blank line included. */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly length: number;
}

/** A head, "more" when the blank line has not arrived yet, or the status to refuse it with. */
export type HeadResult = RequestHead | "more" | { readonly status: number };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/;

/** Where the head ends (just past its blank line), or -1. Lines end in LF, with or without a CR before it. */
function headEnd(b: Uint8Array): number {
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) {
    if (b[i + 1] === 10) return i + 2;
    if (b[i + 1] === 13 && b[i + 2] === 10) return i + 3;
  }
  return -1;
}

/** Parses the request head at the start of `b`. */
export function parseHead(b: Uint8Array): HeadResult {
  const end = headEnd(b);
  if (end < 0) return b.length > MAX_HEAD ? { status: 431 } : "more";
  if (end > MAX_HEAD) return { status: 431 };
  let text = "";
  for (let i = 0; i < end; i++) text += String.fromCharCode(b[i]);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  const m = REQUEST_LINE.exec(lines[0]);
  if (m === null) return { status: 400 };
  if (m[3] !== "1") return { status: 505 };
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) return { status: 400 };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { status: 400 }; // also refuses obsolete line folding (a leading space)
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { method: m[1], target: m[2], minor: m[4] === "0" ? 0 : 1, headers, length: end };
}

/** The request body's length from its head, or the status to refuse it with. */
export function bodyLength(head: RequestHead): number | { readonly status: number } {
  let len: number | undefined;
  for (const [k, v] of head.headers) {
    if (k === "transfer-encoding") return { status: 501 };
    if (k !== "content-length") continue;
    if (!/^\d+$/.test(v)) return { status: 400 };
    const n = Number(v);
    if (len !== undefined && len !== n) return { status: 400 };
    len = n;
  }
  if (len !== undefined && len > MAX_BODY) return { status: 413 };
  return len ?? 0;
}

/** Whether the connection stays open after this exchange (HTTP/1.1 unless "close"; 1.0 only with "keep-alive"). */
export function keepAlive(head: RequestHead): boolean {
  const conn = head.headers.filter(([k]) => k === "connection").map(([, v]) => v.toLowerCase()).join(",");
  return head.minor === 1 ? !/(^|,)\s*close\s*(,|$)/.test(conn) : /(^|,)\s*keep-alive\s*(,|$)/.test(conn);
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  408: "Request Timeout", 413: "Content Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
  503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/**
 * The bytes of a response: status line, the response's headers, its length, and the body unless `noBody`. With
 * `streamed`, the length is left out: "chunked" says the body follows in chunks (`chunk`, then `lastChunk`),
 * "until-close" that it ends with the connection (`close` must be set).
 */
export function responseBytes(
  status: number,
  headers: Iterable<[string, string]>,
  body: Uint8Array,
  noBody: boolean,
  close: boolean,
  streamed?: "chunked" | "until-close",
): Uint8Array {
  const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n`;
  for (const [k, v] of headers) {
    if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue;
    head += `${k}: ${v}\r\n`;
  }
  if (streamed === "chunked") head += "transfer-encoding: chunked\r\n";
  else if (!bodiless && streamed === undefined) head += `content-length: ${body.length}\r\n`;
  if (close) head += "connection: close\r\n";
  head += `date: ${httpDate(Date.now())}\r\n\r\n`;
  const h = encoder.encode(head);
  if (noBody || bodiless || body.length === 0) return h;
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

/** One chunk of a chunked body (never empty: an empty chunk ends the body). */
export function chunk(data: Uint8Array): Uint8Array {
  const size = encoder.encode(`${data.length.toString(16)}\r\n`);
  const out = new Uint8Array(size.length + data.length + 2);
  out.set(size);
  out.set(data, size.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

export const lastChunk: Uint8Array = encoder.encode("0\r\n\r\n");

const LATER = Symbol("later");

/**
 * Reads `reader` for as long as each read settles before a timer turn. `rest` is the read still pending when one
 * did not (a body that is not all there yet); undefined when the body ended. The turn is a light timer's: on Deno
 * a runtime setTimeout loads Node's timer layer for the life of the process (src/runtime/light_timers.ts).
 */
export async function readReady(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ parts: Uint8Array[]; rest?: ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> }> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const next = reader.read();
    let cancel: (() => void) | undefined;
    const later = new Promise<typeof LATER>((r) => (cancel = lightTimeout(0, () => r(LATER)).cancel));
    const r = await Promise.race([next, later]);
    cancel?.();
    if (r === LATER) return { parts, rest: next };
    if (r.done) return { parts };
    if (r.value.length > 0) parts.push(r.value);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

function refusal(status: number): Uint8Array {
  return responseBytes(status, [], new Uint8Array(0), false, true);
}

/** Builds the Request for a head and body; undefined when the runtime refuses it (bad header value, method). */
function toRequest(head: RequestHead, body: Uint8Array<ArrayBuffer>, local: string): Request | undefined {
  let url: string;
  if (head.target.startsWith("/")) {
    const host = head.headers.find(([k]) => k === "host")?.[1] || local;
    url = `http://${host}${head.target}`;
  } else if (/^https?:\/\//i.test(head.target)) url = head.target;
  else return undefined;
  try {
    const hasBody = head.method !== "GET" && head.method !== "HEAD";
    return new Request(url, { method: head.method, headers: head.headers as [string, string][], body: hasBody ? body : undefined });
  } catch {
    return undefined;
  }
}

/** One connection: requests parsed from what arrives, answered one at a time, in order. */
class HttpConn implements ConnHandler {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #busy = false;
  #closed = false;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** "100 Continue" was sent for the request whose body is awaited. */
  #continued = false;
  readonly #duplex: Duplex;
  readonly #fetch: FetchHandler;
  readonly #plain: PlainGet | undefined;
  readonly #server: LiteServer;

  constructor(duplex: Duplex, fetch: FetchHandler, server: LiteServer, plain?: PlainGet) {
    this.#duplex = duplex;
    this.#fetch = fetch;
    this.#plain = plain;
    this.#server = server;
  }

  get busy(): boolean {
    return this.#busy;
  }

  onData(data: Uint8Array): void {
    if (this.#closed) return;
    const next = new Uint8Array(this.#buf.length + data.length); // the transport may reuse `data`
    next.set(this.#buf);
    next.set(data, this.#buf.length);
    this.#buf = next;
    // A client that sends faster than it is answered: past one largest request held, it is dropped.
    if (next.length > MAX_HEAD + MAX_BODY) return this.close();
    if (!this.#busy) void this.#serve();
  }

  onDrain(): void {}

  onClose(): void {
    this.#closed = true;
    void this.#reader?.cancel().catch(() => {}); // a stream's source learns its reader left
    this.#server.forget(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#reader?.cancel().catch(() => {});
    this.#duplex.close();
  }

  /** Whether a streamed body is being sent (server close ends it at once). */
  get streaming(): boolean {
    return this.#reader !== undefined;
  }

  #refuse(status: number): void {
    this.#duplex.write(refusal(status));
    this.close();
  }

  async #answer(head: RequestHead, res: Response): Promise<boolean> {
    const noBody = head.method === "HEAD";
    let close = !keepAlive(head) || this.#server.closing;
    const reader = res.body?.getReader();
    const ready = reader === undefined ? { parts: [] } : await readReady(reader);
    if (this.#closed) {
      void reader?.cancel().catch(() => {});
      return false;
    }
    if (ready.rest === undefined || reader === undefined) {
      this.#duplex.write(responseBytes(res.status, res.headers, concat(ready.parts), noBody, close));
      if (close) this.close();
      return !close;
    }
    if (noBody) {
      void reader.cancel().catch(() => {});
      this.#duplex.write(responseBytes(res.status, res.headers, new Uint8Array(0), true, true, "until-close"));
      this.close();
      return false;
    }
    // Not all there yet: sent as it comes.
    const chunked = head.minor === 1;
    if (!chunked) close = true;
    const mode = chunked ? "chunked" : "until-close";
    const framed = (b: Uint8Array) => (chunked ? chunk(b) : b);
    this.#reader = reader;
    this.#duplex.write(responseBytes(res.status, res.headers, new Uint8Array(0), true, close, mode));
    for (const p of ready.parts) this.#duplex.write(framed(p));
    try {
      for (let next = ready.rest; ;) {
        const r = await next;
        if (this.#closed) return false;
        if (r.done) break;
        if (r.value.length > 0) this.#duplex.write(framed(r.value));
        next = reader.read();
      }
    } catch {
      this.close(); // the body failed midway: the client sees the connection end without the last chunk
      return false;
    } finally {
      this.#reader = undefined;
    }
    if (chunked) this.#duplex.write(lastChunk);
    if (close || this.#server.closing) {
      this.close();
      return false;
    }
    return true;
  }

  /** The plain answer to a GET, if the caller gives one (a throw leaves the request to `fetch`). */
  async #plainAnswer(head: RequestHead): Promise<PlainAnswer | undefined> {
    if (this.#plain === undefined || head.method !== "GET" || !head.target.startsWith("/")) return undefined;
    try {
      return await this.#plain(head.target);
    } catch {
      return undefined;
    }
  }

  /** Writes a plain answer as #answer writes the same Response; false when the connection is done. */
  #answerPlain(head: RequestHead, a: PlainAnswer): boolean {
    const close = !keepAlive(head) || this.#server.closing;
    this.#duplex.write(responseBytes(a.status, [["content-type", a.contentType]], encoder.encode(a.body), false, close));
    if (close) this.close();
    return !close;
  }

  async #serve(): Promise<void> {
    this.#busy = true;
    try {
      while (!this.#closed) {
        const head = parseHead(this.#buf);
        if (head === "more") return;
        if ("status" in head) return this.#refuse(head.status);
        const len = bodyLength(head);
        if (typeof len !== "number") return this.#refuse(len.status);
        if (this.#buf.length < head.length + len) {
          // A client that waits to be told before it sends its body (curl for a POST over 1 KiB) is told once.
          if (!this.#continued && head.headers.some(([k, v]) => k === "expect" && v.toLowerCase() === "100-continue")) {
            this.#continued = true;
            this.#duplex.write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
          }
          return;
        }
        this.#continued = false;
        const body = this.#buf.slice(head.length, head.length + len);
        this.#buf = this.#buf.slice(head.length + len);
        const plain = await this.#plainAnswer(head);
        if (this.#closed) return;
        if (plain !== undefined) {
          if (!this.#answerPlain(head, plain)) return;
          continue;
        }
        const req = toRequest(head, body, `${this.#duplex.info.localHost}:${this.#duplex.info.localPort}`);
        if (req === undefined) return this.#refuse(400);
        let res: Response;
        try {
          res = await this.#fetch(req);
        } catch {
          res = new Response("Internal Server Error", { status: 500 });
        }
        if (!(await this.#answer(head, res))) return;
      }
    } finally {
      this.#busy = false;
      if (this.#server.closing) this.close();
    }
  }
}

/** The listener and its open connections. */
class LiteServer {
  closing = false;
  readonly conns = new Set<HttpConn>();

  forget(c: HttpConn): void {
    this.conns.delete(c);
  }
}

/** Serves `fetch` (and `opts.plain` first for GETs) on plain HTTP/1.1 over `transport`. Rejects as the transport's listen does (port in use, ...). */
export async function serveHttpLite(
  transport: Transport,
  opts: { host: string; port: number; plain?: PlainGet },
  fetch: FetchHandler,
): Promise<HttpServer> {
  const server = new LiteServer();
  const plain = opts.plain;
  const listener = await transport.listen({ host: opts.host, port: opts.port }, (duplex) => {
    const c = new HttpConn(duplex, fetch, server, plain);
    if (server.closing) queueMicrotask(() => c.close());
    else server.conns.add(c);
    return c;
  });
  let closing: Promise<void> | undefined;
  return {
    host: listener.host,
    port: listener.port,
    close: () =>
      (closing ??= (async () => {
        server.closing = true;
        await listener.close();
        // Idle and streaming connections now; one in the middle of a request after its answer.
        for (const c of [...server.conns]) if (!c.busy || c.streaming) c.close();
      })()),
  };
}
