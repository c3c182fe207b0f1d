/**
 * Binary encoding of entries, snapshots and wire batches: what the file storage writes and what a route
 * transport will carry. Integers are float64 (indexes and terms stay exact up to 2^53), strings UTF-8 with a
 * u32 length.
 */
import type { BeatAck, BeatItem, Entry, EntryKind, Envelope, Membership, Message, Snapshot, WireBatch } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

export class ByteWriter {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }

  u8(v: number): void {
    this.#room(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.#room(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  num(v: number): void {
    this.#room(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(s: string): void {
    // Encoded in place: no intermediate array per string (group ids and peer names are on every message).
    const n = utf8Length(s);
    this.u32(n);
    this.#room(n);
    if (n === s.length) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    } else {
      enc.encodeInto(s, this.buf.subarray(this.pos, this.pos + n));
    }
    this.pos += n;
  }

  strOrNull(s: string | null): void {
    this.u8(s === null ? 0 : 1);
    if (s !== null) this.str(s);
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** What was written, without a copy when the buffer was sized exactly (the writer is done with it). */
  take(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.slice(0, this.pos);
  }
}

/** UTF-8 byte length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

export class ByteReader {
  pos = 0;
  readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError("truncated record");
  }

  u8(): number {
    this.#need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.#need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  num(): number {
    this.#need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.#need(n);
    const b = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** Like `bytes()` but a view into the input, for callers that own the input and never change it. */
  bytesView(): Uint8Array {
    const n = this.u32();
    this.#need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  str(): string {
    const n = this.u32();
    this.#need(n);
    const s = dec.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  strOrNull(): string | null {
    return this.u8() === 0 ? null : this.str();
  }
}

const KINDS: readonly EntryKind[] = ["cmd", "noop", "conf"];

function writeMembership(w: ByteWriter, m: Membership): void {
  w.u32(m.voters.length);
  for (const p of m.voters) w.str(p);
  w.u32(m.observers.length);
  for (const p of m.observers) w.str(p);
}

function readMembership(r: ByteReader): Membership {
  const voters: string[] = [], observers: string[] = [];
  for (let n = r.u32(); n > 0; n--) voters.push(r.str());
  for (let n = r.u32(); n > 0; n--) observers.push(r.str());
  return { voters, observers };
}

export function writeEntry(w: ByteWriter, e: Entry): void {
  w.num(e.index);
  w.num(e.term);
  w.u8(KINDS.indexOf(e.kind));
  w.bytes(e.data);
  if (e.kind === "conf") writeMembership(w, e.conf ?? { voters: [], observers: [] });
}

/** `share`: the entry's data is a view into the reader's input (which the caller owns and never changes). */
export function readEntry(r: ByteReader, share = false): Entry {
  const index = r.num(), term = r.num();
  const kind = KINDS[r.u8()];
  if (kind === undefined) throw new RangeError("bad entry kind");
  const data = share ? r.bytesView() : r.bytes();
  return kind === "conf" ? { index, term, kind, data, conf: readMembership(r) } : { index, term, kind, data };
}

export function writeSnapshot(w: ByteWriter, s: Snapshot): void {
  w.num(s.meta.index);
  w.num(s.meta.term);
  writeMembership(w, s.meta.membership);
  w.bytes(s.data);
}

export function readSnapshot(r: ByteReader): Snapshot {
  const index = r.num(), term = r.num();
  const membership = readMembership(r);
  return { meta: { index, term, membership }, data: r.bytes() };
}

const TYPES: readonly Message["type"][] = [
  "preVote",
  "preVoteResp",
  "vote",
  "voteResp",
  "append",
  "appendResp",
  "heartbeat",
  "heartbeatResp",
  "snapshot",
  "timeoutNow",
];

function writeMessage(w: ByteWriter, m: Message): void {
  w.u8(TYPES.indexOf(m.type));
  w.num(m.term);
  switch (m.type) {
    case "preVote":
      w.num(m.lastIndex);
      w.num(m.lastTerm);
      return;
    case "vote":
      w.num(m.lastIndex);
      w.num(m.lastTerm);
      w.u8(m.transfer ? 1 : 0);
      return;
    case "preVoteResp":
    case "voteResp":
      w.u8(m.granted ? 1 : 0);
      return;
    case "append":
      w.num(m.prevIndex);
      w.num(m.prevTerm);
      w.num(m.commit);
      w.u32(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      return;
    case "appendResp":
      w.u8(m.success ? 1 : 0);
      w.num(m.index);
      w.num(m.hint);
      return;
    case "heartbeat":
      w.num(m.commit);
      return;
    case "snapshot":
      writeSnapshot(w, m.snapshot);
      return;
    case "heartbeatResp":
    case "timeoutNow":
      return;
  }
}

function readMessage(r: ByteReader, share: boolean): Message {
  const type = TYPES[r.u8()];
  const term = r.num();
  switch (type) {
    case "preVote":
      return { type, term, lastIndex: r.num(), lastTerm: r.num() };
    case "vote":
      return { type, term, lastIndex: r.num(), lastTerm: r.num(), transfer: r.u8() === 1 };
    case "preVoteResp":
    case "voteResp":
      return { type, term, granted: r.u8() === 1 };
    case "append": {
      const prevIndex = r.num(), prevTerm = r.num(), commit = r.num();
      const entries: Entry[] = [];
      for (let n = r.u32(); n > 0; n--) entries.push(readEntry(r, share));
      return { type, term, prevIndex, prevTerm, commit, entries };
    }
    case "appendResp":
      return { type, term, success: r.u8() === 1, index: r.num(), hint: r.num() };
    case "heartbeat":
      return { type, term, commit: r.num() };
    case "snapshot":
      return { type, term, snapshot: readSnapshot(r) };
    case "heartbeatResp":
    case "timeoutNow":
      return { type, term };
    default:
      throw new RangeError("bad message type");
  }
}

function membershipSize(m: Membership): number {
  let n = 8;
  for (const p of m.voters) n += 4 + utf8Length(p);
  for (const p of m.observers) n += 4 + utf8Length(p);
  return n;
}

function entrySize(e: Entry): number {
  return 21 + e.data.length + (e.kind === "conf" ? membershipSize(e.conf ?? { voters: [], observers: [] }) : 0);
}

function messageSize(m: Message): number {
  switch (m.type) {
    case "preVote":
      return 25;
    case "vote":
      return 26;
    case "preVoteResp":
    case "voteResp":
      return 10;
    case "append": {
      let n = 37;
      for (const e of m.entries) n += entrySize(e);
      return n;
    }
    case "appendResp":
      return 26;
    case "heartbeat":
      return 17;
    case "snapshot":
      return 9 + 16 + membershipSize(m.snapshot.meta.membership) + 4 + m.snapshot.data.length;
    case "heartbeatResp":
    case "timeoutNow":
      return 9;
  }
}

/** The exact encoded size of a batch, so it is written into one buffer of the right size (no growth, no copy). */
export function wireBatchSize(b: WireBatch): number {
  let n = 8 + utf8Length(b.from) + utf8Length(b.to) + 12;
  for (const e of b.envelopes) n += 4 + utf8Length(e.group) + messageSize(e.msg);
  for (const h of b.beats) n += 4 + utf8Length(h.group) + 16;
  for (const a of b.beatAcks) n += 4 + utf8Length(a.group) + 8;
  return n;
}

export function encodeWireBatch(b: WireBatch): Uint8Array {
  const size = wireBatchSize(b);
  const w = new ByteWriter(size);
  w.str(b.from);
  w.str(b.to);
  w.u32(b.envelopes.length);
  for (const e of b.envelopes) {
    w.str(e.group);
    writeMessage(w, e.msg);
  }
  w.u32(b.beats.length);
  for (const h of b.beats) {
    w.str(h.group);
    w.num(h.term);
    w.num(h.commit);
  }
  w.u32(b.beatAcks.length);
  for (const a of b.beatAcks) {
    w.str(a.group);
    w.num(a.term);
  }
  if (w.pos !== size) throw new Error(`raft codec: batch size computed ${size}, written ${w.pos}`);
  return w.take();
}

/**
 * Decode a batch; a malformed one is an error value, never a partial batch. `share`: entries' data are views
 * into `data` instead of copies, for a caller that owns `data` and never changes it.
 */
export function decodeWireBatch(data: Uint8Array, share = false): WireBatch | Error {
  try {
    const r = new ByteReader(data);
    const from = r.str(), to = r.str();
    const envelopes: Envelope[] = [];
    for (let n = r.u32(); n > 0; n--) envelopes.push({ group: r.str(), from, to, msg: readMessage(r, share) });
    const beats: BeatItem[] = [];
    for (let n = r.u32(); n > 0; n--) beats.push({ group: r.str(), term: r.num(), commit: r.num() });
    const beatAcks: BeatAck[] = [];
    for (let n = r.u32(); n > 0; n--) beatAcks.push({ group: r.str(), term: r.num() });
    if (r.pos !== data.length) return new Error("trailing bytes in raft batch");
    return { from, to, envelopes, beats, beatAcks };
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
