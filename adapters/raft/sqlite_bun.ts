/** bun:sqlite behind the SqlDb interface. */
import { Database } from "bun:sqlite";
import type { SqlDb, SqlStatement, SqlValue } from "./sqlite_storage.ts";

export function openBunSqlite(path: string): SqlDb {
  const db = new Database(path, { create: true });
  return {
    exec: (sql) => void db.exec(sql),
    prepare: (sql): SqlStatement => {
      const st = db.prepare(sql);
      return {
        run: (...p: SqlValue[]) => void st.run(...p),
        all: (...p: SqlValue[]) => st.all(...p) as Record<string, unknown>[],
      };
    },
    close: () => db.close(),
  };
}
