import { DatabaseSync } from "node:sqlite";
import type { SqliteDb, SqliteStatement, SqlRow, SqlValue } from "./types.ts";

/** node:sqlite (Deno, Node) behind the common SqliteDb interface. */
export function openSqlite(path: string): SqliteDb {
  const db = new DatabaseSync(path);
  return {
    exec: (sql) => db.exec(sql),
    prepare: (sql): SqliteStatement => {
      const st = db.prepare(sql);
      return {
        run: (...p: SqlValue[]) => st.run(...p),
        get: (...p: SqlValue[]) => st.get(...p) as SqlRow | undefined,
        all: (...p: SqlValue[]) => st.all(...p) as SqlRow[],
      };
    },
    close: () => db.close(),
  };
}
