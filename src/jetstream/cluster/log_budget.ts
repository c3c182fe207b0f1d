/**
 * How much of a stream group's applied Raft log stays in memory. The log on disk is compacted only once the
 * stream's store is durable (an fsync, at most once a second under load); until then every replica kept a second
 * of replicated entries in memory (js-r3-async: 173 MB on Bun, 260 MB on Deno on the busiest node). Now the
 * replica takes a snapshot of its state every `markEvery` entries or `markBytes` bytes applied (a mark) and trims
 * the log in memory to the newest mark it may: a follower to what it applied, the leader to what every follower
 * holds too, unless the log in memory is past `maxBytes` (a follower that far behind gets the snapshot, as one
 * behind a compaction did before). Restarts replay from the last durable snapshot, which storage still has.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { Entry, Snapshot } from "../../raft/types.ts";

export interface LogBudgetLimits {
  /** A mark every this many applied entries ... */
  readonly markEvery: number;
  /** ... or bytes of them, whichever comes first. */
  readonly markBytes: number;
  /** The leader keeps entries a follower still needs up to this many bytes in memory. */
  readonly maxBytes: number;
}

export const DEFAULT_LOG_BUDGET: LogBudgetLimits = { markEvery: 2048, markBytes: 1 << 20, maxBytes: 32 << 20 };

/** What an entry costs in memory beyond its bytes (the entry object, the view on its bytes). */
const ENTRY_OVERHEAD = 96;

interface Mark {
  readonly snap: Snapshot;
  /** `#applied` when it was taken. */
  readonly bytes: number;
}

export class LogBudget {
  readonly limits: LogBudgetLimits;
  /** Bytes of entries applied so far (a running count). */
  #applied = 0;
  /** `#applied` at the log's in-memory start (its last trim). */
  #trimmedAt = 0;
  #marks: Mark[] = [];
  #lastIndex = 0;
  #lastBytes = 0;

  constructor(limits: Partial<LogBudgetLimits> = {}) {
    this.limits = { ...DEFAULT_LOG_BUDGET, ...limits };
    if (!(this.limits.markEvery >= 1 && this.limits.markBytes >= 1 && this.limits.maxBytes >= this.limits.markBytes)) {
      throw new Error(`log budget: bad limits ${JSON.stringify(this.limits)}`);
    }
  }

  /** Bytes of applied entries the log holds in memory (as counted here). */
  get held(): number {
    return this.#applied - this.#trimmedAt;
  }

  /** Marks not trimmed to yet (the leader waits for its followers). */
  get marks(): number {
    return this.#marks.length;
  }

  /** `entry` was applied (the log's in-memory start is `snapIndex`): is a mark due? */
  applied(entry: Entry, snapIndex: number): boolean {
    this.#applied += entry.data.length + ENTRY_OVERHEAD;
    return entry.index - Math.max(this.#lastIndex, snapIndex) >= this.limits.markEvery ||
      this.#applied - Math.max(this.#lastBytes, this.#trimmedAt) >= this.limits.markBytes;
  }

  /** `snap` is the state at the entry just applied: keep it as a mark and trim the log to the newest one allowed. */
  trim(snap: Snapshot, group: RaftGroup, leading: boolean): void {
    const marks = this.#marks;
    const last = marks[marks.length - 1];
    if (last !== undefined && last.snap.meta.index >= snap.meta.index) throw new Error(`log budget: mark ${snap.meta.index} after ${last.snap.meta.index}`);
    marks.push({ snap, bytes: this.#applied });
    this.#lastIndex = snap.meta.index;
    this.#lastBytes = this.#applied;
    let limit = snap.meta.index;
    if (leading && this.held < this.limits.maxBytes) {
      for (const p of group.node.progress().values()) if (p.match < limit) limit = p.match;
    }
    let k = -1;
    while (k + 1 < marks.length && marks[k + 1].snap.meta.index <= limit) k++;
    if (k < 0) return;
    const m = marks[k];
    if (group.trim(m.snap)) this.#trimmedAt = m.bytes;
    marks.splice(0, k + 1);
  }

  /** The log was replaced by a snapshot: the marks are behind it. */
  reset(): void {
    this.#marks = [];
    this.#trimmedAt = this.#applied;
    this.#lastIndex = 0;
    this.#lastBytes = this.#applied;
  }
}
