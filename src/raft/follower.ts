/**
 * The follower's side of log replication as functions over its log and commit index: accept or reject an
 * append, take a snapshot, and say what to answer. The caller stores the new commit and sends the answer.
 */
import type { RaftLog } from "./log.ts";
import type { Message, Snapshot } from "./types.ts";

export type AppendMsg = Extract<Message, { type: "append" }>;

export interface Answer {
  readonly success: boolean;
  /** On success: our match index. On failure: the prevIndex we rejected. */
  readonly index: number;
  /** On failure: our last index. */
  readonly hint: number;
}

export interface AppendOutcome {
  readonly commit: number;
  readonly answer: Answer;
  /** The merge added or dropped a configuration entry. */
  readonly confChanged: boolean;
}

/** Merges `msg` into `log` when its previous entry matches ours. */
export function acceptAppend(
  log: RaftLog,
  commit: number,
  msg: AppendMsg,
  bugs: { readonly skipPrevCheck: boolean; readonly commitBeyondMatch: boolean },
): AppendOutcome {
  if (msg.prevIndex < commit) {
    // Everything up to our commit is settled; accept only what follows it.
    const rest = msg.entries.filter((e) => e.index > commit);
    if (rest.length === 0) return { commit, answer: { success: true, index: commit, hint: 0 }, confChanged: false };
    return acceptAppend(log, commit, { ...msg, prevIndex: commit, prevTerm: log.termAt(commit), entries: rest }, bugs);
  }
  const prevOk = log.matchTerm(msg.prevIndex, msg.prevTerm) ||
    (bugs.skipPrevCheck && msg.prevIndex <= log.lastIndex());
  if (!prevOk) {
    const hint = Math.min(msg.prevIndex - 1, log.lastIndex());
    return { commit, answer: { success: false, index: msg.prevIndex, hint }, confChanged: false };
  }
  const hadConfs = log.confs.length;
  const lastConf = log.lastConfIndex();
  log.merge(msg.entries);
  const confChanged = log.confs.length !== hadConfs || log.lastConfIndex() !== lastConf;
  // Entries past the last new one are not known to match the leader's, so they cannot be committed yet.
  const lastNew = msg.prevIndex + msg.entries.length;
  const commitable = bugs.commitBeyondMatch ? log.lastIndex() : lastNew;
  const next = msg.commit > commit ? Math.min(msg.commit, commitable) : commit;
  return { commit: next, answer: { success: true, index: lastNew, hint: 0 }, confChanged };
}

export type SnapshotOutcome =
  /** Already committed through it: just acknowledge our commit. */
  | { readonly kind: "stale"; readonly commit: number }
  /** Our log already holds its last entry: it only advances the commit index. */
  | { readonly kind: "matched"; readonly commit: number }
  /** It replaced our log; the application must load it. */
  | { readonly kind: "installed"; readonly commit: number };

export function acceptSnapshot(log: RaftLog, commit: number, snap: Snapshot): SnapshotOutcome {
  const idx = snap.meta.index;
  if (idx <= commit) return { kind: "stale", commit };
  if (log.matchTerm(idx, snap.meta.term)) return { kind: "matched", commit: idx };
  log.install(snap);
  return { kind: "installed", commit: idx };
}
