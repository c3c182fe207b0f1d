/**
 * In-memory RaftStorage. Writes are buffered until `sync()`, and `crash()` forgets what was not synced, so the
 * simulator can model a power cut between a write and its fsync.
 */
import type { HardState, RaftStorage, StoredState } from "./storage.ts";
import { EMPTY_HARD_STATE } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

type Op =
  | { readonly t: "hard"; readonly hs: HardState }
  | { readonly t: "append"; readonly entries: readonly Entry[] }
  | { readonly t: "compact"; readonly snap: Snapshot }
  | { readonly t: "install"; readonly snap: Snapshot };

export class MemoryStorage implements RaftStorage {
  #hard: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot | null = null;
  /** Durable entries; #entries[i].index === #first + i. */
  #entries: Entry[] = [];
  #first = 1;
  #pending: Op[] = [];
  /** Number of sync() calls, for tests and the simulator. */
  syncs = 0;

  load(): StoredState {
    return { hard: this.#hard, snapshot: this.#snapshot, entries: this.#entries.slice() };
  }

  setHardState(hs: HardState): void {
    this.#pending.push({ t: "hard", hs });
  }

  append(entries: readonly Entry[]): void {
    if (entries.length > 0) this.#pending.push({ t: "append", entries });
  }

  compact(snap: Snapshot): void {
    this.#pending.push({ t: "compact", snap });
  }

  installSnapshot(snap: Snapshot): void {
    this.#pending.push({ t: "install", snap });
  }

  sync(): void {
    this.syncs++;
    for (const op of this.#pending) this.#apply(op);
    this.#pending = [];
  }

  /** Lose every write since the last sync (test and simulation only). */
  crash(): void {
    this.#pending = [];
  }

  close(): void {}

  #apply(op: Op): void {
    switch (op.t) {
      case "hard":
        this.#hard = op.hs;
        return;
      case "append": {
        const from = op.entries[0].index;
        const keep = Math.max(0, from - this.#first);
        if (keep < this.#entries.length) this.#entries.length = keep;
        if (this.#entries.length === 0) this.#first = from;
        for (const e of op.entries) this.#entries.push(e);
        return;
      }
      case "compact": {
        const idx = op.snap.meta.index;
        if (this.#snapshot && this.#snapshot.meta.index >= idx) return;
        this.#snapshot = op.snap;
        const drop = Math.min(this.#entries.length, Math.max(0, idx - this.#first + 1));
        this.#entries = this.#entries.slice(drop);
        this.#first = idx + 1;
        return;
      }
      case "install":
        this.#snapshot = op.snap;
        this.#entries = [];
        this.#first = op.snap.meta.index + 1;
        return;
    }
  }
}
