/**
 * Whether a publisher may carry one message to every subscription a match reached in a reused object (LocalMsg)
 * instead of a message object of its own: no object (and no payload view) per message when nobody keeps it.
 */
import type { MatchResult } from "../subjects/sublist.ts";
import type { SubOwner, Subscription } from "./types.ts";

/** Is `ok` true of every subscriber's owner (plain and queue)? */
function everyOwner(r: MatchResult<Subscription>, ok: (o: SubOwner) => boolean): boolean {
  const psubs = r.psubs;
  for (let i = 0; i < psubs.length; i++) if (!ok(psubs[i].owner)) return false;
  const qsubs = r.qsubs;
  for (let i = 0; i < qsubs.length; i++) {
    const group = qsubs[i];
    for (let j = 0; j < group.length; j++) if (!ok(group[j].owner)) return false;
  }
  return true;
}

/**
 * A route frames the message into its output during the call and remembers it only to add queue groups to the same
 * frame, by identity and serial (RouteOutbox); clients of this server and internal clients keep nothing of it
 * (SubOwner.keepsNothing). Gateways, leafnodes and imports may keep the message.
 */
const takesDuringCall = (o: SubOwner): boolean => o.keepsNothing === true || o.kind === "route";

/** Does `r` reach only owners that keep nothing of a message after its delivery (takesDuringCall)? */
export function reusableFor(r: MatchResult<Subscription>): boolean {
  return everyOwner(r, takesDuringCall);
}
