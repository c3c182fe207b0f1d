/**
 * Leaving gracefully: before a server stops (SIGTERM, `stop()`), every Raft group it leads — the meta group and
 * its stream groups — hands leadership to its most caught-up peer (`handOverTarget`: a Raft transfer, which
 * brings that peer up to date first), and the server waits (bounded) until it leads none,
 * and until what it proposed is applied (it answers those publishes itself), so publishes in flight are
 * answered instead of timing out while an election runs.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { PeerId } from "../../raft/types.ts";

/** How often a hand-off that has not happened yet is asked for again. */
const RETRY_MS = 400;
const POLL_MS = 20;

/**
 * Asks every group in `groups` this server leads to step down to a successor (`stepDown` picks it), until none
 * is led here or `budgetMs` has passed. Resolves to the number of groups still led here (0 when all moved).
 */
export async function handOffLeaderships(
  groups: () => readonly RaftGroup[],
  stepDown: (g: RaftGroup) => void,
  budgetMs: number,
  /** Answers still owed by this server (proposals of its time as leader not applied yet). */
  inFlight: () => number,
  now: () => number = Date.now,
): Promise<number> {
  const deadline = now() + budgetMs;
  const asked = new Map<RaftGroup, number>();
  for (;;) {
    const led = groups().filter((g) => g.isLeader() && g.node.membership().voters.length > 1);
    if (led.length === 0 && inFlight() === 0) return 0;
    const t = now();
    if (t >= deadline) return led.length;
    for (const g of led) {
      const last = asked.get(g);
      if (last === undefined || t - last >= RETRY_MS) {
        asked.set(g, t);
        stepDown(g);
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * In lame-duck mode a server stays a follower until it stops: a group that elected it anyway (its peers were
 * restarting, say) is handed on again, at most once per RETRY_MS. `asked` remembers when each group was asked.
 */
export function stayFollower(
  groups: readonly RaftGroup[],
  stepDown: (g: RaftGroup) => void,
  asked: Map<string, number>,
  now: number,
): void {
  for (const g of groups) {
    if (!g.isLeader() || g.node.membership().voters.length <= 1) continue;
    const last = asked.get(g.id);
    if (last !== undefined && now - last < RETRY_MS) continue;
    asked.set(g.id, now);
    stepDown(g);
  }
}

/**
 * Whom a leader hands its group to: the most caught-up of the voters `eligible` says may lead (online, not
 * itself), ties broken by `random`; undefined when there is none. Not only a fully caught-up one: a Raft transfer
 * brings its target up to date first (proposals wait meanwhile), while a leader that finds nobody to transfer to
 * just steps down and leaves the group leaderless for an election timeout — under a steady publisher there is
 * nearly always an entry in flight, so "fully caught up" nearly always found nobody.
 */
export function handOverTarget(
  progress: Iterable<readonly [PeerId, { readonly match: number }]>,
  eligible: (p: PeerId) => boolean,
  random: () => number,
): PeerId | undefined {
  let best = -1;
  let most: PeerId[] = [];
  for (const [p, pr] of progress) {
    if (!eligible(p)) continue;
    if (pr.match > best) [best, most] = [pr.match, [p]];
    else if (pr.match === best) most.push(p);
  }
  return most.length > 0 ? most[Math.floor(random() * most.length)] : undefined;
}
