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
} as const;
export type OpCode = typeof OP[keyof typeof OP];

/** Which operations a connection kind accepts. */
export type ParserMode = "client" | "route" | "leaf";

/** Argument offsets into the current control line: start/end pairs, reused between calls. */
export interface Args {
  /** The control line (without CRLF). Valid only during the callback. */
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
  onError(err: ParseError): void;
}

export interface ParserLimits {
  maxControlLine: number;
  maxPayload: number;
}

const CR = 13;
const LF = 10;
const MAX_ARGS = 32;
/** CONNECT and INFO carry JSON (JWTs, long URL lists), so they get their own, larger bound. */
const MAX_JSON_LINE = 1 << 20;

const enc = new TextEncoder();
const dec = new TextDecoder();

function upper(c: number): number {
  return c >= 97 && c <= 122 ? c - 32 : c;
}

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/** Identify the op name in line[0, end). 0 when unknown. */
function identify(line: Uint8Array, end: number): OpCode | 0 {
  const c0 = upper(line[0]);
  const n = end;
  const eq = (word: string) => {
    if (n !== word.length) return false;
    for (let i = 1; i < n; i++) if (upper(line[i]) !== word.charCodeAt(i)) return false;
    return true;
  };
  switch (c0) {
    case 80: // P
      if (eq("PUB")) return OP.PUB;
      if (eq("PING")) return OP.PING;
      if (eq("PONG")) return OP.PONG;
      return 0;
    case 72: // H
      if (eq("HPUB")) return OP.HPUB;
      if (eq("HMSG")) return OP.HMSG;
      return 0;
    case 83: // S
      return eq("SUB") ? OP.SUB : 0;
    case 85: // U
      return eq("UNSUB") ? OP.UNSUB : 0;
    case 67: // C
      return eq("CONNECT") ? OP.CONNECT : 0;
    case 73: // I
      return eq("INFO") ? OP.INFO : 0;
    case 77: // M
      return eq("MSG") ? OP.MSG : 0;
    case 43: // +
      return eq("+OK") ? OP.OK : 0;
    case 45: // -
      return eq("-ERR") ? OP.ERR : 0;
    case 82: // R
      if (eq("RMSG")) return OP.RMSG;
      if (eq("RS+")) return OP.RSPLUS;
      if (eq("RS-")) return OP.RSMINUS;
      return 0;
    case 76: // L
      if (eq("LMSG")) return OP.LMSG;
      if (eq("LS+")) return OP.LSPLUS;
      if (eq("LS-")) return OP.LSMINUS;
      return 0;
  }
  return 0;
}

const ALLOWED: Record<ParserMode, ReadonlySet<number>> = {
  client: new Set([OP.PUB, OP.HPUB, OP.SUB, OP.UNSUB, OP.CONNECT, OP.INFO, OP.PING, OP.PONG, OP.OK]),
  route: new Set([
    OP.INFO, OP.CONNECT, OP.PING, OP.PONG, OP.OK, OP.ERR, OP.RSPLUS, OP.RSMINUS, OP.RMSG, OP.HMSG,
    OP.LSPLUS, OP.LSMINUS, OP.LMSG, OP.MSG, OP.SUB, OP.UNSUB, OP.PUB, OP.HPUB,
  ]),
  leaf: new Set([
    OP.INFO, OP.CONNECT, OP.PING, OP.PONG, OP.OK, OP.ERR, OP.LSPLUS, OP.LSMINUS, OP.LMSG, OP.HMSG, OP.MSG,
    OP.PUB, OP.HPUB, OP.SUB, OP.UNSUB,
  ]),
};

function carriesPayload(op: number): boolean {
  return op === OP.PUB || op === OP.HPUB || op === OP.MSG || op === OP.HMSG || op === OP.RMSG || op === OP.LMSG;
}

/** Header-carrying variants report two sizes; route HMSG is the header form of RMSG. */
function hasHeaderSize(op: number): boolean {
  return op === OP.HPUB || op === OP.HMSG;
}

/** Parse a non-negative decimal; -1 on anything else (sign, letters, overflow past 2^53). */
export function parseSize(line: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
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

  constructor(mode: ParserMode, handler: ParserHandler, limits: ParserLimits) {
    this.#mode = mode;
    this.#allowed = ALLOWED[mode];
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
      const nl = buf.indexOf(LF, i);
      if (nl === -1) {
        this.#appendLine(buf, i, n);
        if (this.#lineLen > this.limits.maxControlLine && !this.#lineMayBeLong()) {
          this.#fail("max_control_line", "control line too long");
        } else if (this.#lineLen > MAX_JSON_LINE) {
          this.#fail("max_control_line", "control line too long");
        }
        return;
      }
      let line: Uint8Array;
      if (this.#lineLen > 0) {
        this.#appendLine(buf, i, nl);
        line = this.#lineBuf.subarray(0, this.#lineLen);
        this.#lineLen = 0;
      } else {
        line = buf.subarray(i, nl);
      }
      i = nl + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === CR) end--;
      this.#processLine(line.subarray(0, end), buf, i);
    }
  }

  #lineMayBeLong(): boolean {
    // Only CONNECT/INFO may exceed max_control_line; decide from the bytes seen so far.
    const b = this.#lineBuf;
    if (this.#lineLen < 4) return false;
    const c0 = upper(b[0]);
    return (c0 === 67 && upper(b[1]) === 79) || (c0 === 73 && upper(b[1]) === 78);
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

  /** Split line[from, end) into whitespace-separated args. Returns false on too many. */
  #splitArgs(line: Uint8Array, from: number, end: number, args: Args): boolean {
    let count = 0;
    let i = from;
    while (i < end) {
      while (i < end && isWs(line[i])) i++;
      if (i >= end) break;
      const s = i;
      while (i < end && !isWs(line[i])) i++;
      if (count >= MAX_ARGS) return false;
      args.starts[count] = s;
      args.ends[count] = i;
      count++;
    }
    args.count = count;
    args.line = line;
    return true;
  }

  #processLine(line: Uint8Array, buf: Uint8Array, next: number): void {
    const end = line.length;
    let opEnd = 0;
    while (opEnd < end && !isWs(line[opEnd])) opEnd++;
    const op = end === 0 ? 0 : identify(line, opEnd);
    if (op === 0 || !this.#allowed.has(op)) {
      if (op === OP.ERR && this.#mode === "client") {
        // A client sending -ERR is closed without a reply, as nats-server does.
        this.#fail("bad_args", "client sent -ERR");
        return;
      }
      this.#fail("unknown_op", dec.decode(line.subarray(0, Math.min(end, 64))));
      return;
    }
    if (op !== OP.CONNECT && op !== OP.INFO && end > this.limits.maxControlLine) {
      this.#fail("max_control_line", "control line too long");
      return;
    }
    const args = this.#args;
    if (!this.#splitArgs(line, opEnd, end, args)) {
      this.#fail("bad_args", "too many arguments");
      return;
    }
    if (!carriesPayload(op)) {
      if (op === OP.CONNECT || op === OP.INFO) {
        // JSON may contain spaces: hand over the whole rest of the line as one argument.
        let s = opEnd;
        while (s < end && isWs(line[s])) s++;
        args.count = 1;
        args.starts[0] = s;
        args.ends[0] = end;
      }
      this.#handler.onControl(op, args);
      return;
    }
    // Payload ops: size is the last argument, the header size the one before it for H-variants.
    const c = args.count;
    const withHdr = hasHeaderSize(op);
    const minArgs = withHdr ? 3 : 2;
    if (c < minArgs) {
      this.#fail("bad_args", "missing arguments");
      return;
    }
    const size = parseSize(line, args.starts[c - 1], args.ends[c - 1]);
    let hdr = -1;
    if (withHdr) {
      hdr = parseSize(line, args.starts[c - 2], args.ends[c - 2]);
      if (hdr < 0 || size < 0 || hdr > size) {
        this.#fail("bad_args", "bad header size");
        return;
      }
    }
    if (size < 0) {
      this.#fail("bad_args", "bad size");
      return;
    }
    if (op === OP.PUB && c > 3 || op === OP.HPUB && c > 4) {
      this.#fail("bad_args", "too many arguments");
      return;
    }
    if (size > this.limits.maxPayload && (op === OP.PUB || op === OP.HPUB)) {
      this.#fail("max_payload", `payload ${size} > ${this.limits.maxPayload}`);
      return;
    }
    // Fast path: the whole payload is in this read. No copy.
    if (buf.length - next >= size + 2 && this.#lineLen === 0) {
      this.#size = size;
      this.#hdr = hdr;
      this.#pendingOp = op;
      this.#pendingArgCount = -1; // marks "args live in this.#args"
      return;
    }
    this.#stash(op, args, size, hdr);
  }

  /** Keep the control line and args for a payload that continues in a later read. */
  #stash(op: OpCode, args: Args, size: number, hdr: number): void {
    const line = args.line;
    if (this.#pendingLine.length < line.length) this.#pendingLine = new Uint8Array(line.length * 2);
    this.#pendingLine.set(line);
    this.#pendingLineLen = line.length;
    this.#pendingArgCount = args.count;
    this.#pendingStarts.set(args.starts.subarray(0, args.count));
    this.#pendingEnds.set(args.ends.subarray(0, args.count));
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
    if (this.#pendingArgCount === -1) {
      // Fast path prepared by #processLine: args still valid, payload fully inside buf.
      this.#pendingOp = 0;
      if (buf[i + size] !== CR || buf[i + size + 1] !== LF) {
        this.#fail("unknown_op", "payload not terminated by CRLF");
        return buf.length;
      }
      this.#handler.onMessage(op, this.#args, buf.subarray(i, i + size), this.#hdr);
      return i + size + 2;
    }
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
    args.line = this.#pendingLine.subarray(0, this.#pendingLineLen);
    args.count = this.#pendingArgCount;
    args.starts.set(this.#pendingStarts.subarray(0, args.count));
    args.ends.set(this.#pendingEnds.subarray(0, args.count));
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

export function bytesToString(b: Uint8Array, s: number, e: number): string {
  if (e - s <= 64) {
    let out = "";
    for (let k = s; k < e; k++) {
      const c = b[k];
      if (c >= 128) return dec.decode(b.subarray(s, e));
      out += String.fromCharCode(c);
    }
    return out;
  }
  return dec.decode(b.subarray(s, e));
}

export function argBytes(args: Args, i: number): Uint8Array {
  return args.line.subarray(args.starts[i], args.ends[i]);
}

export { enc as textEncoder, dec as textDecoder };
