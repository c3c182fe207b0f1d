/** Open a SQLite-backed RaftStorage with the runtime's own driver (bun:sqlite on Bun, node:sqlite elsewhere). */
import { sqliteDriver } from "../sqlite/open.ts";
import { SqliteStorage } from "./sqlite_storage.ts";

export async function openSqliteStorage(path: string): Promise<SqliteStorage> {
  const open = await sqliteDriver();
  return new SqliteStorage(open(path));
}
