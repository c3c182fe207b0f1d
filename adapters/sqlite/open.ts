/**
 * The runtime's synchronous SQLite driver behind one small interface: bun:sqlite on Bun, node:sqlite on Deno.
 * Shared by the JetStream store and the Raft log store.
 */
import type { OpenSqlite } from "./types.ts";

export async function sqliteDriver(): Promise<OpenSqlite> {
  const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
  const mod: { openSqlite: OpenSqlite } = isBun ? await import("./bun.ts") : await import("./deno.ts");
  return mod.openSqlite;
}
