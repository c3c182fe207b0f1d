/**
 * The NATS wire parser: a byte-level state machine shared by client, route and leafnode connections.
 * It splits the stream into control lines and payloads without copying in the common case (a whole frame in
 * one read); frames split across reads are gathered into reused buffers. Arguments are reported as offsets
 * into the control line, so the hot path (PUB/RMSG) makes no strings except the ones the caller asks for.
 */

export type ParseErrorKind =
  /** Not an operation this connection kind understands. nats-server answers -ERR and closes. */
  | "unknown_op"
  /** Right operation, malformed arguments. nats-server closes without a reason. */
  | "bad_args"
  | "max_control_line"
  | "max_payload";

export interface ParseError {
  kind: ParseErrorKind;
  detail: string;
}

/** Operation codes. Plain numbers so the dispatch is a switch on an int. */
export const OP = {
  PUB: 1,
  HPUB: 2,
  SUB: 3,
  UNSUB: 4,
  CONNECT: 5,
  INFO: 6,
  PING: 7,
  PONG: 8,
  OK: 9,
  ERR: 10,
  MSG: 11,
  HMSG: 12,
  RSPLUS: 13,
  RSMINUS: 14,
  RMSG: 15,
  LSPLUS: 16,
  LSMINUS: 17,
  LMSG: 18,
  /** Gateways: the sender has interest in an account again (A+) / none at all (A-). */
  APLUS: 19,
  AMINUS: 20,
} as const;
export type OpCode = typeof OP[keyof typeof OP];

/** Which operations a connection kind accepts. */
export type ParserMode = "client" | "route" | "leaf";

/** Argument offsets into the current control line: start/end pairs, reused between calls. */
export interface Args {
  /** The bytes the control line lives in (args are offsets into it). Valid only during the callback. */
  line: Uint8Array;
  /** Number of arguments after the op name. */
  count: number;
  /** Offsets: arg i spans line[starts[i], ends[i]). */
  starts: Int32Array;
  ends: Int32Array;
}

export interface ParserHandler {
  /** An operation without payload. */
  onControl(op: OpCode, args: Args): void;
  /**
   * An operation with payload (PUB, HPUB, MSG, HMSG, RMSG, LMSG). `payload` includes the header block for
   * the H-variants (`hdrSize` > 0, else -1). Valid only during the callback.
   */
  onMessage(op: OpCode, args: Args, payload: Uint8Array, hdrSize: number): void;
  /**
   * Optional: the same for a payload that lies whole in the read buffer, as `buf[start, start + size)` (valid only
   * during the callback). A handler that drops many messages unread (a PUB nobody subscribed to) then makes no
   * view of their payloads. Without it, onMessage gets the view.
   */
  onMessageIn?(op: OpCode, args: Args, buf: Uint8Array, start: number, size: number, hdrSize: number): void;
  onError(err: ParseError): void;
}

export interface ParserLimits {
  maxControlLine: number;
  maxPayload: number;
}

const CR = 13;
const LF = 10;
const MAX_ARGS = 32;
/** Routes and leafnodes send long INFO lines (URL lists); they are bounded separately. */
const MAX_ROUTE_LINE = 1 << 20;

const enc = new TextEncoder();
// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/** Identify the op name in b[s, e). 0 when unknown. Written out byte by byte: this runs for every frame. */
function identify(b: Uint8Array, s: number, e: number): OpCode | 0 {
  const n = e - s;
  const c0 = b[s] | 32;
  if (n === 2) return c0 === 97 ? (b[s + 1] === 43 ? OP.APLUS : b[s + 1] === 45 ? OP.AMINUS : 0) : 0; // a+ a-
  if (n === 3) {
    const c1 = b[s + 1] | 32;
    const c2 = b[s + 2] | 32;
    if (c0 === 112 && c1 === 117 && c2 === 98) return OP.PUB; // pub
    if (c0 === 115 && c1 === 117 && c2 === 98) return OP.SUB; // sub
    if (c0 === 109 && c1 === 115 && c2 === 103) return OP.MSG; // msg
    if (b[s] === 43 && c1 === 111 && c2 === 107) return OP.OK; // +ok
    if (c0 === 114 && c1 === 115) return b[s + 2] === 43 ? OP.RSPLUS : b[s + 2] === 45 ? OP.RSMINUS : 0; // rs+ rs-
    if (c0 === 108 && c1 === 115) return b[s + 2] === 43 ? OP.LSPLUS : b[s + 2] === 45 ? OP.LSMINUS : 0; // ls+ ls-
    return 0;
  }
  if (n === 4) {
    const c1 = b[s + 1] | 32;
    const c2 = b[s + 2] | 32;
    const c3 = b[s + 3] | 32;
    if (c0 === 112 && c1 === 105 && c2 === 110 && c3 === 103) return OP.PING;
    if (c0 === 112 && c1 === 111 && c2 === 110 && c3 === 103) return OP.PONG;
    if (c0 === 104 && c1 === 112 && c2 === 117 && c3 === 98) return OP.HPUB;
    if (c0 === 104 && c1 === 109 && c2 === 115 && c3 === 103) return OP.HMSG;
    if (c0 === 114 && c1 === 109 && c2 === 115 && c3 === 103) return OP.RMSG;
    if (c0 === 108 && c1 === 109 && c2 === 115 && c3 === 103) return OP.LMSG;
    if (c0 === 105 && c1 === 110 && c2 === 102 && c3 === 111) return OP.INFO;
    if (b[s] === 45 && c1 === 101 && c2 === 114 && c3 === 114) return OP.ERR;
    return 0;
  }
  if (n === 5) {
    return c0 === 117 && (b[s + 1] | 32) === 110 && (b[s + 2] | 32) === 115 && (b[s + 3] | 32) === 117 &&
        (b[s + 4] | 32) === 98
      ? OP.UNSUB
      : 0;
  }
  if (n === 7) {
    return c0 === 99 && (b[s + 1] | 32) === 111 && (b[s + 2] | 32) === 110 && (b[s + 3] | 32) === 110 &&
        (b[s + 4] | 32) === 101 && (b[s + 5] | 32) === 99 && (b[s + 6] | 32) === 116
      ? OP.CONNECT
      : 0;
  }
  return 0;
}

const ALLOWED: Record<ParserMode, ReadonlySet<number>> = {
  client: new Set([OP.PUB, OP.HPUB, OP.SUB, OP.UNSUB, OP.CONNECT, OP.INFO, OP.PING, OP.PONG, OP.OK]),
  route: new Set([
    OP.INFO, OP.CONNECT, OP.PING, OP.PONG, OP.OK, OP.ERR, OP.RSPLUS, OP.RSMINUS, OP.RMSG, OP.HMSG,
    OP.LSPLUS, OP.LSMINUS, OP.LMSG, OP.MSG, OP.SUB, OP.UNSUB, OP.PUB, OP.HPUB, OP.APLUS, OP.AMINUS,
  ]),
  leaf: new Set([
    OP.INFO, OP.CONNECT, OP.PING, OP.PONG, OP.OK, OP.ERR, OP.LSPLUS, OP.LSMINUS, OP.LMSG, OP.HMSG, OP.MSG,
    OP.PUB, OP.HPUB, OP.SUB, OP.UNSUB,
  ]),
};

/** The first byte of the frame #fastMsg handles ("P" of PUB, "R" of RMSG), 0 for none. */
type FastOp = 0 | 80 | 82;
const FAST_PUB = 80;
function fastOpOf(mode: ParserMode): FastOp {
  return mode === "client" ? 80 : mode === "route" ? 82 : 0;
}

function carriesPayload(op: number): boolean {
  return op === OP.PUB || op === OP.HPUB || op === OP.MSG || op === OP.HMSG || op === OP.RMSG || op === OP.LMSG;
}

/** Header-carrying variants report two sizes; route HMSG is the header form of RMSG. */
function hasHeaderSize(op: number): boolean {
  return op === OP.HPUB || op === OP.HMSG;
}

/** Parse a non-negative decimal of at most 9 digits (nats-server's limit); -1 on anything else. */
export function parseSize(line: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 9) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = line[i] - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

export class Parser {
  #mode: ParserMode;
  #allowed: ReadonlySet<number>;
  #handler: ParserHandler;
  limits: ParserLimits;

  #args: Args = { line: new Uint8Array(0), count: 0, starts: new Int32Array(MAX_ARGS), ends: new Int32Array(MAX_ARGS) };
  /** A control line split across reads. */
  #lineBuf = new Uint8Array(256);
  #lineLen = 0;
  /** Waiting for a payload: the op and its control line, kept since args point into it. */
  #pendingOp: OpCode | 0 = 0;
  #pendingLine = new Uint8Array(256);
  #pendingLineLen = 0;
  #pendingArgCount = 0;
  #pendingStarts = new Int32Array(MAX_ARGS);
  #pendingEnds = new Int32Array(MAX_ARGS);
  #need = 0; // payload bytes + CRLF still expected
  #size = 0;
  #hdr = -1;
  #payloadBuf = new Uint8Array(0);
  #payloadLen = 0;
  #dead = false;
  /** The frame #fastMsg takes in this mode: PUB from clients, RMSG on routes and gateways, none on leafnodes. */
  #fast: FastOp = fastOpOf("client");
  /** Payload bytes consumed by the fast path of #processLine. */
  #skip = 0;

  constructor(mode: ParserMode, handler: ParserHandler, limits: ParserLimits) {
    this.#mode = mode;
    this.#allowed = ALLOWED[mode];
    this.#fast = fastOpOf(mode);
    this.#handler = handler;
    this.limits = limits;
  }

  get mode(): ParserMode {
    return this.#mode;
  }

  /** Switch accepted ops (a connection that turns out to be a route after CONNECT, say). */
  setMode(mode: ParserMode): void {
    this.#mode = mode;
    this.#allowed = ALLOWED[mode];
    this.#fast = fastOpOf(mode);
  }

  /** Feed bytes. After an error the parser ignores further input. */
  feed(buf: Uint8Array): void {
    let i = 0;
    const n = buf.length;
    while (i < n && !this.#dead) {
      if (this.#pendingOp !== 0) {
        i = this.#feedPayload(buf, i);
        continue;
      }
      // The frame this connection carries most, whole in this read: one pass over it (see #fastMsg).
      const fast = this.#fast;
      if (fast !== 0 && buf[i] === fast && this.#lineLen === 0) {
        const next = this.#fastMsg(buf, i);
        if (next >= 0) {
          i = next;
          continue;
        }
      }
      // Scan for LF by hand: lines are short, and a native indexOf call costs more than the scan.
      let nl = i;
      while (nl < n && buf[nl] !== LF) nl++;
      if (nl === n) {
        this.#appendLine(buf, i, n);
        if (this.#lineLen > this.#lineBound()) this.#fail("max_control_line", "control line too long");
        return;
      }
      let src = buf;
      let s = i;
      let e = nl;
      if (this.#lineLen > 0) {
        this.#appendLine(buf, i, nl);
        src = this.#lineBuf;
        s = 0;
        e = this.#lineLen;
        this.#lineLen = 0;
      }
      i = nl + 1;
      if (e > s && src[e - 1] === CR) e--;
      this.#processLine(src, s, e, buf, i);
      i += this.#skip;
      this.#skip = 0;
    }
  }

  /**
   * How long an unterminated line may grow. nats-server bounds the arguments of client connections only
   * (max_control_line, CONNECT included); the slack covers the op name, its space and a CR.
   */
  #lineBound(): number {
    return this.#mode === "client" ? this.limits.maxControlLine + 10 : MAX_ROUTE_LINE;
  }

  #appendLine(buf: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (this.#lineLen + len > this.#lineBuf.length) {
      const next = new Uint8Array(Math.max(this.#lineBuf.length * 2, this.#lineLen + len));
      next.set(this.#lineBuf.subarray(0, this.#lineLen));
      this.#lineBuf = next;
    }
    this.#lineBuf.set(buf.subarray(from, to), this.#lineLen);
    this.#lineLen += len;
  }

  #fail(kind: ParseErrorKind, detail: string): void {
    this.#dead = true;
    this.#handler.onError({ kind, detail });
  }

  /**
   * `PUB subject [reply] size\r\n<payload>\r\n` from a client, or `RMSG acc subject [reply] size\r\n<payload>\r\n`
   * on a route, at buf[i], upper case, single spaces, no queue names, line and payload whole in this read, within
   * the limits: handled in one pass over the line (the general path scans it three times). Returns the offset
   * after the frame, or -1 when the frame is anything else (the general path then takes it, errors included).
   */
  #fastMsg(buf: Uint8Array, i: number): number {
    const n = buf.length;
    const pub = this.#fast === FAST_PUB;
    let k: number;
    if (pub) {
      if (i + 8 > n || buf[i + 1] !== 85 || buf[i + 2] !== 66 || buf[i + 3] !== 32) return -1;
      k = i + 4;
    } else {
      if (i + 10 > n || buf[i + 1] !== 77 || buf[i + 2] !== 83 || buf[i + 3] !== 71 || buf[i + 4] !== 32) return -1;
      k = i + 5;
    }
    const maxArgs = pub ? 3 : 4;
    const starts = this.#args.starts;
    const ends = this.#args.ends;
    let count = 0;
    const argsFrom = k;
    for (;;) {
      const s = k;
      // Bounds first: reading past the end of a typed array sends V8 off its fast path.
      while (k < n) {
        const b = buf[k];
        if (b === 32 || b === 13 || b === 9 || b === 10) break;
        k++;
      }
      if (k === s || k >= n) return -1;
      const c = buf[k];
      if (c === 9 || c === 10 || count === maxArgs) return -1;
      starts[count] = s;
      ends[count] = k;
      count++;
      if (c === 13) break;
      k++; // the one space
    }
    // k is at the CR
    if (k + 1 >= n || buf[k + 1] !== 10 || count < maxArgs - 1) return -1;
    // Only a client's arguments are bound (as on the general path); a route's queue forms (`+`, `|`) go there too.
    if (pub ? k - argsFrom > this.limits.maxControlLine : count === 4 && ends[2] - starts[2] === 1 && (buf[starts[2]] === 43 || buf[starts[2]] === 124)) return -1;
    const size = parseSize(buf, starts[count - 1], ends[count - 1]);
    const at = k + 2;
    if (size < 0 || size > this.limits.maxPayload || at + size + 2 > n || buf[at + size] !== CR || buf[at + size + 1] !== LF) return -1;
    const args = this.#args;
    args.count = count;
    args.line = buf;
    const op = pub ? OP.PUB : OP.RMSG;
    const h = this.#handler;
    if (h.onMessageIn !== undefined) h.onMessageIn(op, args, buf, at, size, -1);
    else h.onMessage(op, args, buf.subarray(at, at + size), -1);
    return at + size + 2;
  }

  /** Split src[from, end) into whitespace-separated args. Returns false on too many. */
  #splitArgs(src: Uint8Array, from: number, end: number, args: Args): boolean {
    let count = 0;
    let i = from;
    const starts = args.starts;
    const ends = args.ends;
    while (i < end) {
      let c = src[i];
      while (c === 32 || c === 9) {
        if (++i >= end) break;
        c = src[i];
      }
      if (i >= end) break;
      const s = i;
      while (i < end) {
        c = src[i];
        if (c === 32 || c === 9) break;
        i++;
      }
      if (count >= MAX_ARGS) return false;
      starts[count] = s;
      ends[count] = i;
      count++;
    }
    args.count = count;
    args.line = src;
    return true;
  }

  /** One control line src[s, e) (CRLF stripped); `buf`/`next` locate what follows it in the current read. */
  #processLine(src: Uint8Array, s: number, e: number, buf: Uint8Array, next: number): void {
    let opEnd = s;
    while (opEnd < e) {
      const c = src[opEnd];
      if (c === 32 || c === 9) break;
      opEnd++;
    }
    const op = e === s ? 0 : identify(src, s, opEnd);
    if (op === 0 || !this.#allowed.has(op)) {
      if (op === OP.ERR && this.#mode === "client") {
        // A client sending -ERR is closed without a reply, as nats-server does.
        this.#fail("bad_args", "client sent -ERR");
        return;
      }
      this.#fail("unknown_op", dec.decode(src.subarray(s, Math.min(e, s + 64))));
      return;
    }
    if (this.#mode === "client") {
      // nats-server measures the arguments, not the op word, and only on client connections.
      let a = opEnd;
      while (a < e && (src[a] === 32 || src[a] === 9)) a++;
      if (e - a > this.limits.maxControlLine) {
        this.#fail("max_control_line", "control line too long");
        return;
      }
    }
    const args = this.#args;
    if (!this.#splitArgs(src, opEnd, e, args)) {
      this.#fail("bad_args", "too many arguments");
      return;
    }
    if (!carriesPayload(op)) {
      if (op === OP.CONNECT || op === OP.INFO) {
        // JSON may contain spaces: hand over the whole rest of the line as one argument.
        let a = opEnd;
        while (a < e && isWs(src[a])) a++;
        args.count = 1;
        args.starts[0] = a;
        args.ends[0] = e;
      }
      this.#handler.onControl(op, args);
      return;
    }
    // Payload ops: size is the last argument, the header size the one before it for H-variants.
    const c = args.count;
    if (c === 0) {
      // "PUB\r\n": the op word is not even followed by a space, which nats-server reports as unknown.
      this.#fail("unknown_op", "missing arguments");
      return;
    }
    const withHdr = hasHeaderSize(op);
    if (c < (withHdr ? 3 : 2)) {
      this.#fail("bad_args", "missing arguments");
      return;
    }
    const size = parseSize(src, args.starts[c - 1], args.ends[c - 1]);
    let hdr = -1;
    if (withHdr) {
      hdr = parseSize(src, args.starts[c - 2], args.ends[c - 2]);
      if (hdr < 0 || size < 0 || hdr > size) {
        this.#fail("bad_args", "bad header size");
        return;
      }
    }
    if (size < 0) {
      this.#fail("bad_args", "bad size");
      return;
    }
    if ((op === OP.PUB && c > 3) || (op === OP.HPUB && c > 4)) {
      this.#fail("bad_args", "too many arguments");
      return;
    }
    if (size > this.limits.maxPayload && (op === OP.PUB || op === OP.HPUB)) {
      this.#fail("max_payload", `payload ${size} > ${this.limits.maxPayload}`);
      return;
    }
    // Fast path: the whole payload is in this read and the line is not in lineBuf: no copy at all.
    if (src === buf && buf.length - next >= size + 2) {
      if (buf[next + size] !== CR || buf[next + size + 1] !== LF) {
        this.#fail("unknown_op", "payload not terminated by CRLF");
        return;
      }
      this.#skip = size + 2;
      const h = this.#handler;
      if (h.onMessageIn !== undefined) h.onMessageIn(op, args, buf, next, size, hdr);
      else h.onMessage(op, args, buf.subarray(next, next + size), hdr);
      return;
    }
    this.#stash(op, args, size, hdr);
  }

  /** Keep the control line and args for a payload that continues in a later read. */
  #stash(op: OpCode, args: Args, size: number, hdr: number): void {
    const src = args.line;
    const c = args.count;
    const from = c > 0 ? args.starts[0] : 0;
    const to = c > 0 ? args.ends[c - 1] : 0;
    const len = to - from;
    if (this.#pendingLine.length < len) this.#pendingLine = new Uint8Array(len * 2);
    this.#pendingLine.set(src.subarray(from, to));
    this.#pendingLineLen = len;
    this.#pendingArgCount = c;
    for (let k = 0; k < c; k++) {
      this.#pendingStarts[k] = args.starts[k] - from;
      this.#pendingEnds[k] = args.ends[k] - from;
    }
    this.#pendingOp = op;
    this.#size = size;
    this.#hdr = hdr;
    this.#need = size + 2;
    this.#payloadLen = 0;
    if (this.#payloadBuf.length < size + 2) this.#payloadBuf = new Uint8Array(Math.max(size + 2, 1024));
  }

  #feedPayload(buf: Uint8Array, i: number): number {
    const op = this.#pendingOp as OpCode;
    const size = this.#size;
    const take = Math.min(this.#need, buf.length - i);
    this.#payloadBuf.set(buf.subarray(i, i + take), this.#payloadLen);
    this.#payloadLen += take;
    this.#need -= take;
    i += take;
    if (this.#need > 0) return i;
    this.#pendingOp = 0;
    const p = this.#payloadBuf;
    if (p[size] !== CR || p[size + 1] !== LF) {
      this.#fail("unknown_op", "payload not terminated by CRLF");
      return buf.length;
    }
    const args = this.#args;
    args.line = this.#pendingLine;
    args.count = this.#pendingArgCount;
    for (let k = 0; k < args.count; k++) {
      args.starts[k] = this.#pendingStarts[k];
      args.ends[k] = this.#pendingEnds[k];
    }
    this.#handler.onMessage(op, args, p.subarray(0, size), this.#hdr);
    return i;
  }
}

/** Decode argument i as a string (ASCII fast path; UTF-8 otherwise). */
export function argString(args: Args, i: number): string {
  const line = args.line;
  const s = args.starts[i];
  const e = args.ends[i];
  return bytesToString(line, s, e);
}

/**
 * Subjects repeat: a direct-mapped cache from subject bytes to their string saves building the same short
 * string for every message on the hot path. Unique subjects (a reply inbox per request or PubAck) do not
 * repeat: a subject is let into the cache on its second miss (a doorkeeper of hashes), so a unique one costs
 * its string and nothing else (no copy of its bytes kept as a key, no entry evicting a subject that repeats).
 */
const STR_CACHE_SIZE = 1024;
const strCacheKeys: (Uint8Array | undefined)[] = new Array(STR_CACHE_SIZE);
const strCacheVals: string[] = new Array(STR_CACHE_SIZE);
const strDoor = new Int32Array(STR_CACHE_SIZE);

export function bytesToString(b: Uint8Array, s: number, e: number): string {
  const len = e - s;
  if (len > 64) return dec.decode(b.subarray(s, e));
  let h = 2166136261;
  for (let k = s; k < e; k++) h = Math.imul(h ^ b[k], 16777619);
  const slot = (h >>> 0) & (STR_CACHE_SIZE - 1);
  const key = strCacheKeys[slot];
  if (key !== undefined && key.length === len) {
    let same = true;
    for (let k = 0; k < len; k++) {
      if (key[k] !== b[s + k]) {
        same = false;
        break;
      }
    }
    if (same) return strCacheVals[slot];
  }
  const out = asciiString(b, s, e);
  h |= 1; // never 0, the empty doorkeeper slot
  if (strDoor[slot] !== h) {
    strDoor[slot] = h;
    return out;
  }
  strCacheKeys[slot] = b.slice(s, e);
  strCacheVals[slot] = out;
  return out;
}

/**
 * One array per length (0..64): the character codes of a subject being made into a string. Made on first use of
 * a length: 65 callbacks at import got the callback compiled by Bun's baseline JIT at every start (resident code).
 */
const CODES: (number[] | undefined)[] = new Array(65).fill(undefined);

/**
 * `b[s, e)` (at most 64 bytes) as a string: its codes copied into a reused array and made into a string in one
 * call, so a new subject (a reply inbox) costs its string and nothing else (a decode takes a view of the bytes,
 * and building it a character at a time made a string per character). UTF-8 goes to the decoder.
 */
function asciiString(b: Uint8Array, s: number, e: number): string {
  const codes = CODES[e - s] ??= new Array<number>(e - s).fill(0);
  for (let k = 0; k < codes.length; k++) {
    const c = b[s + k];
    if (c >= 128) return dec.decode(b.subarray(s, e));
    codes[k] = c;
  }
  return String.fromCharCode.apply(null, codes);
}

export function argBytes(args: Args, i: number): Uint8Array {
  return args.line.subarray(args.starts[i], args.ends[i]);
}

export { enc as textEncoder, dec as textDecoder };
