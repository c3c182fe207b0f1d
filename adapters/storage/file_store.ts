import {
  type MsgMeta,
  type StorageProvider,
  type StoredMsg,
  type StreamBackend,
  type SyncPolicy,
} from "../../src/jetstream/store/types.ts";
import type { MsgIndex } from "../../src/jetstream/store/msg_index.ts";
import { bytesToString } from "../../src/protocol/parser.ts";
import { type Block, FileIndex, newBlock, type RecordVisit } from "./file_index.ts";
import { noteStoreWrite } from "./store_gc.ts";
import { lightInterval } from "../../src/runtime/light_timers.ts";
import type { Timer } from "../../src/runtime/clock.ts";
import { dirName, joinPath, storeFs } from "./store_fs.ts";

/**
 * Filesystem store. Each stream is a directory with append-only segment files (`msgs/NNNNNNNN.blk`) and a
 * `meta/` directory of small JSON records written atomically (tmp + rename).
 *
 * Record layout (little endian): u32 bodyLen | u8 type | f64 seq | ... body
 *   type 1 (message): f64 time | u16 subjLen | u32 hdrLen | u32 dataLen | subject | hdr | data
 *   type 2 (delete):  nothing more
 * The index is the store's own (`FileIndex`, handed to the stream by `ownIndex`): a summary per segment in
 * memory, per-message detail parsed from segment files into a bounded cache. A clean close writes the
 * summaries to `index.json`, which the next open reads instead of the segments (and deletes, so a crash after
 * it rebuilds from the segments); a torn record at the tail (kill -9 mid-write) is cut off. Segments whose
 * messages are mostly deleted are rewritten, empty ones unlinked: deletes never grow the disk forever.
 */

const MSG = 1;
const DEL = 2;
const HEAD = 4 + 1 + 8;
const MSG_FIXED = 8 + 2 + 4 + 4;
const SEGMENT_MAX = 8 * 1024 * 1024;
const BATCH_MAX = 256 * 1024;
/** Room in the batch buffer past BATCH_MAX for the record that crosses it. */
const BATCH_SLACK = 16 * 1024;
/** A sequence jump larger than this starts a new segment (a segment's deleted-bitmap spans its range). */
const GAP_MAX = 1024;
const SUMMARY = "index.json";
const enc = new TextEncoder();
const dec = new TextDecoder();
/** Not node:fs on Deno (store_fs.ts: ~7.5 MB of RSS there). */
const fs = storeFs();

interface Segment extends Block {
  file: string;
  fd: number;
  /** Logical size, including bytes still in the write batch. */
  size: number;
  /** Bytes already handed to the OS. */
  written: number;
  /** Tombstones stored in this segment, and the range of seqs they delete (a bound). */
  tombs: number;
  tombMin: number;
  tombMax: number;
}

function encodeMsg(m: StoredMsg): Uint8Array {
  const subj = enc.encode(m.subject);
  const hlen = m.headers ? m.headers.length : 0;
  const body = 1 + 8 + MSG_FIXED + subj.length + hlen + m.data.length;
  const buf = new Uint8Array(4 + body);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, body, true);
  buf[4] = MSG;
  dv.setFloat64(5, m.seq, true);
  dv.setFloat64(13, m.time, true);
  dv.setUint16(21, subj.length, true);
  dv.setUint32(23, hlen, true);
  dv.setUint32(27, m.data.length, true);
  let o = 31;
  buf.set(subj, o);
  o += subj.length;
  if (m.headers) buf.set(m.headers, o);
  o += hlen;
  buf.set(m.data, o);
  return buf;
}

function encodeDel(seq: number): Uint8Array {
  const buf = new Uint8Array(HEAD);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, HEAD - 4, true);
  buf[4] = DEL;
  dv.setFloat64(5, seq, true);
  return buf;
}

function decodeMsg(buf: Uint8Array): StoredMsg {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const seq = dv.getFloat64(5, true);
  const time = dv.getFloat64(13, true);
  const sl = dv.getUint16(21, true);
  const hl = dv.getUint32(23, true);
  const dl = dv.getUint32(27, true);
  let o = 31;
  // Subjects repeat from message to message: the parser's cache of subject strings serves them.
  const subject = bytesToString(buf, o, o + sl);
  o += sl;
  const headers = hl > 0 ? buf.slice(o, o + hl) : undefined;
  o += hl;
  return { seq, time, subject, headers, data: buf.slice(o, o + dl) };
}

/** Bytes a segment is read in (a block is parsed through this, never read whole). */
const CHUNK = 256 * 1024;
/** Bytes read at once by loads in file order (see FileBackend.ra). */
const READ_AHEAD = 32 * 1024;

/**
 * Walks the records of the first `size` bytes of a segment file, reading it in chunks: messages (offsets are
 * file offsets) and tombstones. Returns the length of the well-formed prefix (after it: a torn tail).
 */
function scanFile(
  fd: number,
  size: number,
  onMsg: RecordVisit | undefined,
  onDel: ((seq: number) => void) | undefined,
  start = 0,
  onDelAt?: (seq: number, off: number) => void,
): number {
  let buf = new Uint8Array(Math.min(CHUNK, Math.max(size - start, 16)));
  let base = start; // file offset of buf[0]
  let have = 0; // valid bytes in buf
  for (;;) {
    // Fill the buffer from the file.
    while (have < buf.length && base + have < size) {
      const n = fs.readSync(fd, buf, have, Math.min(buf.length - have, size - base - have), base + have);
      if (n <= 0) break;
      have += n;
    }
    const used = parseSegment(buf.subarray(0, have), onMsg, onDel, base, onDelAt);
    const end = base + have;
    if (end >= size) return base + used;
    if (used === 0) {
      // One record larger than the buffer (or a bad length): grow to hold it, or stop at the torn tail.
      const body = have >= 4 ? new DataView(buf.buffer).getUint32(0, true) : 0;
      if (body < 9 || base + 4 + body > size) return base;
      const nb = new Uint8Array(4 + body);
      nb.set(buf.subarray(0, have));
      buf = nb;
      continue;
    }
    if (used < have && !recordStartsWell(buf, used, have)) return base + used;
    buf.copyWithin(0, used, have);
    have -= used;
    base += used;
  }
}

/** Is what follows `at` the start of a record that just did not fit (rather than garbage)? */
function recordStartsWell(buf: Uint8Array, at: number, have: number): boolean {
  if (have - at < 5) return true;
  const body = new DataView(buf.buffer, buf.byteOffset).getUint32(at, true);
  const type = buf[at + 4];
  return body >= 9 && (type === MSG || type === DEL) && at + 4 + body > have;
}

/**
 * Walks the records of a segment file: messages (with their subject decoded once per run of equal subjects)
 * and tombstones. Returns the length of the well-formed prefix (anything after it is a torn tail).
 */
function parseSegment(
  buf: Uint8Array,
  onMsg: RecordVisit | undefined,
  onDel: ((seq: number) => void) | undefined,
  base = 0,
  onDelAt?: (seq: number, off: number) => void,
): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let lastBytes = new Uint8Array(0);
  let lastSubject = "";
  let o = 0;
  while (o + 4 <= buf.length) {
    const body = dv.getUint32(o, true);
    if (body < 9 || o + 4 + body > buf.length) break; // torn tail
    const type = buf[o + 4];
    const seq = dv.getFloat64(o + 5, true);
    if (type === MSG) {
      const sl = dv.getUint16(o + 21, true);
      const hl = dv.getUint32(o + 23, true);
      const dl = dv.getUint32(o + 27, true);
      if (31 + sl + hl + dl !== 4 + body) break;
      if (onMsg !== undefined) {
        if (!sameBytesAt(buf, o + 31, sl, lastBytes)) {
          lastBytes = buf.slice(o + 31, o + 31 + sl);
          lastSubject = dec.decode(lastBytes);
        }
        onMsg(seq, base + o, 4 + body, dv.getFloat64(o + 13, true), lastSubject, hl);
      }
    } else if (type === DEL) {
      onDel?.(seq);
      onDelAt?.(seq, base + o);
    } else break;
    o += 4 + body;
  }
  return o;
}

class FileBackend implements StreamBackend {
  private segs: Segment[] = [];
  private readonly ix: FileIndex;
  private nextId = 1;
  /**
   * The write batch: flushed once it holds BATCH_MAX bytes, so it needs BATCH_MAX plus one record (a larger record
   * flushes first and gets a buffer of its size). Was 1 MiB, three quarters never used but counted by Bun's
   * collector as live memory of every stream.
   */
  private bbuf = new Uint8Array(BATCH_MAX + BATCH_SLACK);
  private bview = new DataView(this.bbuf.buffer);
  private blen = 0;
  private batchSeg: Segment | undefined;
  /**
   * Bumped whenever a summary taken earlier must not be written any more: the segments changed shape (a rewrite or
   * unlink drops the summary), a newer one was written, or the backend closed (its directory may be a new
   * stream's by then). See syncAsync.
   */
  private summaryGen = 0;
  /** The sync_interval timer's syncAsync is running. */
  private syncing = false;
  /**
   * Read-ahead for loads in file order (a consumer walking the stream): the bytes [raOff, raOff + raLen) of
   * segment raSeg, read in one call once a load starts where the previous one ended; a random load reads just
   * its record. Bytes below a segment's `written` never change until the segment is rewritten or unlinked,
   * which forget the window (`raSeg = undefined`).
   */
  private ra: Uint8Array | undefined;
  private raSeg: Segment | undefined;
  private raOff = 0;
  private raLen = 0;
  /** Where the last load's record ended (segment and offset). */
  private lastSeg: Segment | undefined;
  private lastEnd = -1;

  constructor(private readonly dir: string, private readonly syncAlways: boolean, private readonly segmentMax: number) {
    fs.mkdirSync(dir, { recursive: true });
    this.ix = new FileIndex((b, visit) => this.readSegment(b as Segment, visit));
    const ids = fs.readdirSync(dir).filter((f) => f.endsWith(".blk")).map((f) => Number(f.slice(0, -4)))
      .sort((a, b) => a - b);
    if (!this.openFromSummary(ids)) this.rebuild(ids);
    for (const id of ids) if (id >= this.nextId) this.nextId = id + 1;
    if (this.segs.length === 0) this.newSegment();
  }

  ownIndex(): MsgIndex {
    return this.ix;
  }

  private segPath(id: number): string {
    return joinPath(this.dir, String(id).padStart(8, "0") + ".blk");
  }

  private segment(b: Block, file: string, size: number): Segment {
    const s = b as Segment;
    s.file = file;
    s.fd = fs.openSync(file, "a+");
    s.size = size;
    s.written = size;
    s.tombs ??= 0;
    s.tombMin ??= Infinity;
    s.tombMax ??= 0;
    return s;
  }

  /**
   * Opens on the last summary (written by close and by every sync) plus what was written after it: records
   * and tombstones past each segment's summarised size, and segments newer than it, are replayed in order.
   * False when there is no summary or it does not fit the files (a segment rewritten or gone since: compaction
   * deletes the summary first), and the store is rebuilt from the segments.
   */
  private openFromSummary(ids: number[]): boolean {
    const f = joinPath(this.dir, SUMMARY);
    let v: { sizes?: number[]; ids?: number[]; tombs?: Array<[number, number | null, number]>; index?: unknown };
    try {
      v = JSON.parse(fs.readFileSync(f, "utf8"));
    } catch {
      return false;
    }
    const sizes = v.sizes;
    const known = v.ids;
    if (!Array.isArray(sizes) || !Array.isArray(known) || known.length !== sizes.length || known.length > ids.length) {
      return false;
    }
    const now: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const size = fs.statSync(this.segPath(ids[i])).size;
      if (i < known.length && (ids[i] !== known[i] || size < sizes[i])) return false;
      now.push(size);
    }
    const blocks = this.ix.loadSummary(v.index, known);
    if (blocks === undefined) return false;
    this.segs = blocks.map((b, i) => {
      const s = this.segment(b, this.segPath(ids[i]), sizes[i]);
      const t = v.tombs?.[i];
      if (t) [s.tombs, s.tombMin, s.tombMax] = [t[0], t[1] ?? Infinity, t[2]];
      return s;
    });
    this.ix.setBlocks(this.segs);
    // Replay what came after the summary, segment by segment (appends and tombstones only ever go to the
    // newest segment, so this is the order they were written in).
    for (let i = 0; i < ids.length; i++) {
      let seg: Segment;
      const from = i < known.length ? sizes[i] : 0;
      if (i < known.length) seg = this.segs[i];
      else {
        seg = this.segment(newBlock(ids[i]), this.segPath(ids[i]), 0);
        this.segs.push(seg);
        this.ix.addBlock(seg);
      }
      if (now[i] === from) continue;
      // The whole file is readable while its tail is replayed (a tombstone may hit a record just replayed).
      seg.written = now[i];
      let end = from;
      const ok = scanFile(seg.fd, now[i], (seq, off, len, time, subject, hl) => {
        if (off < from) return;
        this.ix.appended(seg, seq, off, len, time, subject, hl);
        end = off + len;
      }, undefined, from, (seq, off) => {
        if (off < from) return;
        this.ix.removed(seq);
        seg.tombs++;
        if (seq < seg.tombMin) seg.tombMin = seq;
        if (seq > seg.tombMax) seg.tombMax = seq;
        end = off + HEAD;
      });
      if (ok < now[i]) fs.truncateSync(seg.file, ok);
      seg.size = seg.written = Math.max(ok, end);
      this.ix.invalidate(seg);
    }
    return true;
  }

  /** Rebuilds from the segment files: tombstones first (they delete seqs of earlier segments), then messages. */
  private rebuild(ids: number[]): void {
    this.dropSummary();
    const gone = new Set<number>();
    const sizes: number[] = [];
    const tombs: Array<[number, number, number]> = [];
    for (const id of ids) {
      const file = this.segPath(id);
      const fd = fs.openSync(file, "r");
      const size = fs.fstatSync(fd).size;
      const t: [number, number, number] = [0, Infinity, 0];
      const ok = scanFile(fd, size, undefined, (seq) => {
        gone.add(seq);
        t[0]++;
        if (seq < t[1]) t[1] = seq;
        if (seq > t[2]) t[2] = seq;
      });
      fs.closeSync(fd);
      if (ok < size) fs.truncateSync(file, ok);
      sizes.push(ok);
      tombs.push(t);
    }
    this.segs = ids.map((id, i) => {
      const b = newBlock(id);
      const file = this.segPath(id);
      this.ix.rebuildBlock(b, (visit) => {
        const fd = fs.openSync(file, "r");
        scanFile(fd, sizes[i], visit, undefined);
        fs.closeSync(fd);
      }, gone);
      const s = this.segment(b, file, sizes[i]);
      [s.tombs, s.tombMin, s.tombMax] = tombs[i];
      return s;
    });
    this.ix.setBlocks(this.segs);
  }

  /** The message records of a segment, for the index's cache. */
  private readSegment(s: Segment, visit: RecordVisit): void {
    if (s === this.batchSeg) this.flush();
    scanFile(s.fd, s.written, visit, undefined);
  }

  private newSegment(): Segment {
    const id = this.nextId++;
    const s = this.segment(newBlock(id), this.segPath(id), 0);
    this.segs.push(s);
    this.ix.addBlock(s);
    return s;
  }

  private active(): Segment {
    return this.segs[this.segs.length - 1];
  }

  /** Makes room for `n` bytes of the active batch (for `seg`) and returns where they go in it. */
  private reserve(seg: Segment, n: number): number {
    if (seg !== this.batchSeg) {
      this.flush();
      this.batchSeg = seg;
    }
    if (this.blen + n > this.bbuf.length) {
      this.flush();
      if (n > this.bbuf.length) {
        this.bbuf = new Uint8Array(n);
        this.bview = new DataView(this.bbuf.buffer);
      }
    }
    const o = this.blen;
    this.blen += n;
    return o;
  }

  /** Queues a record for the active segment; one writeSync per batch (see flush). */
  private write(seg: Segment, rec: Uint8Array): number {
    const off = seg.size;
    const o = this.reserve(seg, rec.length);
    this.bbuf.set(rec, o);
    seg.size += rec.length;
    if (this.blen >= BATCH_MAX) this.flush();
    return off;
  }

  flush(): void {
    const seg = this.batchSeg;
    if (!seg || this.blen === 0) return;
    const n = this.blen;
    this.blen = 0;
    let w = 0;
    while (w < n) w += fs.writeSync(seg.fd, this.bbuf, w, n - w);
    seg.written += n;
    noteStoreWrite(n);
    // A record larger than the batch got a buffer of its own size: back to the usual one.
    if (this.bbuf.length > BATCH_MAX + BATCH_SLACK) {
      this.bbuf = new Uint8Array(BATCH_MAX + BATCH_SLACK);
      this.bview = new DataView(this.bbuf.buffer);
    }
    if (this.syncAlways) fs.fsyncSync(seg.fd);
  }

  append(m: StoredMsg): void {
    let seg = this.active();
    if (seg.size >= this.segmentMax || (seg.min <= seg.max && m.seq - seg.max > GAP_MAX)) seg = this.#roll(seg);
    const subject = m.subject;
    let ascii = true;
    for (let i = 0; i < subject.length; i++) {
      if (subject.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    const hl = m.headers ? m.headers.length : 0;
    if (!ascii) return this.#appendEncoded(seg, m, hl);
    // The common case, encoded straight into the batch buffer.
    const sl = subject.length;
    const dl = m.data.length;
    const body = 1 + 8 + MSG_FIXED + sl + hl + dl;
    const len = 4 + body;
    const off = seg.size;
    const o = this.reserve(seg, len);
    const b = this.bbuf;
    const dv = this.bview;
    dv.setUint32(o, body, true);
    b[o + 4] = MSG;
    dv.setFloat64(o + 5, m.seq, true);
    dv.setFloat64(o + 13, m.time, true);
    dv.setUint16(o + 21, sl, true);
    dv.setUint32(o + 23, hl, true);
    dv.setUint32(o + 27, dl, true);
    let p = o + 31;
    for (let i = 0; i < sl; i++) b[p++] = subject.charCodeAt(i);
    if (m.headers) b.set(m.headers, p);
    p += hl;
    b.set(m.data, p);
    seg.size += len;
    this.ix.appended(seg, m.seq, off, len, m.time, subject, hl);
    if (this.blen >= BATCH_MAX) this.flush();
  }

  /**
   * append's rare paths, apart from it (the optimizing compilers compile all of a function's code, bench/RESULTS.md
   * `hotcode`): the active segment full or too far behind (compacted, a new one started) ...
   */
  #roll(seg: Segment): Segment {
    this.compact(seg);
    return this.newSegment();
  }

  /** ... and a subject that is not ASCII, encoded on its own (encodeMsg) rather than straight into the batch. */
  #appendEncoded(seg: Segment, m: StoredMsg, hl: number): void {
    const rec = encodeMsg(m);
    const off = this.write(seg, rec);
    this.ix.appended(seg, m.seq, off, rec.length, m.time, m.subject, hl);
  }

  load(seq: number): StoredMsg | undefined {
    const loc = this.ix.loc(seq);
    if (!loc) return undefined;
    const seg = loc.block as Segment;
    const off = loc.off, len = loc.len;
    const end = off + len;
    if (end > seg.written) this.flush();
    const sequential = seg === this.lastSeg && off >= this.lastEnd && off - this.lastEnd < 4096;
    this.lastSeg = seg;
    this.lastEnd = end;
    if (seg === this.raSeg && off >= this.raOff && end <= this.raOff + this.raLen) {
      return decodeMsg(this.ra!.subarray(off - this.raOff, end - this.raOff));
    }
    if (!sequential || len > READ_AHEAD / 4) {
      const buf = new Uint8Array(len);
      fs.readSync(seg.fd, buf, 0, len, off);
      return decodeMsg(buf);
    }
    const ra = this.ra ??= new Uint8Array(READ_AHEAD);
    const n = fs.readSync(seg.fd, ra, 0, Math.min(READ_AHEAD, seg.written - off), off);
    if (n < len) throw new Error(`file store ${this.dir}: short read of message ${seq} (${n} of ${len} bytes at ${off})`);
    this.raSeg = seg;
    this.raOff = off;
    this.raLen = n;
    return decodeMsg(ra.subarray(0, len));
  }

  remove(seqs: number[]): void {
    const touched = new Set<Segment>();
    const act = this.active();
    for (const seq of seqs) {
      const r = this.ix.removed(seq);
      if (r === undefined) continue;
      const seg = r.block as Segment;
      touched.add(seg);
      if (seg.live === 0 && seg !== act) continue; // the whole segment goes; no tombstone needed
      this.write(act, encodeDel(seq));
      act.tombs++;
      if (seq < act.tombMin) act.tombMin = seq;
      if (seq > act.tombMax) act.tombMax = seq;
    }
    for (const s of touched) this.compact(s);
  }

  /** Could a tombstone of `seg` still delete a message of another segment? (a bound: may say yes for none) */
  private tombsNeeded(seg: Segment): boolean {
    if (seg.tombs === 0) return false;
    for (const s of this.segs) {
      if (s === seg || s.min > s.max) continue;
      if (s.max >= seg.tombMin && s.min <= seg.tombMax) return true;
    }
    return false;
  }

  /** Unlinks a segment with nothing left in it, rewrites one that is mostly dead. */
  private compact(seg: Segment): void {
    this.flush();
    if (seg === this.active() && seg.size < this.segmentMax) {
      if (seg.live > 0 || seg.size === 0) return;
    }
    if (seg.live === 0 && !this.tombsNeeded(seg)) {
      if (this.raSeg === seg) this.raSeg = undefined;
      this.dropSummary();
      if (this.batchSeg === seg) this.batchSeg = undefined;
      fs.closeSync(seg.fd);
      fs.rmSync(seg.file, { force: true });
      this.segs.splice(this.segs.indexOf(seg), 1);
      this.ix.removeBlock(seg);
      if (this.segs.length === 0) this.newSegment();
      return;
    }
    if (seg.liveBytes + seg.tombs * HEAD > seg.size / 2) return;
    // Rewrite live records + needed tombstones into a fresh file, then swap it in.
    if (this.raSeg === seg) this.raSeg = undefined;
    this.dropSummary();
    const buf = new Uint8Array(seg.written);
    fs.readSync(seg.fd, buf, 0, seg.written, 0);
    const parts: Uint8Array[] = [];
    let off = 0;
    const t: [number, number, number] = [0, Infinity, 0];
    parseSegment(buf, (seq, o, len) => {
      if (!this.ix.has(seq) || this.ix.find(seq) !== seg) return;
      parts.push(buf.subarray(o, o + len));
      off += len;
    }, (seq) => {
      const owner = this.ix.find(seq);
      if (owner === undefined || owner === seg) return;
      parts.push(encodeDel(seq));
      off += HEAD;
      t[0]++;
      if (seq < t[1]) t[1] = seq;
      if (seq > t[2]) t[2] = seq;
    });
    const all = new Uint8Array(off);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const tmp = seg.file + ".tmp";
    fs.writeFileSync(tmp, all);
    fs.closeSync(seg.fd);
    fs.renameSync(tmp, seg.file);
    seg.fd = fs.openSync(seg.file, "a+");
    seg.size = off;
    seg.written = off;
    [seg.tombs, seg.tombMin, seg.tombMax] = t;
    // Offsets moved: the parsed detail is read again when next needed.
    this.ix.invalidate(seg);
    if (seg.live === 0 && !this.tombsNeeded(seg) && seg !== this.active()) this.compact(seg);
  }

  scan(): MsgMeta[] {
    const out: MsgMeta[] = [];
    this.scanEach((seq, subject, size, time, hdr) => out.push({ seq, subject, size, time, hdr }));
    return out;
  }

  /** Live messages ascending, with the memory store's size (subject + headers + data + 16). */
  scanEach(visit: (seq: number, subject: string, size: number, time: number, hdr: number) => void): void {
    this.flush();
    for (const s of this.segs) {
      if (s.live === 0) continue;
      this.readSegment(s, (seq, _o, len, time, subject, hdr) => {
        if (this.ix.has(seq) && this.ix.find(seq) === s) visit(seq, subject, len - 15, time, hdr);
      });
    }
  }

  sync(): void {
    this.flush();
    for (const s of this.segs) fs.fsyncSync(s.fd);
    // A crash after this replays only what is written after it.
    if (this.segs.length > 0) this.writeSummary();
  }

  /**
   * sync() for the `sync_interval` timer, without holding the event loop: fsync of a few tens of MB takes 40-250 ms
   * here, and every client would wait that long every interval (a tail at the interval's rhythm). One at a time.
   */
  syncInBackground(): void {
    if (this.syncing) return;
    this.syncing = true;
    this.syncAsync(() => {
      this.syncing = false;
    });
  }

  /**
   * sync() with the fsyncs on the runtime's I/O threads; `done` runs once everything flushed before the call is on
   * disk. If a segment was rewritten or closed meanwhile (its fd gone), the segments are fsynced here instead: `done`
   * never runs before the data is durable. What R3 log compaction waits for before it drops the log behind the store.
   */
  syncAsync(done: () => void): void {
    if (this.segs.length === 0) return done();
    this.flush();
    const segs = this.segs.slice();
    const gen = this.summaryGen;
    const text = this.summaryText();
    let left = segs.length;
    let failed = false;
    const one = (err: Error | null) => {
      if (err !== null) failed = true;
      if (--left > 0) return;
      if (failed) {
        try {
          this.sync();
        } catch {
          // closed: close() fsynced every segment
        }
      } else if (gen === this.summaryGen) this.writeSummaryText(text);
      done();
    };
    for (const s of segs) fs.fsync(s.fd, one);
  }

  close(): void {
    this.summaryGen++;
    this.raSeg = undefined;
    this.ra = undefined;
    if (this.segs.length === 0) return;
    this.flush();
    for (const s of this.segs) {
      try {
        fs.fsyncSync(s.fd);
        fs.closeSync(s.fd);
      } catch {
        // already closed
      }
    }
    this.writeSummary();
    this.segs.length = 0;
  }

  /** The summary the next open starts from; written after every segment is on disk (flushed and synced). */
  private writeSummary(): void {
    this.writeSummaryText(this.summaryText());
  }

  private writeSummaryText(text: string): void {
    this.summaryGen++;
    this.putSummary(text);
  }

  /** The segments and index as they are now (flushed), as the summary file holds them. */
  private summaryText(): string {
    return JSON.stringify({
      ids: this.segs.map((s) => s.id),
      sizes: this.segs.map((s) => s.written),
      tombs: this.segs.map((s) => [s.tombs, s.tombMin === Infinity ? null : s.tombMin, s.tombMax]),
      index: this.ix.summary(),
    });
  }

  private putSummary(text: string): void {
    const f = joinPath(this.dir, SUMMARY);
    try {
      fs.writeFileSync(f + ".tmp", text);
      fs.renameSync(f + ".tmp", f);
    } catch {
      // The stream directory went away (dropped): nothing to summarise.
    }
  }

  /** Before a segment is rewritten or unlinked: the summary would no longer fit (the next sync writes one). */
  private dropSummary(): void {
    this.summaryGen++;
    fs.rmSync(joinPath(this.dir, SUMMARY), { force: true });
  }
}

/** Does buf[at, at + len) hold the bytes of `b`? */
function sameBytesAt(buf: Uint8Array, at: number, len: number, b: Uint8Array): boolean {
  if (len !== b.length) return false;
  for (let i = 0; i < len; i++) if (buf[at + i] !== b[i]) return false;
  return true;
}

function safeName(name: string): string {
  return encodeURIComponent(name).replace(/\./g, "%2E");
}

/**
 * An account's directory name under `<store_dir>/jetstream/`: the name itself, as nats-server writes it, with
 * only what a path cannot hold escaped.
 */
export function accountDirName(account: string): string {
  if (account === "" || account === "." || account === "..") return account.replace(/\./g, "%2E") || "%00";
  // deno-lint-ignore no-control-regex
  return account.replace(/[\/\\%\x00-\x1f]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
}

/**
 * Streams written before accounts lived in `<store_dir>/jetstream/streams/<stream>`; they are `$G`'s and move
 * (one rename each, atomic) to `<store_dir>/jetstream/$G/streams/<stream>`. A stream present in both places is
 * a conflict nobody should resolve silently: start-up stops and names both directories.
 */
export function migrateLegacyStreams(jsDir: string, target: string): void {
  const legacy = joinPath(jsDir, "streams");
  if (!fs.existsSync(legacy) || !fs.statSync(legacy).isDirectory()) return;
  for (const d of fs.readdirSync(legacy)) {
    const from = joinPath(legacy, d);
    // An account named "streams" has <jsDir>/streams/streams/<stream>: not a stream directory itself.
    if (!fs.existsSync(joinPath(from, "meta")) && !fs.existsSync(joinPath(from, "msgs"))) continue;
    const to = joinPath(target, d);
    if (fs.existsSync(to)) {
      throw new Error(`jetstream: stream store ${from} (layout before accounts) and ${to} both exist; move one away`);
    }
    fs.mkdirSync(target, { recursive: true });
    fs.renameSync(from, to);
  }
  if (fs.readdirSync(legacy).length === 0) fs.rmdirSync(legacy);
}

/** One directory per stream under `<store_dir>/jetstream/<account>/streams/`, as nats-server lays it out. */
export class FileStorage implements StorageProvider {
  readonly kind = "file" as const;
  private readonly root: string;
  private readonly open = new Map<string, FileBackend>();
  private timer: Timer | undefined;

  /** `segmentMax`: bytes after which a new segment starts (tests make it small to get many). */
  constructor(
    storeDir: string,
    private readonly syncPolicy: SyncPolicy,
    account = "$G",
    private readonly segmentMax = SEGMENT_MAX,
  ) {
    const jsDir = joinPath(storeDir, "jetstream");
    this.root = joinPath(jsDir, accountDirName(account), "streams");
    if (account === "$G") migrateLegacyStreams(jsDir, this.root);
    fs.mkdirSync(this.root, { recursive: true });
    if (typeof syncPolicy === "number" && syncPolicy > 0) {
      // A light timer: on Deno a runtime setInterval loads Node's timer layer for good (light_timers.ts).
      this.timer = lightInterval(syncPolicy, () => {
        for (const b of this.open.values()) b.syncInBackground();
      });
    }
  }

  private streamDir(name: string): string {
    return joinPath(this.root, safeName(name));
  }

  openStream(name: string): StreamBackend {
    let b = this.open.get(name);
    if (!b) {
      b = new FileBackend(joinPath(this.streamDir(name), "msgs"), this.syncPolicy === "always", this.segmentMax);
      this.open.set(name, b);
    }
    return b;
  }
  dropStream(name: string): void {
    this.open.get(name)?.close();
    this.open.delete(name);
    fs.rmSync(this.streamDir(name), { recursive: true, force: true });
  }
  streamNames(): string[] {
    const out: string[] = [];
    for (const d of fs.readdirSync(this.root)) {
      if (fs.existsSync(joinPath(this.root, d, "meta", "config.json"))) out.push(decodeURIComponent(d));
    }
    return out.sort();
  }
  private metaFile(stream: string, key: string): string {
    return joinPath(this.streamDir(stream), "meta", safeName(key) + ".json");
  }
  getMeta(stream: string, key: string): string | undefined {
    try {
      return fs.readFileSync(this.metaFile(stream, key), "utf8");
    } catch {
      return undefined;
    }
  }
  putMeta(stream: string, key: string, value: string): void {
    const f = this.metaFile(stream, key);
    fs.mkdirSync(dirName(f), { recursive: true });
    const tmp = f + ".tmp";
    const fd = fs.openSync(tmp, "w");
    const bytes = enc.encode(value);
    for (let w = 0; w < bytes.length;) w += fs.writeSync(fd, bytes, w, bytes.length - w);
    if (this.syncPolicy === "always") fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, f);
  }
  deleteMeta(stream: string, key: string): void {
    fs.rmSync(this.metaFile(stream, key), { force: true });
  }
  listMeta(stream: string, prefix: string): Array<[string, string]> {
    const dir = joinPath(this.streamDir(stream), "meta");
    if (!fs.existsSync(dir)) return [];
    const out: Array<[string, string]> = [];
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith(".json")) continue;
      const key = decodeURIComponent(f.slice(0, -5));
      if (!key.startsWith(prefix)) continue;
      out.push([key, fs.readFileSync(joinPath(dir, f), "utf8")]);
    }
    return out;
  }
  sync(): void {
    for (const b of this.open.values()) b.sync();
  }
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    for (const b of this.open.values()) b.close();
    this.open.clear();
  }
}
