/**
 * RaftStorage on plain files (node:fs, which Bun and Deno both provide). The log is one append-only file of
 * CRC-checked records (entry batches, term/vote, snapshot references); snapshots are separate files named by
 * index, written and fsynced before any record points at them. A torn or corrupted tail is detected on load
 * and cut off, never replayed.
 */
import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "../../src/raft/crc32.ts";
import { ByteReader, ByteWriter, readEntry, readSnapshot, writeEntry, writeSnapshot } from "../../src/raft/codec.ts";
import type { HardState, RaftStorage, StoredState } from "../../src/raft/storage.ts";
import { EMPTY_HARD_STATE } from "../../src/raft/storage.ts";
import type { Entry, Snapshot } from "../../src/raft/types.ts";

const REC_ENTRIES = 1, REC_HARD = 2, REC_COMPACT = 3, REC_INSTALL = 4;
/** Rewrite the log file once this many bytes of it are dead (compacted away). */
const REWRITE_AFTER = 16 << 20;

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
  #entries: Entry[] = [];
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

  constructor(dir: string, fsync: "always" | number = "always") {
    this.#fsync = fsync;
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
    return { hard: this.#hard, snapshot: this.#snapshot, entries: this.#entries.slice() };
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
    this.#mirrorAppend(entries);
    this.#record((w) => {
      w.u8(REC_ENTRIES);
      w.u32(entries.length);
      for (const e of entries) writeEntry(w, e);
    });
  }

  compact(snap: Snapshot): void {
    this.#writeSnapshotFile(snap);
    this.#mirrorCompact(snap);
    this.#record((w) => {
      w.u8(REC_COMPACT);
      w.num(snap.meta.index);
    });
  }

  installSnapshot(snap: Snapshot): void {
    this.#writeSnapshotFile(snap);
    this.#snapshot = snap;
    this.#deadBytes = this.#size;
    this.#entries = [];
    this.#record((w) => {
      w.u8(REC_INSTALL);
      w.num(snap.meta.index);
    });
  }

  sync(): void {
    if (this.#out.pos > 0) {
      const data = this.#out.buf.subarray(0, this.#out.pos);
      let off = 0;
      while (off < data.length) off += writeSync(this.#fd, data, off, data.length - off);
      this.#size += data.length;
      this.#out.pos = 0;
    }
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
    if (this.#deadBytes > REWRITE_AFTER) this.#rewrite();
    if (this.#snapWritten) this.#removeStaleSnapshots();
  }

  close(): void {
    fsyncSync(this.#fd);
    closeSync(this.#fd);
  }

  // ---- records ----

  #record(fill: (w: ByteWriter) => void): void {
    const w = this.#out;
    const start = w.pos;
    w.u32(0);
    w.u32(0);
    fill(w);
    const len = w.pos - start - 8;
    w.view.setUint32(start, len);
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
      this.#apply(new ByteReader(buf.subarray(pos + 8, end)));
      pos = end;
    }
    this.#size = pos;
    if (this.#replaySnap > 0) this.#snapshot = this.#readSnapshotFile(this.#replaySnap);
    if (pos < buf.length) {
      this.#info = { discardedBytes: buf.length - pos };
      const fd = openSync(path, "r+");
      ftruncateSync(fd, pos);
      fsyncSync(fd);
      closeSync(fd);
    }
  }

  #apply(r: ByteReader): void {
    switch (r.u8()) {
      case REC_ENTRIES: {
        const entries: Entry[] = [];
        for (let n = r.u32(); n > 0; n--) entries.push(readEntry(r));
        this.#mirrorAppend(entries);
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
        this.#entries = [];
        return;
      default:
        throw new Error(`raft log ${this.dir}: unknown record type`);
    }
  }

  #mirrorAppend(entries: readonly Entry[]): void {
    const from = entries[0].index;
    const first = this.#entries.length > 0 ? this.#entries[0].index : from;
    const keep = Math.max(0, from - first);
    if (keep < this.#entries.length) this.#entries.length = keep;
    for (const e of entries) this.#entries.push(e);
  }

  #mirrorCompact(snap: Snapshot): void {
    if (this.#snapshot && this.#snapshot.meta.index >= snap.meta.index) return;
    this.#snapshot = snap;
    this.#dropUpTo(snap.meta.index);
  }

  #dropUpTo(idx: number): void {
    let drop = 0;
    while (drop < this.#entries.length && this.#entries[drop].index <= idx) drop++;
    this.#entries = this.#entries.slice(drop);
    this.#deadBytes += drop * 32;
  }

  // ---- snapshot files ----

  #snapPath(index: number): string {
    return join(this.dir, `snap-${String(index).padStart(16, "0")}.bin`);
  }

  #writeSnapshotFile(snap: Snapshot): void {
    const w = new ByteWriter(snap.data.length + 256);
    w.u32(0);
    writeSnapshot(w, snap);
    w.view.setUint32(0, crc32(w.buf, 4, w.pos));
    const path = this.#snapPath(snap.meta.index);
    writeFileDurably(path, w.buf.subarray(0, w.pos));
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
    if (this.#entries.length > 0) {
      const entries = this.#entries;
      this.#record((x) => {
        x.u8(REC_ENTRIES);
        x.u32(entries.length);
        for (const e of entries) writeEntry(x, e);
      });
    }
    this.#out = saved;
    const path = join(this.dir, "log");
    writeFileDurably(path + ".tmp", w.buf.subarray(0, w.pos));
    closeSync(this.#fd);
    renameSync(path + ".tmp", path);
    syncDir(this.dir);
    this.#fd = openSync(path, "a");
    this.#size = w.pos;
    this.#deadBytes = 0;
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
