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
  | { readonly op: "cdel"; readonly name: string }
  | { readonly op: "cstate"; readonly name: string; readonly state: ConsumerState };

const TAG_MSG = 1, TAG_JSON = 2;
const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCmd(c: GroupCmd): Uint8Array {
  if (c.op !== "msg") {
    const body = enc.encode(JSON.stringify(c));
    const out = new Uint8Array(body.length + 1);
    out[0] = TAG_JSON;
    out.set(body, 1);
    return out;
  }
  const subj = enc.encode(c.subject);
  const hlen = c.headers?.length ?? 0;
  const out = new Uint8Array(1 + 1 + 8 + 8 + 2 + subj.length + 4 + hlen + c.data.length);
  const v = new DataView(out.buffer);
  out[0] = TAG_MSG;
  out[1] = (c.mirrored ? 1 : 0) | (c.restored ? 2 : 0);
  v.setFloat64(2, c.seq);
  v.setFloat64(10, c.ts);
  v.setUint16(18, subj.length);
  out.set(subj, 20);
  let o = 20 + subj.length;
  v.setUint32(o, hlen);
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
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const slen = v.getUint16(18);
  let o = 20 + slen;
  if (o + 4 > b.length) return new Error("truncated message command");
  const subject = dec.decode(b.subarray(20, o));
  const hlen = v.getUint32(o);
  o += 4;
  if (o + hlen > b.length) return new Error("truncated message command");
  // Views, not copies: a log entry's bytes never change once proposed or received.
  const headers = hlen > 0 ? b.subarray(o, o + hlen) : undefined;
  const data = b.subarray(o + hlen);
  const m = { op: "msg" as const, seq: v.getFloat64(2), ts: v.getFloat64(10), subject, headers, data, mirrored: (b[1] & 1) === 1 };
  return (b[1] & 2) === 2 ? { ...m, restored: true } : m;
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
