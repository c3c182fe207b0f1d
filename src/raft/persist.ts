/** The storage half of the driver contract: write what a Ready asks for, in an order that survives a crash. */
import type { Ready } from "./node.ts";
import type { RaftStorage } from "./storage.ts";

/**
 * Writes the snapshot, then entries, then term/vote, and syncs when the Ready requires it. Call before the
 * Ready's messages are sent. `sync: false` lets a caller interpose a crash between write and fsync.
 */
export function persistReady(storage: RaftStorage, ready: Ready, sync = true): void {
  if (ready.snapshot) {
    if (ready.installed) storage.installSnapshot(ready.snapshot);
    else storage.compact(ready.snapshot);
  }
  if (ready.entries.length > 0) storage.append(ready.entries);
  if (ready.hardState) storage.setHardState(ready.hardState);
  if (sync && ready.mustSync) storage.sync();
}
