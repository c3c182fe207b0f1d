import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StorageKind, StorageProvider, SyncPolicy } from "../../src/jetstream/store/types.ts";
import { FileStorage } from "./file_store.ts";
import { SqliteStorage } from "./sqlite_store.ts";
import { sqliteDriver } from "../sqlite/open.ts";
import * as fs from "node:fs";
import * as path from "node:path";

export interface StorageOptions {
  kind: StorageKind;
  /** Required for file and sqlite. */
  storeDir?: string;
  /** "always" fsyncs every write; a number is the background sync interval in ms. */
  sync?: SyncPolicy;
}

/** Opens the storage a JetStream server persists into. */
export async function openStorage(opts: StorageOptions): Promise<StorageProvider> {
  const sync = opts.sync ?? 120_000;
  if (opts.kind === "memory") return new MemoryStorage();
  if (!opts.storeDir) throw new Error(`storage ${opts.kind} needs a store_dir`);
  if (opts.kind === "file") return new FileStorage(opts.storeDir, sync);
  const dir = path.join(opts.storeDir, "jetstream");
  fs.mkdirSync(dir, { recursive: true });
  const open = await sqliteDriver();
  return new SqliteStorage(open(path.join(dir, "petrel.sqlite")), sync);
}
