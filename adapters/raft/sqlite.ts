/** Open a SQLite-backed RaftStorage with the runtime's own driver (bun:sqlite on Bun, node:sqlite elsewhere). */
import { SqliteStorage } from "./sqlite_storage.ts";

export async function openSqliteStorage(path: string): Promise<SqliteStorage> {
  if ("Bun" in globalThis) {
    const { openBunSqlite } = await import("./sqlite_bun.ts");
    return new SqliteStorage(openBunSqlite(path));
  }
  const { openNodeSqlite } = await import("./sqlite_node.ts");
  return new SqliteStorage(openNodeSqlite(path));
}
