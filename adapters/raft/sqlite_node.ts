/** node:sqlite (Deno, Node) behind the SqlDb interface. */
import { DatabaseSync } from "node:sqlite";
import type { SqlDb, SqlStatement, SqlValue } from "./sqlite_storage.ts";

export function openNodeSqlite(path: string): SqlDb {
  const db = new DatabaseSync(path);
  return {
    exec: (sql) => db.exec(sql),
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
