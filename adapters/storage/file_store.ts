import * as fs from "node:fs";
import * as path from "node:path";
import {
  type MsgMeta,
  type StorageProvider,
  type StoredMsg,
  type StreamBackend,
  type SyncPolicy,
} from "../../src/jetstream/store/types.ts";
import { SeqTable } from "../../src/jetstream/seqtable.ts";

/**
 * Filesystem store. Each stream is a directory with append-only segment files (`msgs/NNNNNNNN.blk`) and a
 * `meta/` directory of small JSON records written atomically (tmp + rename).
 *
 * Record layout (little endian): u32 bodyLen | u8 type | f64 seq | ... body
 *   type 1 (message): f64 time | u16 subjLen | u32 hdrLen | u32 dataLen | subject | hdr | data
 *   type 2 (delete):  nothing more
 * The index (seq -> segment, offset, length) is rebuilt by scanning the segments on open and kept in typed
 * columns, 12 bytes a message; a torn record at the
 * tail (kill -9 mid-write) is cut off. Segments whose messages are mostly deleted are rewritten, empty ones
 * unlinked: deletes of old messages never grow the disk forever.
 */

const MSG = 1;
const DEL = 2;
const HEAD = 4 + 1 + 8;
const MSG_FIXED = 8 + 2 + 4 + 4;
const SEGMENT_MAX = 8 * 1024 * 1024;
const BATCH_MAX = 256 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Loc {
  seg: Segment;
  off: number;
  len: number;
}

interface Segment {
  id: number;
  file: string;
  fd: number;
  /** Logical size, including bytes still in the write batch. */
  size: number;
  /** Bytes already handed to the OS. */
  written: number;
  liveBytes: number;
  live: number;
  /** Seqs deleted by tombstones stored in this segment (needed while the target's segment exists). */
  tombs: number[];
  minSeq: number;
  maxSeq: number;
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
  const subject = dec.decode(buf.subarray(o, o + sl));
  o += sl;
  const headers = hl > 0 ? buf.slice(o, o + hl) : undefined;
  o += hl;
  return { seq, time, subject, headers, data: buf.slice(o, o + dl) };
}

class FileBackend implements StreamBackend {
  private readonly segs: Segment[] = [];
  /** seq -> segment id, offset, record length. */
  private readonly index = new SeqTable(["u32", "u32", "u32"]);
  private readonly segById = new Map<number, Segment>();
  private nextId = 1;
  private bbuf = new Uint8Array(1024 * 1024);
  private bview = new DataView(this.bbuf.buffer);
  private blen = 0;
  private batchSeg: Segment | undefined;

  constructor(private readonly dir: string, private readonly syncAlways: boolean) {
    fs.mkdirSync(dir, { recursive: true });
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".blk")).sort();
    for (const f of files) this.loadSegment(Number(f.slice(0, -4)));
    if (this.segs.length === 0) this.newSegment();
  }

  private loc(seq: number): Loc | undefined {
    const id = this.index.num(seq, 0);
    if (Number.isNaN(id)) return undefined;
    const seg = this.segById.get(id);
    if (seg === undefined) throw new Error(`file store: message ${seq} indexed in unknown segment ${id}`);
    return { seg, off: this.index.num(seq, 1), len: this.index.num(seq, 2) };
  }

  private setLoc(seq: number, seg: Segment, off: number, len: number): void {
    this.index.set3(seq, seg.id, off, len);
  }

  private segPath(id: number): string {
    return path.join(this.dir, String(id).padStart(8, "0") + ".blk");
  }

  private newSegment(): Segment {
    const id = this.nextId++;
    const file = this.segPath(id);
    const fd = fs.openSync(file, "a+");
    const s: Segment = { id, file, fd, size: 0, written: 0, liveBytes: 0, live: 0, tombs: [], minSeq: Infinity, maxSeq: 0 };
    this.segs.push(s);
    this.segById.set(id, s);
    return s;
  }

  private loadSegment(id: number): void {
    const file = this.segPath(id);
    const buf: Uint8Array = fs.readFileSync(file); // a Buffer is a Uint8Array: no copy
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const seg: Segment = { id, file, fd: -1, size: 0, written: 0, liveBytes: 0, live: 0, tombs: [], minSeq: Infinity, maxSeq: 0 };
    this.segById.set(id, seg);
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
        this.setLoc(seq, seg, o, 4 + body);
        seg.live++;
        seg.liveBytes += 4 + body;
        if (seq < seg.minSeq) seg.minSeq = seq;
        if (seq > seg.maxSeq) seg.maxSeq = seq;
      } else if (type === DEL) {
        seg.tombs.push(seq);
        const loc = this.loc(seq);
        if (loc) {
          this.index.delete(seq);
          loc.seg.live--;
          loc.seg.liveBytes -= loc.len;
        }
      } else break;
      o += 4 + body;
    }
    if (o < buf.length) fs.truncateSync(file, o);
    seg.size = o;
    seg.written = o;
    seg.fd = fs.openSync(file, "a+");
    this.segs.push(seg);
    if (id >= this.nextId) this.nextId = id + 1;
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
    if (this.syncAlways) fs.fsyncSync(seg.fd);
  }

  append(m: StoredMsg): void {
    let seg = this.active();
    if (seg.size >= SEGMENT_MAX) {
      this.compact(seg);
      seg = this.newSegment();
    }
    const subject = m.subject;
    let ascii = true;
    for (let i = 0; i < subject.length; i++) {
      if (subject.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    if (!ascii) {
      const rec = encodeMsg(m);
      const off = this.write(seg, rec);
      this.indexAppended(seg, m.seq, off, rec.length);
      return;
    }
    // The common case, encoded straight into the batch buffer.
    const sl = subject.length;
    const hl = m.headers ? m.headers.length : 0;
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
    this.indexAppended(seg, m.seq, off, len);
    if (this.blen >= BATCH_MAX) this.flush();
  }

  private indexAppended(seg: Segment, seq: number, off: number, len: number): void {
    this.setLoc(seq, seg, off, len);
    seg.live++;
    seg.liveBytes += len;
    if (seq < seg.minSeq) seg.minSeq = seq;
    if (seq > seg.maxSeq) seg.maxSeq = seq;
  }

  load(seq: number): StoredMsg | undefined {
    const loc = this.loc(seq);
    if (!loc) return undefined;
    if (loc.off + loc.len > loc.seg.written) this.flush();
    const buf = new Uint8Array(loc.len);
    fs.readSync(loc.seg.fd, buf, 0, loc.len, loc.off);
    return decodeMsg(buf);
  }

  remove(seqs: number[]): void {
    const touched = new Set<Segment>();
    const act = this.active();
    for (const seq of seqs) {
      const loc = this.loc(seq);
      if (!loc) continue;
      this.index.delete(seq);
      loc.seg.live--;
      loc.seg.liveBytes -= loc.len;
      touched.add(loc.seg);
      if (loc.seg.live === 0 && loc.seg !== act) continue; // the whole segment goes; no tombstone needed
      this.write(act, encodeDel(seq));
      act.tombs.push(seq);
    }
    for (const s of touched) this.compact(s);
  }

  /** Unlinks a segment with nothing left in it, rewrites one that is mostly dead. */
  private compact(seg: Segment): void {
    this.flush();
    if (seg === this.active() && seg.size < SEGMENT_MAX) {
      if (seg.live > 0 || seg.size === 0) return;
    }
    const keepTombs = seg.tombs.filter((t) => {
      const owner = this.segs.find((s) => s !== seg && t >= s.minSeq && t <= s.maxSeq);
      return owner !== undefined;
    });
    if (seg.live === 0 && keepTombs.length === 0) {
      if (this.batchSeg === seg) this.batchSeg = undefined;
      fs.closeSync(seg.fd);
      fs.rmSync(seg.file, { force: true });
      this.segs.splice(this.segs.indexOf(seg), 1);
      this.segById.delete(seg.id);
      if (this.segs.length === 0) this.newSegment();
      return;
    }
    if (seg.liveBytes + keepTombs.length * HEAD > seg.size / 2) return;
    // Rewrite live records + needed tombstones into a fresh file, then swap it in.
    const tmp = seg.file + ".tmp";
    const parts: Uint8Array[] = [];
    const moved: Array<[number, number, number]> = [];
    let off = 0;
    // In ascending order: a store is read back segment by segment, and each segment in file order.
    const seqs: number[] = [];
    for (const seq of this.index.seqs()) if (this.index.num(seq, 0) === seg.id) seqs.push(seq);
    seqs.sort((x, y) => x - y);
    for (const seq of seqs) {
      const loc = this.loc(seq);
      if (loc === undefined) continue;
      const buf = new Uint8Array(loc.len);
      fs.readSync(seg.fd, buf, 0, loc.len, loc.off);
      parts.push(buf);
      moved.push([seq, off, loc.len]);
      off += loc.len;
    }
    for (const t of keepTombs) {
      parts.push(encodeDel(t));
      off += HEAD;
    }
    const all = new Uint8Array(off);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    fs.writeFileSync(tmp, all);
    fs.closeSync(seg.fd);
    fs.renameSync(tmp, seg.file);
    seg.fd = fs.openSync(seg.file, "a+");
    seg.size = off;
    seg.written = off;
    seg.liveBytes = off - keepTombs.length * HEAD;
    seg.tombs = keepTombs;
    for (const [seq, so, len] of moved) this.setLoc(seq, seg, so, len);
  }

  scan(): MsgMeta[] {
    const out: MsgMeta[] = [];
    this.scanEach((seq, subject, size, time, hdr) => out.push({ seq, subject, size, time, hdr }));
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Live messages segment by segment (ascending, as segments are written in order); nothing kept per message. */
  scanEach(visit: (seq: number, subject: string, size: number, time: number, hdr: number) => void): void {
    this.flush();
    // Consecutive messages mostly share a subject: decode it once, not once per message.
    let lastBytes = new Uint8Array(0);
    let lastSubject = "";
    for (const seg of this.segs) {
      const buf: Uint8Array = fs.readFileSync(seg.file);
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let o = 0; o + HEAD <= seg.size;) {
        const body = dv.getUint32(o, true);
        if (buf[o + 4] === MSG) {
          const seq = dv.getFloat64(o + 5, true);
          if (this.index.num(seq, 0) === seg.id && this.index.num(seq, 1) === o) {
            const sl = dv.getUint16(o + 21, true);
            if (!sameBytesAt(buf, o + 31, sl, lastBytes)) {
              lastBytes = buf.slice(o + 31, o + 31 + sl);
              lastSubject = dec.decode(lastBytes);
            }
            const hdr = dv.getUint32(o + 23, true);
            const size = sl + hdr + dv.getUint32(o + 27, true) + 16;
            visit(seq, lastSubject, size, dv.getFloat64(o + 13, true), hdr);
          }
        }
        o += 4 + body;
      }
    }
  }

  sync(): void {
    this.flush();
    for (const s of this.segs) fs.fsyncSync(s.fd);
  }

  close(): void {
    this.flush();
    for (const s of this.segs) {
      try {
        fs.fsyncSync(s.fd);
        fs.closeSync(s.fd);
      } catch {
        // already closed
      }
    }
    this.segs.length = 0;
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
  const legacy = path.join(jsDir, "streams");
  if (!fs.existsSync(legacy) || !fs.statSync(legacy).isDirectory()) return;
  for (const d of fs.readdirSync(legacy)) {
    const from = path.join(legacy, d);
    // An account named "streams" has <jsDir>/streams/streams/<stream>: not a stream directory itself.
    if (!fs.existsSync(path.join(from, "meta")) && !fs.existsSync(path.join(from, "msgs"))) continue;
    const to = path.join(target, d);
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
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(storeDir: string, private readonly syncPolicy: SyncPolicy, account = "$G") {
    const jsDir = path.join(storeDir, "jetstream");
    this.root = path.join(jsDir, accountDirName(account), "streams");
    if (account === "$G") migrateLegacyStreams(jsDir, this.root);
    fs.mkdirSync(this.root, { recursive: true });
    if (typeof syncPolicy === "number" && syncPolicy > 0) {
      this.timer = setInterval(() => this.sync(), syncPolicy);
      const t = this.timer as unknown as { unref?: () => void };
      t.unref?.();
    }
  }

  private streamDir(name: string): string {
    return path.join(this.root, safeName(name));
  }

  openStream(name: string): StreamBackend {
    let b = this.open.get(name);
    if (!b) {
      b = new FileBackend(path.join(this.streamDir(name), "msgs"), this.syncPolicy === "always");
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
      if (fs.existsSync(path.join(this.root, d, "meta", "config.json"))) out.push(decodeURIComponent(d));
    }
    return out.sort();
  }
  private metaFile(stream: string, key: string): string {
    return path.join(this.streamDir(stream), "meta", safeName(key) + ".json");
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
    fs.mkdirSync(path.dirname(f), { recursive: true });
    const tmp = f + ".tmp";
    const fd = fs.openSync(tmp, "w");
    fs.writeSync(fd, value);
    if (this.syncPolicy === "always") fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, f);
  }
  deleteMeta(stream: string, key: string): void {
    fs.rmSync(this.metaFile(stream, key), { force: true });
  }
  listMeta(stream: string, prefix: string): Array<[string, string]> {
    const dir = path.join(this.streamDir(stream), "meta");
    if (!fs.existsSync(dir)) return [];
    const out: Array<[string, string]> = [];
    for (const f of fs.readdirSync(dir).sort()) {
      if (!f.endsWith(".json")) continue;
      const key = decodeURIComponent(f.slice(0, -5));
      if (!key.startsWith(prefix)) continue;
      out.push([key, fs.readFileSync(path.join(dir, f), "utf8")]);
    }
    return out;
  }
  sync(): void {
    for (const b of this.open.values()) b.sync();
  }
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const b of this.open.values()) b.close();
    this.open.clear();
  }
}
