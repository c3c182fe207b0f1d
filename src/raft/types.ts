/**
 * Neutral contracts of the Raft library: log entries, messages, envelopes and the transport a group talks
 * over. Nothing here knows about routes, sockets or runtimes; a route-backed transport (later) only has to
 * move `WireBatch` values between servers.
 */

export type PeerId = string;
export type GroupId = string;

/** Voting members decide elections and commits; observers only receive the log. */
export interface Membership {
  readonly voters: readonly PeerId[];
  readonly observers: readonly PeerId[];
}

export type EntryKind = "cmd" | "noop" | "conf";

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  /** Application command (kind "cmd"); empty otherwise. */
  readonly data: Uint8Array;
  /** The complete new membership (kind "conf"), effective as soon as the entry is in a log. */
  readonly conf?: Membership;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** Opaque state-machine image. */
  readonly data: Uint8Array;
}

/** Every message carries the sender's term (for pre-votes: the term it would campaign in). */
export type Message =
  | { readonly type: "preVote"; readonly term: number; readonly lastIndex: number; readonly lastTerm: number }
  | { readonly type: "preVoteResp"; readonly term: number; readonly granted: boolean }
  | {
    readonly type: "vote";
    readonly term: number;
    readonly lastIndex: number;
    readonly lastTerm: number;
    /** Set by a leadership transfer: voters skip the "I still hear a leader" check. */
    readonly transfer: boolean;
  }
  | { readonly type: "voteResp"; readonly term: number; readonly granted: boolean }
  | {
    readonly type: "append";
    readonly term: number;
    readonly prevIndex: number;
    readonly prevTerm: number;
    readonly entries: readonly Entry[];
    readonly commit: number;
  }
  | {
    readonly type: "appendResp";
    readonly term: number;
    readonly success: boolean;
    /** On success: the follower's match index. On failure: the prevIndex that was rejected. */
    readonly index: number;
    /** On failure: the follower's last index (where the leader may resume probing). */
    readonly hint: number;
  }
  | { readonly type: "heartbeat"; readonly term: number; readonly commit: number }
  | { readonly type: "heartbeatResp"; readonly term: number }
  | { readonly type: "snapshot"; readonly term: number; readonly snapshot: Snapshot }
  | { readonly type: "timeoutNow"; readonly term: number };

export type MessageType = Message["type"];

/** A message addressed within one group. */
export interface Envelope {
  readonly group: GroupId;
  readonly from: PeerId;
  readonly to: PeerId;
  readonly msg: Message;
}

/** One coalesced heartbeat item: the state a group's leader would have sent in its own heartbeat. */
export interface BeatItem {
  readonly group: GroupId;
  readonly term: number;
  readonly commit: number;
}

/** One coalesced heartbeat answer. */
export interface BeatAck {
  readonly group: GroupId;
  readonly term: number;
}

/**
 * Everything one server sends another in one flush: the groups' ordinary messages plus, at most once per
 * tick, the heartbeats of every group whose leader lives on the sender (and the answers to the peer's).
 */
export interface WireBatch {
  readonly from: PeerId;
  readonly to: PeerId;
  readonly envelopes: readonly Envelope[];
  readonly beats: readonly BeatItem[];
  readonly beatAcks: readonly BeatAck[];
}

/** How a server's Raft host reaches its peers: one logical link per peer, shared by all groups. */
export interface RaftTransport {
  /** Best effort, unordered is fine: Raft tolerates loss, duplication and reordering. */
  send(batch: WireBatch): void;
}

/** Seeded randomness, injected so runs are replayable. Returns a float in [0, 1). */
export type Random = () => number;
