/**
 * The leader's side of log replication as functions over explicit state: which followers to track, what to
 * send one follower next (batched, pipelined, or the snapshot when its entries are compacted away), and how
 * far the commit index may advance.
 */
import { Progress, quorumMatch } from "./progress.ts";
import type { RaftLog } from "./log.ts";
import type { Entry, Membership, Message, PeerId } from "./types.ts";

export interface AppendLimits {
  readonly maxBatch: number;
  readonly maxBatchBytes: number;
  readonly maxInflight: number;
  /** Bytes of entry data in flight to one follower past which no further append goes out until it answers. */
  readonly maxInflightBytes: number;
}

/** Keep exactly one Progress per member other than `self`; new ones start probing after `lastIndex`. */
export function syncProgress(
  progress: Map<PeerId, Progress>,
  m: Membership,
  self: PeerId,
  lastIndex: number,
): void {
  const members = new Set([...m.voters, ...m.observers]);
  members.delete(self);
  for (const p of [...progress.keys()]) if (!members.has(p)) progress.delete(p);
  for (const p of members) {
    if (!progress.has(p)) progress.set(p, new Progress(lastIndex + 1));
  }
}

/** Entries from `from` through at most `last`, capped in count and (past the first entry) in bytes. */
export function batch(log: RaftLog, from: number, last: number, limits: AppendLimits): Entry[] {
  const hi = Math.min(last, from + limits.maxBatch - 1);
  const entries = log.slice(from, hi);
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    bytes += entries[i].data.length;
    if (bytes > limits.maxBatchBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/**
 * The messages to send one follower now, recording them in its `pr`: appends while its window allows, or the
 * snapshot once the entries it needs are compacted away. `allowEmpty` sends an empty append as a probe.
 */
export function appendsFor(
  pr: Progress,
  log: RaftLog,
  term: number,
  commit: number,
  limits: AppendLimits,
  allowEmpty: boolean,
): Message[] {
  const out: Message[] = [];
  const last = log.lastIndex();
  while (pr.canSend(limits.maxInflight, limits.maxInflightBytes)) {
    const prevIndex = pr.next - 1;
    const prevTerm = log.termAt(prevIndex);
    if (prevTerm < 0) {
      const snap = log.snapshot;
      if (!snap) return out;
      pr.sendingSnapshot();
      out.push({ type: "snapshot", term, snapshot: snap });
      return out;
    }
    const entries = batch(log, pr.next, last, limits);
    if (entries.length === 0 && !allowEmpty) return out;
    out.push({ type: "append", term, prevIndex, prevTerm, entries, commit });
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) bytes += entries[i].data.length;
    pr.sent(entries.length > 0 ? entries[entries.length - 1].index : prevIndex, bytes);
    if (entries.length === 0 || pr.next > last) return out;
  }
  return out;
}

/** A heartbeat never tells a follower to commit past what it is known to match. */
export function heartbeatCommit(pr: Progress, commit: number, beyondMatch: boolean): number {
  return beyondMatch ? commit : Math.min(pr.match, commit);
}

/**
 * The new commit index, or null when it cannot advance: the highest index a majority of voters holds (the
 * leader counts its own log), and only if that entry is of the current term; earlier entries commit with it.
 */
export function nextCommit(
  voters: readonly PeerId[],
  self: PeerId,
  log: RaftLog,
  progress: ReadonlyMap<PeerId, Progress>,
  commit: number,
  term: number,
  commitOldTerm: boolean,
): number | null {
  if (voters.length === 0) return null;
  const candidate = quorumMatch(voters.map((p) => p === self ? log.lastIndex() : progress.get(p)?.match ?? 0));
  if (candidate <= commit) return null;
  if (log.termAt(candidate) !== term && !commitOldTerm) return null;
  return candidate;
}
