/**
 * One account's view of a storage shared by all accounts (the SQLite store keeps every stream in one database):
 * stream `S` of account `A` is stored as `A/S`, and `$G`'s streams keep their bare names, so a store written
 * before accounts existed opens unchanged as `$G`'s. Stream names never contain `/`, so the last `/` splits.
 */
import type { StorageProvider, StreamBackend } from "./types.ts";

export function scopedStorage(base: StorageProvider, account: string): StorageProvider {
  if (account === "") throw new Error("scopedStorage: empty account name");
  const prefix = account === "$G" ? "" : account + "/";
  const key = (stream: string) => prefix + stream;
  const mine = (stored: string): string | undefined => {
    const i = stored.lastIndexOf("/");
    const acc = i < 0 ? "$G" : stored.slice(0, i);
    return acc === account ? stored.slice(i + 1) : undefined;
  };
  return {
    kind: base.kind,
    openStream: (name: string): StreamBackend => base.openStream(key(name)),
    dropStream: (name: string) => base.dropStream(key(name)),
    streamNames: () => {
      const out: string[] = [];
      for (const n of base.streamNames()) {
        const s = mine(n);
        if (s !== undefined) out.push(s);
      }
      return out;
    },
    getMeta: (stream, k) => base.getMeta(key(stream), k),
    putMeta: (stream, k, v) => base.putMeta(key(stream), k, v),
    deleteMeta: (stream, k) => base.deleteMeta(key(stream), k),
    listMeta: (stream, p) => base.listMeta(key(stream), p),
    sync: () => base.sync(),
    // The shared store is closed once, by whoever opened it.
    close: () => {},
  };
}
