/** Single-server membership changes: the next configuration, computed from the current one. */
import type { MembershipChange } from "./node_types.ts";
import type { Membership } from "./types.ts";

/** The membership after `change`, or null when it would leave no voter. */
export function applyChange(m: Membership, change: MembershipChange): Membership | null {
  const voters = m.voters.filter((p) => p !== change.peer);
  const observers = m.observers.filter((p) => p !== change.peer);
  if (change.op === "addVoter") voters.push(change.peer);
  if (change.op === "addObserver") observers.push(change.peer);
  if (voters.length === 0) return null;
  return { voters, observers };
}
