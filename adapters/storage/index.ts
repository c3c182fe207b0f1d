import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { scopedStorage } from "../../src/jetstream/store/scoped.ts";
import type { StorageKind, StorageProvider, SyncPolicy } from "../../src/jetstream/store/types.ts";
import { FileStorage } from "./file_store.ts";
import { SqliteStorage } from "./sqlite_store.ts";
import { sqliteDriver } from "../sqlite/open.ts";
import { joinPath, storeFs } from "./store_fs.ts";

export interface StorageOptions {
  kind: StorageKind;
  /** Required for file and sqlite. */
  storeDir?: string;
  /** "always" fsyncs every write; a number is the background sync interval in ms. */
  sync?: SyncPolicy;
}

/** Opens the storage a JetStream server persists into (the `$G` account's, for the file store). */
export async function openStorage(opts: StorageOptions): Promise<StorageProvider> {
  const sync = opts.sync ?? 120_000;
  if (opts.kind === "memory") return new MemoryStorage();
  if (!opts.storeDir) throw new Error(`storage ${opts.kind} needs a store_dir`);
  if (opts.kind === "file") return new FileStorage(opts.storeDir, sync);
  const dir = joinPath(opts.storeDir, "jetstream");
  storeFs().mkdirSync(dir, { recursive: true });
  const open = await sqliteDriver();
  return new SqliteStorage(open(joinPath(dir, "petrel.sqlite")), sync);
}

/** Every account's storage on one server. */
export interface AccountStores {
  /** The account's storage, opened on first use. */
  forAccount(account: string): StorageProvider;
  /** Closes everything opened (after the engines stopped). */
  close(): void;
}

/**
 * Per-account storage: the file store gives each account its own directory
 * (`<store_dir>/jetstream/<account>/streams`, nats-server's layout); SQLite keeps one database and scopes stream
 * names by account; memory gives each account its own maps.
 */
export async function openAccountStores(opts: StorageOptions): Promise<AccountStores> {
  const sync = opts.sync ?? 120_000;
  const opened = new Map<string, StorageProvider>();
  let shared: StorageProvider | undefined;
  if (opts.kind === "sqlite") shared = await openStorage(opts);
  else if (opts.kind === "file" && !opts.storeDir) throw new Error("storage file needs a store_dir");
  const make = (account: string): StorageProvider => {
    if (shared) return scopedStorage(shared, account);
    if (opts.kind === "memory") return new MemoryStorage();
    return new FileStorage(opts.storeDir ?? "", sync, account);
  };
  return {
    forAccount(account) {
      let st = opened.get(account);
      if (!st) {
        st = make(account);
        opened.set(account, st);
      }
      return st;
    },
    close() {
      for (const st of opened.values()) st.close();
      opened.clear();
      shared?.close();
    },
  };
}
