import {
  type MsgMeta,
  msgSize,
  type StorageProvider,
  type StoredMsg,
  type StreamBackend,
  type SyncPolicy,
} from "../../src/jetstream/store/types.ts";
import type { SqliteDb, SqliteStatement, SqlValue } from "../sqlite/types.ts";
import type { MsgIndex } from "../../src/jetstream/store/msg_index.ts";
import { SqliteIndex, sqliteIndexSchema } from "./sqlite_index.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS msgs (stream TEXT NOT NULL, seq INTEGER NOT NULL, subject TEXT NOT NULL,
  ts REAL NOT NULL, hdr BLOB, data BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (stream TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (stream, key)) WITHOUT ROWID;
`;

const EMPTY = new Uint8Array(0);

function num(v: SqlValue | undefined): number {
  return typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
}
function bytes(v: SqlValue | undefined): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}

class SqliteBackend implements StreamBackend {
  #ix: SqliteIndex | undefined;
  constructor(private readonly st: Statements, private readonly name: string) {}
  /** Queries on the table; totals and per-subject counts in memory (nothing per message). */
  ownIndex(): MsgIndex {
    this.#ix ??= new SqliteIndex(this.st.db, this.name);
    return this.#ix;
  }
  append(m: StoredMsg): void {
    this.st.begin();
    this.st.insert.run(this.name, m.seq, m.subject, m.time, m.headers ?? null, m.data);
    const hl = m.headers ? m.headers.length : 0;
    this.#ix?.appended(m.seq, m.subject, 30 + m.subject.length + m.data.length + (hl > 0 ? 4 + hl : 0));
  }
  flush(): void {
    this.st.commit();
  }
  load(seq: number): StoredMsg | undefined {
    const r = this.st.load.get(this.name, seq);
    if (!r) return undefined;
    return {
      seq,
      subject: String(r.subject),
      time: num(r.ts),
      headers: bytes(r.hdr),
      data: bytes(r.data) ?? new Uint8Array(0),
    };
  }
  remove(seqs: number[]): void {
    this.st.begin();
    for (const s of seqs) {
      if (this.#ix !== undefined && !this.#ix.removing(s)) continue;
      this.st.remove.run(this.name, s);
    }
  }
  scan(): MsgMeta[] {
    return this.st.scan.all(this.name).map((r) => {
      const subject = String(r.subject);
      const hdr = num(r.hl);
      return { seq: num(r.seq), subject, time: num(r.ts), size: msgSize(subject, undefined, EMPTY) + hdr + num(r.dl), hdr };
    });
  }
  sync(): void {
    this.st.commit();
  }
  close(): void {}
}

interface Statements {
  db: SqliteDb;
  /** Appends and removes batch into one transaction, committed by flush (or after BATCH_MAX writes). */
  begin(): void;
  commit(): void;
  insert: SqliteStatement;
  load: SqliteStatement;
  remove: SqliteStatement;
  scan: SqliteStatement;
}

/** All streams of a server in one SQLite database (WAL mode). */
export class SqliteStorage implements StorageProvider {
  readonly kind = "sqlite" as const;
  private readonly st: Statements;
  private readonly getM: SqliteStatement;
  private readonly putM: SqliteStatement;
  private readonly delM: SqliteStatement;
  private readonly listM: SqliteStatement;

  constructor(private readonly db: SqliteDb, sync: SyncPolicy) {
    db.exec("PRAGMA journal_mode=WAL");
    // WAL + NORMAL survives a process kill (the OS has the pages); FULL also survives power loss.
    db.exec(`PRAGMA synchronous=${sync === "always" ? "FULL" : "NORMAL"}`);
    db.exec(SCHEMA);
    sqliteIndexSchema(db);
    let inTx = false;
    let writes = 0;
    const commit = () => {
      if (!inTx) return;
      inTx = false;
      writes = 0;
      db.exec("COMMIT");
    };
    this.st = {
      db,
      begin: () => {
        if (!inTx) {
          db.exec("BEGIN");
          inTx = true;
        }
        if (++writes >= 4096) {
          commit();
          db.exec("BEGIN");
          inTx = true;
        }
      },
      commit,
      insert: db.prepare("INSERT OR REPLACE INTO msgs (stream, seq, subject, ts, hdr, data) VALUES (?, ?, ?, ?, ?, ?)"),
      load: db.prepare("SELECT subject, ts, hdr, data FROM msgs WHERE stream = ? AND seq = ?"),
      remove: db.prepare("DELETE FROM msgs WHERE stream = ? AND seq = ?"),
      scan: db.prepare(
        "SELECT seq, subject, ts, coalesce(length(hdr), 0) AS hl, length(data) AS dl FROM msgs WHERE stream = ? ORDER BY seq",
      ),
    };
    this.getM = db.prepare("SELECT value FROM meta WHERE stream = ? AND key = ?");
    this.putM = db.prepare("INSERT OR REPLACE INTO meta (stream, key, value) VALUES (?, ?, ?)");
    this.delM = db.prepare("DELETE FROM meta WHERE stream = ? AND key = ?");
    this.listM = db.prepare("SELECT key, value FROM meta WHERE stream = ? AND substr(key, 1, ?) = ? ORDER BY key");
  }

  /** One backend per stream: its index counts what goes through it. */
  private readonly open = new Map<string, SqliteBackend>();

  openStream(name: string): StreamBackend {
    let b = this.open.get(name);
    if (!b) {
      b = new SqliteBackend(this.st, name);
      this.open.set(name, b);
    }
    return b;
  }
  dropStream(name: string): void {
    this.open.delete(name);
    this.st.commit();
    this.db.prepare("DELETE FROM msgs WHERE stream = ?").run(name);
    this.db.prepare("DELETE FROM meta WHERE stream = ?").run(name);
  }
  streamNames(): string[] {
    return this.db.prepare("SELECT stream FROM meta WHERE key = 'config' ORDER BY stream").all().map((r) =>
      String(r.stream)
    );
  }
  getMeta(stream: string, key: string): string | undefined {
    const r = this.getM.get(stream, key);
    return r ? String(r.value) : undefined;
  }
  putMeta(stream: string, key: string, value: string): void {
    this.st.commit();
    this.putM.run(stream, key, value);
  }
  deleteMeta(stream: string, key: string): void {
    this.st.commit();
    this.delM.run(stream, key);
  }
  listMeta(stream: string, prefix: string): Array<[string, string]> {
    return this.listM.all(stream, prefix.length, prefix).map((r) => [String(r.key), String(r.value)]);
  }
  sync(): void {
    this.st.commit();
    this.db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }
  close(): void {
    this.st.commit();
    this.db.close();
  }
}
