/**
 * RaftStorage on SQLite, over a tiny driver interface so the same code runs on `bun:sqlite` and
 * `node:sqlite`. Writes go into an open transaction; `sync()` commits it with `synchronous=FULL`, so a
 * commit is the fsync the algorithm needs and a crash before it loses exactly the unsynced writes.
 */
import type { HardState, RaftStorage, StoredState } from "../../src/raft/storage.ts";
import { EMPTY_HARD_STATE } from "../../src/raft/storage.ts";
import type { Entry, EntryKind, Membership, Snapshot } from "../../src/raft/types.ts";

import type { SqliteDb as SqlDb, SqliteStatement as SqlStatement } from "../sqlite/types.ts";

const SCHEMA = `
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS raft_hard (id INTEGER PRIMARY KEY CHECK (id = 1), term REAL NOT NULL, vote TEXT);
CREATE TABLE IF NOT EXISTS raft_entries (idx INTEGER PRIMARY KEY, term REAL NOT NULL, kind TEXT NOT NULL,
  data BLOB NOT NULL, conf TEXT);
CREATE TABLE IF NOT EXISTS raft_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL,
  term REAL NOT NULL, membership TEXT NOT NULL, data BLOB NOT NULL);
`;

function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(0);
}

export class SqliteStorage implements RaftStorage {
  #db: SqlDb;
  #inTx = false;
  #setHard: SqlStatement;
  #truncate: SqlStatement;
  #insert: SqlStatement;
  #dropUpTo: SqlStatement;
  #dropAll: SqlStatement;
  #setSnap: SqlStatement;

  constructor(db: SqlDb) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#setHard = db.prepare("INSERT OR REPLACE INTO raft_hard (id, term, vote) VALUES (1, ?, ?)");
    this.#truncate = db.prepare("DELETE FROM raft_entries WHERE idx >= ?");
    this.#insert = db.prepare("INSERT INTO raft_entries (idx, term, kind, data, conf) VALUES (?, ?, ?, ?, ?)");
    this.#dropUpTo = db.prepare("DELETE FROM raft_entries WHERE idx <= ?");
    this.#dropAll = db.prepare("DELETE FROM raft_entries");
    this.#setSnap = db.prepare(
      "INSERT OR REPLACE INTO raft_snapshot (id, idx, term, membership, data) VALUES (1, ?, ?, ?, ?)",
    );
  }

  load(): StoredState {
    const h = this.#db.prepare("SELECT term, vote FROM raft_hard WHERE id = 1").all()[0];
    const hard: HardState = h ? { term: Number(h.term), vote: h.vote === null ? null : String(h.vote) } : EMPTY_HARD_STATE;
    const s = this.#db.prepare("SELECT idx, term, membership, data FROM raft_snapshot WHERE id = 1").all()[0];
    const snapshot: Snapshot | null = s
      ? {
        meta: { index: Number(s.idx), term: Number(s.term), membership: JSON.parse(String(s.membership)) as Membership },
        data: bytes(s.data),
      }
      : null;
    const entries: Entry[] = this.#db.prepare("SELECT idx, term, kind, data, conf FROM raft_entries ORDER BY idx")
      .all().map((r) => {
        const kind = String(r.kind) as EntryKind;
        const base = { index: Number(r.idx), term: Number(r.term), kind, data: bytes(r.data) };
        return r.conf === null ? base : { ...base, conf: JSON.parse(String(r.conf)) as Membership };
      });
    return { hard, snapshot, entries };
  }

  setHardState(hs: HardState): void {
    this.#begin();
    this.#setHard.run(hs.term, hs.vote);
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.#begin();
    this.#truncate.run(entries[0].index);
    for (const e of entries) {
      this.#insert.run(e.index, e.term, e.kind, e.data, e.conf ? JSON.stringify(e.conf) : null);
    }
  }

  compact(snap: Snapshot): void {
    this.#begin();
    this.#saveSnap(snap);
    this.#dropUpTo.run(snap.meta.index);
  }

  installSnapshot(snap: Snapshot): void {
    this.#begin();
    this.#saveSnap(snap);
    this.#dropAll.run();
  }

  sync(): void {
    if (!this.#inTx) return;
    this.#db.exec("COMMIT");
    this.#inTx = false;
  }

  /** Drop uncommitted writes (tests: a crash before fsync). */
  abandon(): void {
    if (this.#inTx) this.#db.exec("ROLLBACK");
    this.#inTx = false;
  }

  close(): void {
    this.abandon();
    this.#db.close();
  }

  #begin(): void {
    if (this.#inTx) return;
    this.#db.exec("BEGIN IMMEDIATE");
    this.#inTx = true;
  }

  #saveSnap(snap: Snapshot): void {
    const m = snap.meta;
    this.#setSnap.run(m.index, m.term, JSON.stringify(m.membership), snap.data);
  }
}
