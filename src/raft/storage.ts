/**
 * The durable-state contract of a Raft node. Writes may be buffered; only `sync()` promises they survive a
 * crash. The driver calls `sync()` before any message that depends on those writes leaves the node, which is
 * what lets a vote or an append acknowledgement be trusted after a restart.
 */
import type { Entry, PeerId, Snapshot } from "./types.ts";

export interface HardState {
  readonly term: number;
  readonly vote: PeerId | null;
}

/** What a node finds on start: the last snapshot and the log entries after it. */
export interface StoredState {
  readonly hard: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

export interface RaftStorage {
  load(): StoredState;
  setHardState(hs: HardState): void;
  /** Store entries, first discarding any stored entry at or after `entries[0].index`. */
  append(entries: readonly Entry[]): void;
  /** Keep `snap` and drop the entries it covers (index <= snap.meta.index); later entries stay. */
  compact(snap: Snapshot): void;
  /** Keep `snap` and drop the whole log: the follower's log is replaced by the leader's snapshot. */
  installSnapshot(snap: Snapshot): void;
  /** Make every earlier write durable before returning. */
  sync(): void;
  close(): void;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null };
