/** The contracts of `RaftNode`: its configuration, its inputs' results and the `Ready` it hands its driver. */
import type { HardState } from "./storage.ts";
import type { Entry, Membership, Message, PeerId, Random, Snapshot } from "./types.ts";

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Deliberate protocol bugs, switched on only by tests to prove the simulator's checkers catch them. */
export type BugName =
  | "doubleVote"
  | "voteIgnoresLog"
  | "skipPrevCheck"
  | "commitOldTerm"
  | "commitBeyondMatch"
  | "ackBeforeSync";

export const BUG_NAMES: readonly BugName[] = [
  "doubleVote",
  "voteIgnoresLog",
  "skipPrevCheck",
  "commitOldTerm",
  "commitBeyondMatch",
  "ackBeforeSync",
];

export interface RaftNodeConfig {
  readonly id: PeerId;
  /** Membership used when storage holds none (bootstrap). A joining node passes an empty one. */
  readonly initial: Membership;
  readonly random: Random;
  /** Election timeout in ticks; the real timeout is randomized in [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Most entries in one append message. */
  readonly maxBatch?: number;
  /** Most bytes of entry data in one append message. */
  readonly maxBatchBytes?: number;
  /** Most append messages in flight to one follower (pipelining). */
  readonly maxInflight?: number;
  /** Most bytes of entry data in flight to one follower (default 8 MiB; an append is never split below one entry). */
  readonly maxInflightBytes?: number;
  readonly bugs?: ReadonlySet<BugName>;
}

export interface OutMessage {
  readonly to: PeerId;
  readonly msg: Message;
}

export interface Ready {
  readonly hardState: HardState | null;
  /** A snapshot to store: `installed` means it replaces the log and the application state. */
  readonly snapshot: Snapshot | null;
  readonly installed: boolean;
  /** Entries to store; any stored entry at or after entries[0].index is discarded first. */
  readonly entries: readonly Entry[];
  readonly mustSync: boolean;
  readonly messages: readonly OutMessage[];
  /** Committed entries to apply, in order. */
  readonly committed: readonly Entry[];
}

export type ProposeError = "not_leader" | "transferring" | "change_pending" | "invalid";
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly leader: PeerId | null };

export type MembershipChange =
  | { readonly op: "addVoter"; readonly peer: PeerId }
  | { readonly op: "addObserver"; readonly peer: PeerId }
  | { readonly op: "remove"; readonly peer: PeerId };
