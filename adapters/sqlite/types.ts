/** The small slice of a synchronous SQLite driver the SQLite store needs (bun:sqlite and node:sqlite both fit). */
export type SqlValue = string | number | bigint | null | Uint8Array;
export type SqlRow = Record<string, SqlValue>;

export interface SqliteStatement {
  run(...params: SqlValue[]): unknown;
  get(...params: SqlValue[]): SqlRow | undefined | null;
  all(...params: SqlValue[]): SqlRow[];
}

export interface SqliteDb {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type OpenSqlite = (path: string) => SqliteDb;
