import { Database } from "bun:sqlite";
import type { SqliteDb, SqliteStatement, SqlRow, SqlValue } from "./types.ts";

/** bun:sqlite behind the common SqliteDb interface. */
export function openSqlite(path: string): SqliteDb {
  const db = new Database(path, { create: true });
  return {
    exec: (sql) => {
      db.exec(sql);
    },
    prepare: (sql): SqliteStatement => {
      const st = db.prepare(sql);
      return {
        run: (...p: SqlValue[]) => st.run(...p),
        get: (...p: SqlValue[]) => st.get(...p) as SqlRow | null,
        all: (...p: SqlValue[]) => st.all(...p) as SqlRow[],
      };
    },
    close: () => db.close(),
  };
}
