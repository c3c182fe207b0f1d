/**
 * The file store's own message index, kept so that a stream's memory does not grow with what it stores (the
 * shape of nats-server's file store): in memory only a summary per block (its sequence range, live count and
 * bytes, and a bitmap of deleted sequences once it has holes) and the per-subject state (count, and a first
 * and last that are bounds, resolved lazily by reading blocks). Per-message detail (offset, length, time,
 * subject) is read from the block file into a bounded LRU cache of parsed blocks when asked for. Start-up
 * reads a summary written on clean close (`index.json`); without one (a crash) it rebuilds from the blocks,
 * one block at a time.
 */
import type { MsgIndex, MsgVisit } from "../../src/jetstream/store/msg_index.ts";

/** Parsed blocks kept besides the one being written. */
export const CACHE_BLOCKS = 3;
/** Subjects a block counts on its own (what lets counts and subject scans skip whole blocks). */
const SUBJ_MAX = 16;

function countSubject(b: Block, subject: string, by: number): void {
  const m = b.subj;
  if (m === null) return;
  const n = (m.get(subject) ?? 0) + by;
  if (n > 0) m.set(subject, n);
  else m.delete(subject);
  if (m.size > SUBJ_MAX) b.subj = null;
}

/** One block (segment file) as the index sees it. */
export interface Block {
  id: number;
  /** Sequence range of the records written to it; min > max while it has none. */
  min: number;
  max: number;
  live: number;
  /** Bytes of live records in the file (compaction). */
  liveBytes: number;
  /** Live messages with headers (the dedupe window is rebuilt from those: blocks without any are skipped). */
  hdrLive: number;
  /** Live messages per subject while the block holds at most SUBJ_MAX subjects; null past that (unknown). */
  subj: Map<string, number> | null;
  /** Live size as the stream accounts it. */
  acct: number;
  /** Bit i set: seq min+i is not stored (deleted, or never written here). Absent while there is none. */
  dead: Uint8Array | undefined;
  /** Lowest and highest live seq (0 when none), and their times (read without parsing the block). */
  firstLive: number;
  lastLive: number;
  firstTime: number;
  lastTime: number;
}

/** The per-message detail of one block, indexed by seq - min. */
export interface BlockCache {
  min: number;
  n: number;
  off: Uint32Array;
  len: Uint32Array;
  time: Float64Array;
  subj: Uint32Array;
  hdr: Uint8Array;
  names: string[];
  ids: Map<string, number>;
}

interface SubjectState {
  readonly subject: string;
  count: number;
  /** <= the first stored seq of the subject. */
  first: number;
  /** >= the last stored seq of the subject. */
  last: number;
}

/** A record as a block parser reports it. */
export type RecordVisit = (seq: number, off: number, len: number, time: number, subject: string, hdr: number) => void;

/** Stream-accounted size of a record of `len` bytes (file store: 30 + subject + data, + 4 + headers). */
export function acctOf(len: number, hasHdr: boolean): number {
  // len = 31 + subject + hdr + data
  return hasHdr ? len + 3 : len - 1;
}

export function newBlock(id: number): Block {
  return { id, min: 1, max: 0, live: 0, liveBytes: 0, hdrLive: 0, subj: new Map(), acct: 0, dead: undefined, firstLive: 0, lastLive: 0, firstTime: 0, lastTime: 0 };
}

function newCache(min: number, cap: number): BlockCache {
  return {
    min,
    n: 0,
    off: new Uint32Array(cap),
    len: new Uint32Array(cap),
    time: new Float64Array(cap),
    subj: new Uint32Array(cap),
    hdr: new Uint8Array(cap),
    names: [],
    ids: new Map(),
  };
}

function grow<T extends Uint32Array | Float64Array | Uint8Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

function isDead(b: Block, seq: number): boolean {
  const d = b.dead;
  if (d === undefined) return false;
  const i = seq - b.min;
  return (d[i >>> 3] & (1 << (i & 7))) !== 0;
}

function markDead(b: Block, seq: number): void {
  const i = seq - b.min;
  let d = b.dead;
  if (d === undefined || (i >>> 3) >= d.length) {
    const need = Math.max(((b.max - b.min + 1) >>> 3) + 1, (i >>> 3) + 1);
    const nd = new Uint8Array(Math.max(need, d ? d.length * 2 : 64));
    if (d) nd.set(d);
    b.dead = d = nd;
  }
  d[i >>> 3] |= 1 << (i & 7);
}

export class FileIndex implements MsgIndex {
  /** Blocks in sequence order; the last one is being written. */
  readonly blocks: Block[] = [];
  readonly #subjects = new Map<string, SubjectState>();
  #count = 0;
  #bytes = 0;
  readonly #lru = new Map<Block, BlockCache>();
  #activeCache: BlockCache | undefined;
  #activeBlock: Block | undefined;

  /** `read(block, visit)`: parses the block's file (message records only, in file order). */
  constructor(private readonly read: (b: Block, visit: RecordVisit) => void) {}

  get count(): number {
    return this.#count;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get numSubjects(): number {
    return this.#subjects.size;
  }

  // ---- blocks and caches

  /** The block whose range holds `seq`. */
  find(seq: number): Block | undefined {
    const bs = this.blocks;
    for (let i = this.#lowerBound(seq); i < bs.length; i++) {
      const b = bs[i];
      if (b.min > b.max) continue;
      return seq >= b.min && seq <= b.max ? b : undefined;
    }
    return undefined;
  }

  /** Index of the first block whose max >= seq (blocks.length when none). */
  #lowerBound(seq: number): number {
    const bs = this.blocks;
    let lo = 0;
    let hi = bs.length - 1;
    // A block without records has max = the previous block's max (see addBlock): max never goes down.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (bs[mid].max < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return lo;
  }

  #indexOf(b: Block): number {
    return this.blocks.indexOf(b);
  }

  cache(b: Block): BlockCache {
    if (b === this.#activeBlock && this.#activeCache !== undefined) return this.#activeCache;
    let c = this.#lru.get(b);
    if (c !== undefined) {
      this.#lru.delete(b);
      this.#lru.set(b, c);
      return c;
    }
    c = this.#build(b);
    if (b === this.#activeBlock) this.#activeCache = c;
    else {
      this.#lru.set(b, c);
      if (this.#lru.size > CACHE_BLOCKS) this.#lru.delete(this.#lru.keys().next().value as Block);
    }
    return c;
  }

  #build(b: Block): BlockCache {
    const cap = b.min > b.max ? 256 : b.max - b.min + 1;
    const c = newCache(b.min, cap);
    this.read(b, (seq, off, len, time, subject, hdr) => {
      // Records past max are a tail being replayed on open (indexed as it goes); below min cannot be.
      if (seq < b.min) throw new Error(`file store: block ${b.id} holds seq ${seq} below ${b.min}`);
      this.#put(c, seq, off, len, time, subject, hdr);
    });
    return c;
  }

  #put(c: BlockCache, seq: number, off: number, len: number, time: number, subject: string, hdr: number): void {
    const i = seq - c.min;
    if (i >= c.off.length) {
      const cap = Math.max(i + 1, c.off.length * 2);
      c.off = grow(c.off, cap);
      c.len = grow(c.len, cap);
      c.time = grow(c.time, cap);
      c.subj = grow(c.subj, cap);
      c.hdr = grow(c.hdr, cap);
    }
    let id = c.ids.get(subject);
    if (id === undefined) {
      id = c.names.length;
      // Share the string the subject state holds.
      const st = this.#subjects.get(subject);
      c.names.push(st ? st.subject : subject);
      c.ids.set(subject, id);
    }
    c.off[i] = off;
    c.len[i] = len;
    c.time[i] = time;
    c.subj[i] = id;
    c.hdr[i] = hdr > 0 ? 1 : 0;
    if (i + 1 > c.n) c.n = i + 1;
  }

  /** A block was rewritten (records moved) or removed: forget its parsed detail. */
  invalidate(b: Block): void {
    this.#lru.delete(b);
    if (b === this.#activeBlock) this.#activeCache = undefined;
  }

  /** A new block to write into; the previous one's cache joins the LRU. */
  addBlock(b: Block): void {
    if (this.#activeBlock !== undefined && this.#activeCache !== undefined) {
      this.#lru.set(this.#activeBlock, this.#activeCache);
      if (this.#lru.size > CACHE_BLOCKS) this.#lru.delete(this.#lru.keys().next().value as Block);
    }
    this.#emptyAfter(b, this.blocks[this.blocks.length - 1]);
    this.blocks.push(b);
    this.#activeBlock = b;
    this.#activeCache = undefined;
  }

  /** A block with no records takes the range just past `prev` (so `max` stays ascending over blocks). */
  #emptyAfter(b: Block, prev: Block | undefined): void {
    if (b.min <= b.max) return;
    b.max = prev ? prev.max : 0;
    b.min = b.max + 1;
  }

  /** After a rebuild or a summary: blocks in order, the last one written next. */
  setBlocks(bs: Block[]): void {
    this.blocks.length = 0;
    for (const b of bs) this.addBlock(b);
  }

  removeBlock(b: Block): void {
    this.invalidate(b);
    const i = this.#indexOf(b);
    if (i >= 0) this.blocks.splice(i, 1);
    if (b === this.#activeBlock) {
      this.#activeBlock = this.blocks[this.blocks.length - 1];
      this.#activeCache = undefined;
    }
  }

  // ---- writes (called by the backend)

  /** A message record appended to the active block `b`. */
  appended(b: Block, seq: number, off: number, len: number, time: number, subject: string, hdr: number): void {
    if (b.min <= b.max && seq <= b.max) throw new Error(`file store: append of seq ${seq} after ${b.max}`);
    extendTo(b, seq);
    const st = this.#countLive(b, seq, len, time, subject, hdr);
    // The block's detail is kept up to date only once something asked for it (a load, a removal: `cache`
    // builds it from the file, the batch flushed first). A publisher nobody reads from holds none: ~21 bytes
    // per message of the block (1 MiB for an 8 MiB block of 128-byte messages), and each filled block's
    // detail joined the LRU, 4 MiB of typed arrays held under load that also widened the collectors' budgets.
    if (b === this.#activeBlock && this.#activeCache !== undefined) {
      this.#put(this.#activeCache, seq, off, len, time, st.subject, hdr);
    }
  }

  /** Forgets a stored message; returns its record length and block, or undefined when not stored. */
  removed(seq: number): { block: Block; len: number; off: number } | undefined {
    const b = this.find(seq);
    if (b === undefined || b.live === 0 || isDead(b, seq) || seq < b.firstLive || seq > b.lastLive) return undefined;
    const c = this.cache(b);
    const i = seq - c.min;
    const len = c.len[i];
    if (len === 0) return undefined;
    const acct = acctOf(len, c.hdr[i] > 0);
    const subject = c.names[c.subj[i]];
    markDead(b, seq);
    b.live--;
    b.liveBytes -= len;
    if (c.hdr[i] > 0) b.hdrLive--;
    countSubject(b, subject, -1);
    b.acct -= acct;
    if (b.live === 0) {
      b.firstLive = 0;
      b.lastLive = 0;
    } else {
      if (seq === b.firstLive) {
        let s = seq + 1;
        while (isDead(b, s)) s++;
        b.firstLive = s;
        b.firstTime = c.time[s - c.min];
      }
      if (seq === b.lastLive) {
        let s = seq - 1;
        while (isDead(b, s)) s--;
        b.lastLive = s;
        b.lastTime = c.time[s - c.min];
      }
    }
    this.#count--;
    this.#bytes -= acct;
    const st = this.#subjects.get(subject);
    if (st === undefined) throw new Error(`file store: removed seq ${seq} of unknown subject ${subject}`);
    if (--st.count === 0) this.#subjects.delete(subject);
    else {
      if (seq === st.first) st.first = seq + 1;
      if (seq === st.last) st.last = seq - 1;
    }
    return { block: b, len, off: c.off[i] };
  }

  // ---- MsgIndex

  first(): number | undefined {
    for (const b of this.blocks) if (b.live > 0) return b.firstLive;
    return undefined;
  }
  last(): number | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) if (this.blocks[i].live > 0) return this.blocks[i].lastLive;
    return undefined;
  }
  has(seq: number): boolean {
    const b = this.find(seq);
    return b !== undefined && b.live > 0 && seq >= b.firstLive && seq <= b.lastLive && !isDead(b, seq);
  }
  /** Where a stored message's record is. */
  loc(seq: number): { block: Block; off: number; len: number } | undefined {
    if (!this.has(seq)) return undefined;
    const b = this.find(seq) as Block;
    const c = this.cache(b);
    const i = seq - c.min;
    return { block: b, off: c.off[i], len: c.len[i] };
  }
  subjectOf(seq: number): string | undefined {
    if (!this.has(seq)) return undefined;
    const c = this.cache(this.find(seq) as Block);
    return c.names[c.subj[seq - c.min]];
  }
  timeOf(seq: number): number {
    if (!this.has(seq)) return NaN;
    const b = this.find(seq) as Block;
    if (seq === b.firstLive) return b.firstTime;
    if (seq === b.lastLive) return b.lastTime;
    const c = this.cache(b);
    return c.time[seq - c.min];
  }
  sizeOf(seq: number): number {
    if (!this.has(seq)) return NaN;
    const c = this.cache(this.find(seq) as Block);
    const i = seq - c.min;
    return acctOf(c.len[i], c.hdr[i] > 0);
  }
  ceil(from: number): number | undefined {
    for (let k = this.#startBlock(from); k < this.blocks.length; k++) {
      const b = this.blocks[k];
      if (b.live === 0 || b.lastLive < from) continue;
      for (let s = Math.max(from, b.firstLive); s <= b.lastLive; s++) if (!isDead(b, s)) return s;
    }
    return undefined;
  }
  countFrom(from: number): number {
    let n = 0;
    for (let k = this.blocks.length - 1; k >= 0; k--) {
      const b = this.blocks[k];
      if (b.live === 0) continue;
      if (b.firstLive >= from) n += b.live;
      else {
        if (b.lastLive < from) break;
        for (let s = from; s <= b.lastLive; s++) if (!isDead(b, s)) n++;
        break;
      }
    }
    return n;
  }
  /** The first block whose range ends at or after `from` (the one holding it, or the next). */
  #startBlock(from: number): number {
    return this.#lowerBound(from);
  }
  forEach(from: number, visit: MsgVisit): void {
    for (let k = this.#startBlock(from); k < this.blocks.length; k++) {
      const b = this.blocks[k];
      if (b.live === 0 || b.lastLive < from) continue;
      const c = this.cache(b);
      for (let s = Math.max(from, b.firstLive); s <= b.lastLive; s++) {
        if (isDead(b, s)) continue;
        const i = s - c.min;
        const h = c.hdr[i];
        if (visit(s, c.names[c.subj[i]], acctOf(c.len[i], h > 0), c.time[i], h) === false) return;
      }
    }
  }
  forEachBack(from: number, visit: MsgVisit): void {
    let k = this.#startBlock(from);
    if (k >= this.blocks.length) k = this.blocks.length - 1;
    for (; k >= 0; k--) {
      const b = this.blocks[k];
      if (b.live === 0 || b.firstLive > from) continue;
      const c = this.cache(b);
      for (let s = Math.min(from, b.lastLive); s >= b.firstLive; s--) {
        if (isDead(b, s)) continue;
        const i = s - c.min;
        const h = c.hdr[i];
        if (visit(s, c.names[c.subj[i]], acctOf(c.len[i], h > 0), c.time[i], h) === false) return;
      }
    }
  }
  forEachWithHeaders(since: number, visit: (seq: number, time: number) => boolean | void): void {
    for (let k = this.blocks.length - 1; k >= 0; k--) {
      const b = this.blocks[k];
      if (b.hdrLive === 0) continue;
      const c = this.cache(b);
      for (let s = b.lastLive; s >= b.firstLive; s--) {
        const i = s - c.min;
        if (c.hdr[i] === 0 || isDead(b, s)) continue;
        if (!(c.time[i] >= since) || visit(s, c.time[i]) === false) return;
      }
    }
  }
  subjects(): Iterable<string> {
    return this.#subjects.keys();
  }
  subjectCount(subject: string): number {
    return this.#subjects.get(subject)?.count ?? 0;
  }
  /** The first stored seq of `subject` in [from, to], reading blocks. */
  #scanFwd(subject: string, from: number, to: number): number | undefined {
    for (let k = this.#startBlock(from); k < this.blocks.length; k++) {
      const b = this.blocks[k];
      if (b.min > to) break;
      if (b.live === 0 || b.lastLive < from || (b.subj !== null && !b.subj.has(subject))) continue;
      const c = this.cache(b);
      const id = c.ids.get(subject);
      if (id === undefined) continue;
      const end = Math.min(b.lastLive, to);
      for (let s = Math.max(from, b.firstLive); s <= end; s++) {
        if (c.subj[s - c.min] === id && !isDead(b, s)) return s;
      }
    }
    return undefined;
  }
  #scanBack(subject: string, from: number, to: number): number | undefined {
    let k = this.#startBlock(from);
    if (k >= this.blocks.length) k = this.blocks.length - 1;
    for (; k >= 0; k--) {
      const b = this.blocks[k];
      if (b.min <= b.max && b.max < to) break;
      if (b.live === 0 || b.firstLive > from || (b.subj !== null && !b.subj.has(subject))) continue;
      const c = this.cache(b);
      const id = c.ids.get(subject);
      if (id === undefined) continue;
      const end = Math.max(b.firstLive, to);
      for (let s = Math.min(from, b.lastLive); s >= end; s--) {
        if (c.subj[s - c.min] === id && !isDead(b, s)) return s;
      }
    }
    return undefined;
  }
  #resolve(st: SubjectState): void {
    const f = this.#scanFwd(st.subject, st.first, st.last);
    const l = this.#scanBack(st.subject, st.last, st.first);
    if (f === undefined || l === undefined) throw new Error(`file store: subject ${st.subject} counts ${st.count} but has no message`);
    st.first = f;
    st.last = l;
  }
  subjectFirst(subject: string): number | undefined {
    const st = this.#subjects.get(subject);
    if (st === undefined) return undefined;
    const f = this.#scanFwd(subject, st.first, st.last);
    if (f === undefined) throw new Error(`file store: subject ${subject} counts ${st.count} but has no message`);
    return (st.first = f);
  }
  subjectLast(subject: string): number | undefined {
    const st = this.#subjects.get(subject);
    if (st === undefined) return undefined;
    const l = this.#scanBack(subject, st.last, st.first);
    if (l === undefined) throw new Error(`file store: subject ${subject} counts ${st.count} but has no message`);
    return (st.last = l);
  }
  subjectCeil(subject: string, from: number): number | undefined {
    const st = this.#subjects.get(subject);
    if (st === undefined) return undefined;
    if (from <= st.first) return this.subjectFirst(subject);
    if (from > st.last) return undefined;
    return this.#scanFwd(subject, from, st.last);
  }
  subjectCountFrom(subject: string, from: number): number {
    const st = this.#subjects.get(subject);
    if (st === undefined) return 0;
    this.#resolve(st);
    if (from <= st.first) return st.count;
    if (from > st.last) return 0;
    return this.countFromWhere(from, (subj) => subj === subject, st.last);
  }

  /**
   * Stored messages with seq >= `from` (and <= `to`) whose subject `match`es: whole blocks from their subject
   * counts, only the block `from` cuts (or one with too many subjects to count) read record by record.
   */
  countFromWhere(from: number, match: (subject: string) => boolean, to = Infinity): number {
    const seen = new Map<string, boolean>();
    const test = (subj: string) => {
      let r = seen.get(subj);
      if (r === undefined) seen.set(subj, r = match(subj));
      return r;
    };
    let n = 0;
    for (let k = this.#startBlock(from); k < this.blocks.length; k++) {
      const b = this.blocks[k];
      if (b.min <= b.max && b.min > to) break;
      if (b.live === 0 || b.lastLive < from) continue;
      if (b.subj !== null && b.firstLive >= from && b.lastLive <= to) {
        for (const [subj, c] of b.subj) if (test(subj)) n += c;
        continue;
      }
      const c = this.cache(b);
      const end = Math.min(b.lastLive, to);
      for (let s = Math.max(from, b.firstLive); s <= end; s++) {
        if (!isDead(b, s) && test(c.names[c.subj[s - c.min]])) n++;
      }
    }
    return n;
  }
  add(): void {
    throw new Error("file store: its index is kept by append");
  }
  delete(): boolean {
    throw new Error("file store: its index is kept by remove");
  }

  // ---- summary (clean close) and rebuild (crash)

  summary(): unknown {
    return {
      v: 4,
      count: this.#count,
      bytes: this.#bytes,
      blocks: this.blocks.map((b) => ({
        id: b.id,
        min: b.min,
        max: b.max,
        live: b.live,
        liveBytes: b.liveBytes,
        hdrLive: b.hdrLive,
        subj: b.subj === null ? null : [...b.subj],
        acct: b.acct,
        firstLive: b.firstLive,
        lastLive: b.lastLive,
        firstTime: b.firstTime,
        lastTime: b.lastTime,
        dead: b.dead ? toB64(b.dead) : undefined,
      })),
      subjects: [...this.#subjects.values()].map((s) => [s.subject, s.count, s.first, s.last]),
    };
  }

  /** Loads a summary; false (and nothing loaded) when it does not fit `blockIds`. */
  loadSummary(v: unknown, blockIds: number[]): Block[] | undefined {
    const s = v as {
      v?: number;
      count: number;
      bytes: number;
      blocks: Array<Omit<Block, "dead" | "subj"> & { dead?: string; subj: Array<[string, number]> | null }>;
      subjects: Array<[string, number, number, number]>;
    };
    if (s?.v !== 4 || !Array.isArray(s.blocks) || s.blocks.length !== blockIds.length) return undefined;
    for (let i = 0; i < blockIds.length; i++) if (s.blocks[i].id !== blockIds[i]) return undefined;
    const out = s.blocks.map((b) => ({
      ...b,
      dead: b.dead !== undefined ? fromB64(b.dead) : undefined,
      subj: b.subj === null ? null : new Map(b.subj),
    }));
    this.#count = s.count;
    this.#bytes = s.bytes;
    for (const [subject, count, first, last] of s.subjects) this.#subjects.set(subject, { subject, count, first, last });
    return out;
  }

  /** Rebuild: a block's records with `gone` (tombstoned seqs) applied. */
  rebuildBlock(b: Block, records: (visit: RecordVisit) => void, gone: Set<number>): void {
    records((seq, _off, len, time, subject, hdr) => {
      extendTo(b, seq);
      if (gone.has(seq)) {
        markDead(b, seq);
        return;
      }
      this.#countLive(b, seq, len, time, subject, hdr);
    });
  }

  /**
   * A live message `seq` of block `b` (appended, or found by a rebuild): the block's, the store's and its
   * subject's counts. Returns the subject's state (its `subject` is the one string kept for that subject).
   */
  #countLive(b: Block, seq: number, len: number, time: number, subject: string, hdr: number): SubjectState {
    b.live++;
    b.liveBytes += len;
    if (hdr > 0) b.hdrLive++;
    countSubject(b, subject, 1);
    const acct = acctOf(len, hdr > 0);
    b.acct += acct;
    if (b.firstLive === 0) {
      b.firstLive = seq;
      b.firstTime = time;
    }
    b.lastLive = seq;
    b.lastTime = time;
    this.#count++;
    this.#bytes += acct;
    let st = this.#subjects.get(subject);
    if (st === undefined) {
      st = { subject, count: 0, first: seq, last: seq };
      this.#subjects.set(subject, st);
    }
    st.count++;
    st.last = seq;
    return st;
  }
}

/** Block `b` reaches to `seq` (which follows its last): the sequences skipped on the way are dead. */
function extendTo(b: Block, seq: number): void {
  if (b.min > b.max) {
    b.min = seq;
    b.max = seq - 1;
  }
  for (let s = b.max + 1; s < seq; s++) markDead(b, s);
  b.max = seq;
}

function toB64(a: Uint8Array): string {
  let s = "";
  for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromB64(s: string): Uint8Array {
  const bin = atob(s);
  const a = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
  return a;
}
