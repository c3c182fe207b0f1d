/**
 * RaftStorage on plain files (node:fs, which Bun and Deno both provide). The log is one append-only file of
 * CRC-checked records (entry batches, term/vote, snapshot references); snapshots are separate files named by
 * index, written and fsynced before any record points at them. A torn or corrupted tail is detected on load
 * and cut off, never replayed.
 *
 * Entries are not kept in memory once written (the Raft node holds what it needs, and drops applied entries
 * well before their snapshot is durable here): only where each entry record lies in the file. `load()` after
 * writes reads them back; a rewrite copies the live records from the old file.
 */
import {
  close as closeAsync,
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  open as openAsync,
  rename as renameAsync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  readFileSync,
  renameSync,
  unlinkSync,
  write as writeAsync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "../../src/raft/crc32.ts";
import { ByteReader, ByteWriter, readEntry, readSnapshot, writeEntry, writeSnapshot } from "../../src/raft/codec.ts";
import type { HardState, RaftStorage, StoredState } from "../../src/raft/storage.ts";
import { EMPTY_HARD_STATE } from "../../src/raft/storage.ts";
import type { Entry, Snapshot } from "../../src/raft/types.ts";

const REC_ENTRIES = 1, REC_HARD = 2, REC_COMPACT = 3, REC_INSTALL = 4;
/** Rewrite the log file once this many bytes of its entry records are dead (compacted away). */
const REWRITE_AFTER = 64 << 20;
/** Bytes read at a time when a rewrite copies live records. */
const COPY_CHUNK = 256 << 10;

/** Where an entry record lies in the log file and which entries of it are still live (`first..last`). */
interface Rec {
  off: number;
  end: number;
  first: number;
  last: number;
}

export interface FileStorageInfo {
  /** Bytes cut from the end of the log on load because a record was torn or failed its checksum. */
  readonly discardedBytes: number;
}

export class FileStorage implements RaftStorage {
  readonly dir: string;
  #fd: number;
  #out = new ByteWriter(64 * 1024);
  #hard: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot | null = null;
  /** The entries as replayed at open, for `load()` until the first write changes them (then read back). */
  #loaded: Entry[] | null = [];
  /** Entry records with live entries, in file order. */
  #recs: Rec[] = [];
  /** While replaying: the entries found so far. */
  #replayed: Entry[] = [];
  #size = 0;
  #deadBytes = 0;
  #info: FileStorageInfo = { discardedBytes: 0 };
  #replaySnap = 0;
  /** A snapshot file was written since stale ones were last removed (only then is the directory listed). */
  #snapWritten = true;

  /**
   * `"always"` (default) fsyncs on every `sync()`; a number of milliseconds writes to the OS on every `sync()`
   * (what survives a killed process) and fsyncs at most that often, as JetStream's `sync_interval` means.
   */
  readonly #fsync: "always" | number;
  #lastFsync = 0;
  /** An interval fsync is running on the runtime's I/O threads. */
  #fsyncing = false;

  /**
   * Compactions write their snapshot file on the runtime's I/O threads (`asyncCompaction`): the REC_COMPACT record
   * follows once the file is durable, and until then the log file keeps the entries (a crash meanwhile restarts
   * from the previous snapshot and replays them: compaction is local, nothing acknowledged depends on it).
   */
  readonly #asyncCompaction: boolean;
  /** The snapshot whose file is being written, and the newest one asked for meanwhile (written next). */
  #writing: Snapshot | null = null;
  #nextCompact: Snapshot | null = null;
  /** Bumped by an installed snapshot and by close: a compaction started before it writes no record. */
  #gen = 0;
  #closed = false;
  #idle: Array<() => void> = [];

  /** Dead entry-record bytes that trigger a rewrite (REWRITE_AFTER; tests use small numbers). */
  readonly #rewriteAfter: number;

  constructor(dir: string, fsync: "always" | number = "always", opts: { asyncCompaction?: boolean; rewriteAfter?: number } = {}) {
    this.#fsync = fsync;
    this.#rewriteAfter = opts.rewriteAfter ?? REWRITE_AFTER;
    this.#asyncCompaction = opts.asyncCompaction ?? false;
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "log");
    this.#replay(path);
    this.#fd = openSync(path, "a");
    this.#removeStaleSnapshots();
  }

  get info(): FileStorageInfo {
    return this.#info;
  }

  load(): StoredState {
    return { hard: this.#hard, snapshot: this.#snapshot, entries: this.#loaded?.slice() ?? this.#readBack() };
  }

  /** The live entries read back from the file (after writes, `load()` is not the hot path: tests, a restart). */
  #readBack(): Entry[] {
    this.#writeOut();
    const out: Entry[] = [];
    const snapIdx = this.#snapshot?.meta.index ?? 0;
    if (this.#recs.length === 0) return out;
    const fd = openSync(join(this.dir, "log"), "r");
    try {
      for (const rec of this.#recs) {
        const buf = new Uint8Array(rec.end - rec.off);
        readFully(fd, buf, rec.off);
        const r = new ByteReader(buf.subarray(8));
        r.u8();
        for (let n = r.u32(); n > 0; n--) {
          const e = readEntry(r);
          if (e.index > snapIdx && e.index >= rec.first && e.index <= rec.last) out.push(e);
        }
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  setHardState(hs: HardState): void {
    this.#hard = hs;
    this.#record((w) => {
      w.u8(REC_HARD);
      w.num(hs.term);
      w.strOrNull(hs.vote);
    });
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    // The hot path (every replicated message on every replica): no closure per call.
    const w = this.#out;
    const start = this.#recordStart();
    w.u8(REC_ENTRIES);
    w.u32(entries.length);
    for (let i = 0; i < entries.length; i++) writeEntry(w, entries[i]);
    this.#recordEnd(start);
    this.#loaded = null;
    this.#noteRecord(this.#size + start, this.#size + w.pos, entries[0].index, entries[entries.length - 1].index);
  }

  compact(snap: Snapshot): void {
    if (this.#asyncCompaction) {
      this.#mirrorCompact(snap);
      if (this.#writing !== null) this.#nextCompact = snap;
      else this.#compactInBackground(snap);
      return;
    }
    this.#writeSnapshotFile(snap);
    this.#mirrorCompact(snap);
    this.#recordCompact(snap.meta.index);
  }

  #recordCompact(index: number): void {
    this.#record((w) => {
      w.u8(REC_COMPACT);
      w.num(index);
    });
  }

  /** The snapshot file written and fsynced (file, then directory) off the event loop, then its record. */
  #compactInBackground(snap: Snapshot): void {
    this.#writing = snap;
    const gen = this.#gen;
    const path = this.#snapPath(snap.meta.index);
    writeFileDurablyAsync(path, this.#snapshotBytes(snap), this.dir, (err) => {
      this.#writing = null;
      if (this.#closed || gen !== this.#gen) return;
      if (err !== null) {
        // Could not write it in the background: the synchronous way, which throws if the disk really fails.
        this.#writeSnapshotFile(snap);
      }
      this.#snapWritten = true;
      this.#recordCompact(snap.meta.index);
      // The record goes to the OS now (as sync() would write it); its fsync is the driver's next sync.
      this.#writeOut();
      const next = this.#nextCompact;
      this.#nextCompact = null;
      if (next !== null) return this.#compactInBackground(next);
      for (const w of this.#idle.splice(0)) w();
    });
  }

  /** Resolves once no compaction is being written in the background (tests; a graceful stop could wait on it). */
  whenCompacted(): Promise<void> {
    if (this.#writing === null) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  installSnapshot(snap: Snapshot): void {
    this.#gen++;
    this.#nextCompact = null;
    this.#writeSnapshotFile(snap);
    this.#snapshot = snap;
    this.#deadBytes = this.#size;
    this.#recs = [];
    this.#loaded = [];
    this.#record((w) => {
      w.u8(REC_INSTALL);
      w.num(snap.meta.index);
    });
  }

  sync(): void {
    this.#writeOut();
    const now = Date.now();
    if (this.#fsync === "always") {
      fsyncSync(this.#fd);
      this.#lastFsync = now;
    } else if (now - this.#lastFsync >= this.#fsync && !this.#fsyncing) {
      // The interval's fsync off the event loop: what it covers is already with the OS (written above), and an
      // fsync of a few minutes' log held every client for 40-250 ms here. A rewrite closing this fd meanwhile
      // only fails the call; the new file was fsynced when it was made.
      this.#fsyncing = true;
      this.#lastFsync = now;
      fsync(this.#fd, () => {
        this.#fsyncing = false;
      });
    }
    // While a snapshot file is written in the background, the log on disk still points at the previous one: no
    // rewrite (it would name the new one) and no clean-up (it would remove the old one) until its record is out.
    if (this.#writing !== null) return;
    if (this.#deadBytes > this.#rewriteAfter) this.#rewrite();
    if (this.#snapWritten) this.#removeStaleSnapshots();
  }

  #writeOut(): void {
    if (this.#out.pos === 0) return;
    const data = this.#out.buf.subarray(0, this.#out.pos);
    let off = 0;
    while (off < data.length) off += writeSync(this.#fd, data, off, data.length - off);
    this.#size += data.length;
    this.#out.pos = 0;
  }

  close(): void {
    this.#closed = true;
    this.#gen++;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
  }

  // ---- records ----

  #record(fill: (w: ByteWriter) => void): void {
    const start = this.#recordStart();
    fill(this.#out);
    this.#recordEnd(start);
  }

  /** Room for a record's length and checksum; `#recordEnd` fills them in once its body is written. */
  #recordStart(): number {
    const w = this.#out;
    const start = w.pos;
    w.u32(0);
    w.u32(0);
    return start;
  }

  #recordEnd(start: number): void {
    const w = this.#out;
    w.view.setUint32(start, w.pos - start - 8);
    w.view.setUint32(start + 4, crc32(w.buf, start + 8, w.pos));
  }

  #replay(path: string): void {
    if (!existsSync(path)) return;
    const data = readFileSync(path);
    const buf = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = 0;
    while (pos + 8 <= buf.length) {
      const len = view.getUint32(pos);
      const end = pos + 8 + len;
      if (end > buf.length || crc32(buf, pos + 8, end) !== view.getUint32(pos + 4)) break;
      this.#apply(new ByteReader(buf.subarray(pos + 8, end)), pos, end);
      pos = end;
    }
    this.#size = pos;
    // A rewritten log starts with its snapshot and may copy a record that began before it.
    this.#loaded = this.#replayed.filter((e) => e.index > this.#replaySnap);
    this.#replayed = [];
    if (this.#replaySnap > 0) this.#snapshot = this.#readSnapshotFile(this.#replaySnap);
    if (pos < buf.length) {
      this.#info = { discardedBytes: buf.length - pos };
      const fd = openSync(path, "r+");
      ftruncateSync(fd, pos);
      fsyncSync(fd);
      closeSync(fd);
    }
  }

  #apply(r: ByteReader, off: number, end: number): void {
    switch (r.u8()) {
      case REC_ENTRIES: {
        const entries: Entry[] = [];
        for (let n = r.u32(); n > 0; n--) entries.push(readEntry(r));
        if (entries.length === 0) return;
        this.#noteRecord(off, end, entries[0].index, entries[entries.length - 1].index);
        const from = entries[0].index;
        const have = this.#replayed;
        let keep = have.length;
        while (keep > 0 && have[keep - 1].index >= from) keep--;
        have.length = keep;
        for (const e of entries) have.push(e);
        return;
      }
      case REC_HARD:
        this.#hard = { term: r.num(), vote: r.strOrNull() };
        return;
      // Only the newest snapshot file still exists: remember its index, read it once the replay is done.
      case REC_COMPACT: {
        const idx = r.num();
        if (idx > this.#replaySnap) this.#replaySnap = idx;
        this.#dropUpTo(idx);
        return;
      }
      case REC_INSTALL:
        this.#replaySnap = r.num();
        this.#replayed = [];
        this.#deadBytes += this.#recs.reduce((n, x) => n + x.end - x.off, 0);
        this.#recs = [];
        return;
      default:
        throw new Error(`raft log ${this.dir}: unknown record type`);
    }
  }

  /** An entry record for `first..last` at `off..end`: it replaces any stored entry from `first` on. */
  #noteRecord(off: number, end: number, first: number, last: number): void {
    const recs = this.#recs;
    while (recs.length > 0 && recs[recs.length - 1].first >= first) {
      const gone = recs.pop() as Rec;
      this.#deadBytes += gone.end - gone.off;
    }
    const prev = recs[recs.length - 1];
    if (prev !== undefined && prev.last >= first) prev.last = first - 1;
    recs.push({ off, end, first, last });
  }

  #mirrorCompact(snap: Snapshot): void {
    if (this.#snapshot && this.#snapshot.meta.index >= snap.meta.index) return;
    this.#snapshot = snap;
    this.#loaded = null;
    this.#dropUpTo(snap.meta.index);
  }

  #dropUpTo(idx: number): void {
    const recs = this.#recs;
    let drop = 0;
    while (drop < recs.length && recs[drop].last <= idx) this.#deadBytes += recs[drop].end - recs[drop].off, drop++;
    if (drop > 0) this.#recs = recs.slice(drop);
    if (this.#replayed.length > 0) {
      let k = 0;
      while (k < this.#replayed.length && this.#replayed[k].index <= idx) k++;
      this.#replayed = this.#replayed.slice(k);
    }
  }

  // ---- snapshot files ----

  #snapPath(index: number): string {
    return join(this.dir, `snap-${String(index).padStart(16, "0")}.bin`);
  }

  #snapshotBytes(snap: Snapshot): Uint8Array {
    const w = new ByteWriter(snap.data.length + 256);
    w.u32(0);
    writeSnapshot(w, snap);
    w.view.setUint32(0, crc32(w.buf, 4, w.pos));
    return w.buf.subarray(0, w.pos);
  }

  #writeSnapshotFile(snap: Snapshot): void {
    const path = this.#snapPath(snap.meta.index);
    writeFileDurably(path, this.#snapshotBytes(snap));
    syncDir(this.dir);
    this.#snapWritten = true;
  }

  #readSnapshotFile(index: number): Snapshot {
    const data = readFileSync(this.#snapPath(index));
    const buf = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const crc = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0);
    if (crc32(buf, 4) !== crc) throw new Error(`raft snapshot ${index} in ${this.dir} is corrupt`);
    return readSnapshot(new ByteReader(buf.subarray(4)));
  }

  /** Keep only the snapshot the durable log points at (and none newer that no record names yet). */
  #removeStaleSnapshots(): void {
    // Once the records are written, every stale file goes in this pass; until then it is tried again.
    if (this.#out.pos === 0) this.#snapWritten = false;
    const keep = this.#snapshot ? this.#snapPath(this.#snapshot.meta.index) : "";
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith("snap-")) continue;
      const path = join(this.dir, name);
      if (path !== keep && this.#out.pos === 0) unlinkSync(path);
    }
  }

  /** Replace the log file by one holding only live state, atomically. */
  #rewrite(): void {
    const w = new ByteWriter(1 << 20);
    const saved = this.#out;
    this.#out = w;
    if (this.#snapshot) {
      const idx = this.#snapshot.meta.index;
      this.#record((x) => {
        x.u8(REC_INSTALL);
        x.num(idx);
      });
    }
    this.#record((x) => {
      x.u8(REC_HARD);
      x.num(this.#hard.term);
      x.strOrNull(this.#hard.vote);
    });
    this.#out = saved;
    const path = join(this.dir, "log");
    // The header, then the live entry records copied from the old file as they are (entries of the first one
    // that its snapshot covers are skipped on replay, as in the old file).
    const tmp = path + ".tmp";
    const out = openSync(tmp, "w");
    const src = openSync(path, "r");
    let size = 0;
    try {
      size = writeAll(out, w.buf.subarray(0, w.pos), 0);
      const chunk = new Uint8Array(Math.min(COPY_CHUNK, this.#recs.reduce((n, x) => Math.max(n, x.end - x.off), 0)));
      for (const rec of this.#recs) {
        const at = size;
        for (let off = rec.off; off < rec.end;) {
          const part = chunk.subarray(0, Math.min(chunk.length, rec.end - off));
          readFully(src, part, off);
          size = writeAll(out, part, size);
          off += part.length;
        }
        rec.end = at + (rec.end - rec.off);
        rec.off = at;
      }
      fsyncSync(out);
    } finally {
      closeSync(src);
      closeSync(out);
    }
    closeSync(this.#fd);
    renameSync(tmp, path);
    syncDir(this.dir);
    this.#fd = openSync(path, "a");
    this.#size = size;
    this.#deadBytes = 0;
  }
}

/** Writes all of `data` at the fd's position; returns `at` plus its length. */
function writeAll(fd: number, data: Uint8Array, at: number): number {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  return at + data.length;
}

/** Fills `buf` from the file at `pos` (the range was written: a short read means the file is not what we wrote). */
function readFully(fd: number, buf: Uint8Array, pos: number): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n <= 0) throw new Error(`raft log: short read at ${pos + got}`);
    got += n;
  }
}

function writeFileDurably(path: string, data: Uint8Array): void {
  const tmp = path + ".part";
  const fd = openSync(tmp, "w");
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

/** writeFileDurably and syncDir on the runtime's I/O threads; `done(null)` once file and directory are durable. */
function writeFileDurablyAsync(path: string, data: Uint8Array, dir: string, done: (err: Error | null) => void): void {
  const tmp = path + ".part";
  openAsync(tmp, "w", (err, fd) => {
    if (err !== null) return done(err);
    const fail = (e: Error) => closeAsync(fd, () => done(e));
    const writeFrom = (off: number): void => {
      if (off >= data.length) return fsync(fd, (e) => (e !== null ? fail(e) : closeAsync(fd, (c) => (c ? done(c) : renamed()))));
      writeAsync(fd, data, off, data.length - off, null, (e, n) => (e !== null ? fail(e) : writeFrom(off + n)));
    };
    const renamed = () =>
      renameAsync(tmp, path, (e) => {
        if (e !== null) return done(e);
        openAsync(dir, "r", (de, dfd) => {
          // Some platforms cannot open or fsync a directory; the rename is then as durable as the OS makes it.
          if (de !== null) return done(null);
          fsync(dfd, () => closeAsync(dfd, () => done(null)));
        });
      });
    writeFrom(0);
  });
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is then as durable as the OS makes it.
  }
}
