/**
 * The commands of a stream's Raft group and their bytes. A stored message is binary (it is the hot path);
 * the rare commands (purge, removals, consumer changes) are a tag byte and JSON.
 */
import type { ConsumerConfig } from "../config.ts";
import type { ConsumerState } from "../consumer.ts";
import type { StreamEntry } from "../stream.ts";

/**
 * Everything a stream group's log carries: the stream's own entries plus its consumers' assignments (`cstate`
 * is read from older logs only: consumer state now rides in each consumer's own group).
 */
export type GroupCmd =
  | StreamEntry
  | {
    readonly op: "cadd";
    readonly name: string;
    readonly config: ConsumerConfig;
    readonly created: string;
    /** A new consumer's Raft group, founding peers and first state (an update of an existing one has none). */
    readonly group?: string;
    readonly peers?: readonly string[];
    readonly state?: ConsumerState;
  }
  /** `group`: the consumer's group, when the proposer knew it (a removal of that consumer only). */
  | { readonly op: "cdel"; readonly name: string; readonly group?: string }
  | { readonly op: "cstate"; readonly name: string; readonly state: ConsumerState };

const TAG_MSG = 1, TAG_JSON = 2;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Big-endian float64 through one scratch word: no DataView per command. */
const F64 = new Float64Array(1);
const F64B = new Uint8Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function putF64(out: Uint8Array, o: number, v: number): void {
  F64[0] = v;
  if (LITTLE) for (let i = 0; i < 8; i++) out[o + i] = F64B[7 - i];
  else out.set(F64B, o);
}

function getF64(b: Uint8Array, o: number): number {
  if (LITTLE) for (let i = 0; i < 8; i++) F64B[7 - i] = b[o + i];
  else for (let i = 0; i < 8; i++) F64B[i] = b[o + i];
  return F64[0];
}

/** A subject's bytes, written in place when it is ASCII (the common case); its length. */
function putSubject(out: Uint8Array, o: number, subject: string, utf8: Uint8Array | undefined): number {
  if (utf8 !== undefined) {
    out.set(utf8, o);
    return utf8.length;
  }
  for (let i = 0; i < subject.length; i++) out[o + i] = subject.charCodeAt(i);
  return subject.length;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/**
 * Bytes for a leader's encoded message commands, carved out of shared chunks: one allocation per chunk, not one
 * per message (a log entry is a view into a chunk, as a follower's is a view into the wire batch it came in). A
 * chunk lives as long as the log holds one of its entries; the log is trimmed in order, so chunks go in order.
 */
export class CmdArena {
  #chunk = new Uint8Array(0);
  #pos = 0;
  readonly chunkSize: number;

  constructor(chunkSize = 64 * 1024) {
    this.chunkSize = chunkSize;
  }

  /** `n` fresh bytes (a large command gets its own buffer, not a quarter of a chunk or more). */
  take(n: number): Uint8Array {
    if (n >= this.chunkSize >> 2) return new Uint8Array(n);
    if (this.#pos + n > this.#chunk.length) {
      this.#chunk = new Uint8Array(this.chunkSize);
      this.#pos = 0;
    }
    const out = this.#chunk.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
}

export function encodeCmd(c: GroupCmd, arena?: CmdArena): Uint8Array {
  if (c.op !== "msg") {
    const body = enc.encode(JSON.stringify(c));
    const out = new Uint8Array(body.length + 1);
    out[0] = TAG_JSON;
    out.set(body, 1);
    return out;
  }
  const utf8 = isAscii(c.subject) ? undefined : enc.encode(c.subject);
  const slen = utf8 === undefined ? c.subject.length : utf8.length;
  const hlen = c.headers?.length ?? 0;
  const size = 1 + 1 + 8 + 8 + 2 + slen + 4 + hlen + c.data.length;
  const out = arena !== undefined ? arena.take(size) : new Uint8Array(size);
  out[0] = TAG_MSG;
  out[1] = (c.mirrored ? 1 : 0) | (c.restored ? 2 : 0);
  putF64(out, 2, c.seq);
  putF64(out, 10, c.ts);
  out[18] = slen >>> 8;
  out[19] = slen & 0xff;
  let o = 20 + putSubject(out, 20, c.subject, utf8);
  out[o] = hlen >>> 24;
  out[o + 1] = (hlen >>> 16) & 0xff;
  out[o + 2] = (hlen >>> 8) & 0xff;
  out[o + 3] = hlen & 0xff;
  o += 4;
  if (c.headers) out.set(c.headers, o);
  out.set(c.data, o + hlen);
  return out;
}

/** Decodes a command; an Error for bytes that are not one (a corrupted log is a bug, the caller throws). */
export function decodeCmd(b: Uint8Array): GroupCmd | Error {
  if (b.length === 0) return new Error("empty command");
  if (b[0] === TAG_JSON) {
    try {
      return JSON.parse(dec.decode(b.subarray(1))) as GroupCmd;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }
  if (b[0] !== TAG_MSG || b.length < 24) return new Error(`unknown command tag ${b[0]}`);
  const slen = (b[18] << 8) | b[19];
  let o = 20 + slen;
  if (o + 4 > b.length) return new Error("truncated message command");
  const subject = subjectAt(b, 20, o);
  const hlen = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  o += 4;
  if (o + hlen > b.length) return new Error("truncated message command");
  // Views, not copies: a log entry's bytes never change once proposed or received.
  const headers = hlen > 0 ? b.subarray(o, o + hlen) : undefined;
  const data = b.subarray(o + hlen);
  const m = { op: "msg" as const, seq: getF64(b, 2), ts: getF64(b, 10), subject, headers, data, mirrored: (b[1] & 1) === 1 };
  return (b[1] & 2) === 2 ? { ...m, restored: true } : m;
}

/**
 * The subject of a message command: a replica applies message after message on the same few subjects, so the last
 * one decoded is kept (its bytes and its string) and a repeat costs a byte compare, no string built per message.
 */
let lastSubjectBytes = new Uint8Array(0);
let lastSubject = "";
function subjectAt(b: Uint8Array, from: number, to: number): string {
  const n = to - from;
  if (n === lastSubjectBytes.length) {
    let i = 0;
    while (i < n && b[from + i] === lastSubjectBytes[i]) i++;
    if (i === n) return lastSubject;
  }
  lastSubject = asciiOrUtf8(b, from, to);
  lastSubjectBytes = b.slice(from, to);
  return lastSubject;
}

/** A short ASCII subject without TextDecoder's overhead; anything else through it. */
function asciiOrUtf8(b: Uint8Array, from: number, to: number): string {
  if (to - from > 64) return dec.decode(b.subarray(from, to));
  let s = "";
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c > 127) return dec.decode(b.subarray(from, to));
    s += String.fromCharCode(c);
  }
  return s;
}

/** A piece of a stream sent to a replica catching up after a snapshot: messages from `from`, and where to go on. */
export interface SyncBatch {
  readonly group: string;
  /** The first sequence the batch covers: every message the sender holds in `from..next-1` is in it. */
  readonly from: number;
  readonly msgs: ReadonlyArray<Extract<StreamEntry, { op: "msg" }>>;
  /** The next sequence to ask for (past the requested range: done). */
  readonly next: number;
}

export function encodeSyncBatch(b: SyncBatch): Uint8Array {
  const g = enc.encode(b.group);
  const parts = b.msgs.map((m) => encodeCmd(m));
  let size = 2 + g.length + 16 + 4;
  for (const p of parts) size += 4 + p.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint16(0, g.length);
  out.set(g, 2);
  let o = 2 + g.length;
  v.setFloat64(o, b.from);
  v.setFloat64(o + 8, b.next);
  v.setUint32(o + 16, parts.length);
  o += 20;
  for (const p of parts) {
    v.setUint32(o, p.length);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

export function decodeSyncBatch(b: Uint8Array): SyncBatch | Error {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 2) return new Error("truncated sync batch");
  const gl = v.getUint16(0);
  let o = 2 + gl;
  if (o + 20 > b.length) return new Error("truncated sync batch");
  const group = dec.decode(b.subarray(2, o));
  const from = v.getFloat64(o);
  const next = v.getFloat64(o + 8);
  const n = v.getUint32(o + 16);
  o += 20;
  const msgs: Array<Extract<StreamEntry, { op: "msg" }>> = [];
  for (let i = 0; i < n; i++) {
    if (o + 4 > b.length) return new Error("truncated sync batch");
    const len = v.getUint32(o);
    if (o + 4 + len > b.length) return new Error("truncated sync batch");
    const c = decodeCmd(b.subarray(o + 4, o + 4 + len));
    if (c instanceof Error) return c;
    if (c.op !== "msg") return new Error("sync batch holds a non-message");
    msgs.push(c);
    o += 4 + len;
  }
  return { group, from, msgs, next };
}
