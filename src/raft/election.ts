/**
 * The election rules as pure functions: the randomized timeout, whether to grant a (pre-)vote, counting
 * votes, and check-quorum (a leader that no longer hears a majority steps down). The node owns the state;
 * these only decide.
 */
import type { Progress } from "./progress.ts";
import type { RaftLog } from "./log.ts";
import type { Message, PeerId, Random } from "./types.ts";

/** Smallest number of voters that forms a majority. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Randomized in [electionTicks, 2*electionTicks) so that split votes do not repeat forever. */
export function randomTimeout(electionTicks: number, random: Random): number {
  return electionTicks + Math.floor(random() * electionTicks);
}

export interface VoterView {
  readonly term: number;
  readonly vote: PeerId | null;
  readonly leader: PeerId | null;
  readonly log: RaftLog;
}

/**
 * Grant when we may still vote for `from` (already did, or have neither voted nor heard a leader; a pre-vote
 * for a later term does not bind) and its log is at least as up to date as ours.
 */
export function grantsVote(
  me: VoterView,
  from: PeerId,
  msg: Extract<Message, { type: "preVote" | "vote" }>,
  bugs: { readonly doubleVote: boolean; readonly voteIgnoresLog: boolean },
): boolean {
  const canVote = bugs.doubleVote || me.vote === from ||
    (me.vote === null && me.leader === null) || (msg.type === "preVote" && msg.term > me.term);
  const upToDate = bugs.voteIgnoresLog || me.log.isUpToDate(msg.lastIndex, msg.lastTerm);
  return canVote && upToDate;
}

export type TallyResult = "won" | "lost" | "pending";

/** Only the votes of current voters count; a majority either way decides. */
export function tally(voters: readonly PeerId[], votes: ReadonlyMap<PeerId, boolean>): TallyResult {
  const q = majority(voters.length);
  let yes = 0, no = 0;
  for (const p of voters) {
    const v = votes.get(p);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  if (yes >= q) return "won";
  if (no >= q) return "lost";
  return "pending";
}

/** Whether a majority of voters (counting `self`) was heard from since the last check. */
export function quorumActive(
  voters: readonly PeerId[],
  self: PeerId,
  progress: ReadonlyMap<PeerId, Progress>,
): boolean {
  let active = 0;
  for (const p of voters) if (p === self || progress.get(p)?.recentActive) active++;
  return active >= majority(voters.length);
}

export type CampaignKind = "pre" | "real" | "transfer";

/** What a campaign sends each other voter, in membership order. `term` is the term campaigned in. */
export function voteRequests(
  kind: CampaignKind,
  term: number,
  self: PeerId,
  voters: readonly PeerId[],
  log: RaftLog,
): { readonly to: PeerId; readonly msg: Message }[] {
  const out: { to: PeerId; msg: Message }[] = [];
  const lastIndex = log.lastIndex(), lastTerm = log.lastTerm();
  for (const p of voters) {
    if (p === self) continue;
    if (kind === "pre") out.push({ to: p, msg: { type: "preVote", term, lastIndex, lastTerm } });
    else out.push({ to: p, msg: { type: "vote", term, lastIndex, lastTerm, transfer: kind === "transfer" } });
  }
  return out;
}
