/**
 * What a message's term means before its type is looked at: a newer term makes us a follower of it (except
 * for pre-votes, which never move terms, and vote requests that would disturb a leader we still hear), and
 * an older one is answered with our term so its stale sender catches up, then dropped.
 */
import type { Message } from "./types.ts";

export type TermVerdict =
  /** A vote request for a newer term while we are within a live leader's lease: ignore it. */
  | { readonly kind: "drop" }
  /** An older term: send `reply` (when there is one) and stop. */
  | { readonly kind: "stale"; readonly reply: Message | null }
  /** A newer term: become a follower in it (of the sender when it is a leader's message), then handle it. */
  | { readonly kind: "adopt"; readonly fromLeader: boolean }
  /** Handle it in the current term. */
  | { readonly kind: "handle" };

export function judgeTerm(msg: Message, term: number, inLease: boolean): TermVerdict {
  if (msg.term > term) {
    if (msg.type === "preVote" || msg.type === "vote") {
      const force = msg.type === "vote" && msg.transfer;
      if (!force && inLease) return { kind: "drop" };
    }
    // A pre-vote never moves terms: that is its whole point.
    if (msg.type === "preVote" || (msg.type === "preVoteResp" && msg.granted)) return { kind: "handle" };
    const fromLeader = msg.type === "append" || msg.type === "heartbeat" || msg.type === "snapshot";
    return { kind: "adopt", fromLeader };
  }
  if (msg.term < term) return { kind: "stale", reply: staleReply(msg, term) };
  return { kind: "handle" };
}

function staleReply(msg: Message, term: number): Message | null {
  switch (msg.type) {
    case "append":
    case "heartbeat":
    case "snapshot":
      // Tell a stale leader about the newer term so it steps down.
      return { type: "heartbeatResp", term };
    case "preVote":
      return { type: "preVoteResp", term, granted: false };
    case "vote":
      return { type: "voteResp", term, granted: false };
    default:
      return null;
  }
}
