/**
 * The SQLite store's own message index: every per-message question is a query on the `msgs` table (primary
 * key (stream, seq), index (stream, subject, seq)), so nothing per message stays in memory. Kept in memory:
 * the totals and each subject's message count (what `num_subjects`, limits and KV ask on every publish),
 * counted once on open with one grouped query.
 */
import type { MsgIndex, MsgVisit } from "../../src/jetstream/store/msg_index.ts";
import type { SqliteDb, SqliteStatement, SqlValue } from "../sqlite/types.ts";

/** The file store's accounting (see storedSize): 30 + subject + data, plus 4 + headers when present. */
const SIZE = "30 + length(subject) + length(data) + CASE WHEN coalesce(length(hdr), 0) > 0 THEN 4 + length(hdr) ELSE 0 END";
const COLS = `seq, subject, ts, ${SIZE} AS size, coalesce(length(hdr), 0) AS hl`;
const PAGE = 512;

function num(v: SqlValue | undefined): number {
  return typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : NaN;
}
function opt(v: SqlValue | undefined): number | undefined {
  const n = num(v);
  return Number.isNaN(n) ? undefined : n;
}

export function sqliteIndexSchema(db: SqliteDb): void {
  db.exec("CREATE INDEX IF NOT EXISTS msgs_subject ON msgs (stream, subject, seq)");
}

interface Row {
  seq: number;
  subject: string;
  time: number;
  size: number;
  hdr: number;
}

export class SqliteIndex implements MsgIndex {
  readonly #subjects = new Map<string, number>();
  #count = 0;
  #bytes = 0;
  /** The last row read (has() is usually followed by a question about the same message). */
  #memo: Row | undefined;
  readonly #q: Record<string, SqliteStatement>;

  constructor(db: SqliteDb, private readonly stream: string) {
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      row: p(`SELECT ${COLS} FROM msgs WHERE stream = ? AND seq = ?`),
      first: p("SELECT min(seq) AS s FROM msgs WHERE stream = ?"),
      last: p("SELECT max(seq) AS s FROM msgs WHERE stream = ?"),
      ceil: p("SELECT min(seq) AS s FROM msgs WHERE stream = ? AND seq >= ?"),
      countFrom: p("SELECT count(*) AS n FROM msgs WHERE stream = ? AND seq >= ?"),
      fwd: p(`SELECT ${COLS} FROM msgs WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT ${PAGE}`),
      back: p(`SELECT ${COLS} FROM msgs WHERE stream = ? AND seq <= ? ORDER BY seq DESC LIMIT ${PAGE}`),
      sFirst: p("SELECT min(seq) AS s FROM msgs WHERE stream = ? AND subject = ?"),
      sLast: p("SELECT max(seq) AS s FROM msgs WHERE stream = ? AND subject = ?"),
      sCeil: p("SELECT min(seq) AS s FROM msgs WHERE stream = ? AND subject = ? AND seq >= ?"),
      sCountFrom: p("SELECT count(*) AS n FROM msgs WHERE stream = ? AND subject = ? AND seq >= ?"),
    };
    const all = db.prepare(`SELECT subject, count(*) AS n, sum(${SIZE}) AS b FROM msgs WHERE stream = ? GROUP BY subject`)
      .all(stream);
    for (const r of all) {
      const n = num(r.n);
      this.#subjects.set(String(r.subject), n);
      this.#count += n;
      this.#bytes += num(r.b);
    }
  }

  #row(seq: number): Row | undefined {
    const m = this.#memo;
    if (m !== undefined && m.seq === seq) return m;
    const r = this.#q.row.get(this.stream, seq);
    if (!r) return undefined;
    return (this.#memo = { seq, subject: String(r.subject), time: num(r.ts), size: num(r.size), hdr: num(r.hl) });
  }

  // ---- kept by the backend

  appended(seq: number, subject: string, size: number): void {
    this.#count++;
    this.#bytes += size;
    this.#subjects.set(subject, (this.#subjects.get(subject) ?? 0) + 1);
    if (this.#memo?.seq === seq) this.#memo = undefined;
  }

  /** Before the row goes: its accounting leaves the totals. False when not stored. */
  removing(seq: number): boolean {
    const r = this.#row(seq);
    if (r === undefined) return false;
    this.#memo = undefined;
    this.#count--;
    this.#bytes -= r.size;
    const n = (this.#subjects.get(r.subject) ?? 0) - 1;
    if (n < 0) throw new Error(`sqlite store: removed seq ${seq} of uncounted subject ${r.subject}`);
    if (n === 0) this.#subjects.delete(r.subject);
    else this.#subjects.set(r.subject, n);
    return true;
  }

  // ---- MsgIndex

  get count(): number {
    return this.#count;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get numSubjects(): number {
    return this.#subjects.size;
  }
  first(): number | undefined {
    return this.#count === 0 ? undefined : opt(this.#q.first.get(this.stream)?.s);
  }
  last(): number | undefined {
    return this.#count === 0 ? undefined : opt(this.#q.last.get(this.stream)?.s);
  }
  has(seq: number): boolean {
    return this.#row(seq) !== undefined;
  }
  subjectOf(seq: number): string | undefined {
    return this.#row(seq)?.subject;
  }
  timeOf(seq: number): number {
    return this.#row(seq)?.time ?? NaN;
  }
  sizeOf(seq: number): number {
    return this.#row(seq)?.size ?? NaN;
  }
  ceil(from: number): number | undefined {
    return opt(this.#q.ceil.get(this.stream, from)?.s);
  }
  countFrom(from: number): number {
    const f = this.first();
    if (f === undefined) return 0;
    if (from <= f) return this.#count;
    return num(this.#q.countFrom.get(this.stream, from)?.n);
  }
  #walk(q: SqliteStatement, from: number, step: 1 | -1, visit: MsgVisit): void {
    let at = from;
    for (;;) {
      const rows = q.all(this.stream, at);
      for (const r of rows) {
        const seq = num(r.seq);
        if (visit(seq, String(r.subject), num(r.size), num(r.ts), num(r.hl)) === false) return;
        at = seq + step;
      }
      if (rows.length < PAGE) return;
    }
  }
  forEach(from: number, visit: MsgVisit): void {
    this.#walk(this.#q.fwd, from, 1, visit);
  }
  forEachBack(from: number, visit: MsgVisit): void {
    this.#walk(this.#q.back, from, -1, visit);
  }
  forEachWithHeaders(since: number, visit: (seq: number, time: number) => boolean | void): void {
    this.forEachBack(this.last() ?? 0, (seq, _subject, _size, time, hdr) => {
      if (!(time >= since)) return false;
      if (hdr > 0) return visit(seq, time);
    });
  }
  subjects(): Iterable<string> {
    return this.#subjects.keys();
  }
  subjectCount(subject: string): number {
    return this.#subjects.get(subject) ?? 0;
  }
  subjectFirst(subject: string): number | undefined {
    return this.#subjects.has(subject) ? opt(this.#q.sFirst.get(this.stream, subject)?.s) : undefined;
  }
  subjectLast(subject: string): number | undefined {
    return this.#subjects.has(subject) ? opt(this.#q.sLast.get(this.stream, subject)?.s) : undefined;
  }
  subjectCeil(subject: string, from: number): number | undefined {
    return this.#subjects.has(subject) ? opt(this.#q.sCeil.get(this.stream, subject, from)?.s) : undefined;
  }
  subjectCountFrom(subject: string, from: number): number {
    const n = this.#subjects.get(subject);
    if (n === undefined) return 0;
    return num(this.#q.sCountFrom.get(this.stream, subject, from)?.n);
  }
  add(): void {
    throw new Error("sqlite store: its index is kept by append");
  }
  delete(): boolean {
    throw new Error("sqlite store: its index is kept by remove");
  }
}
