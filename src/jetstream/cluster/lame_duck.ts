/**
 * Leaving gracefully: before a server stops (SIGTERM, `stop()`), every Raft group it leads — the meta group and
 * its stream groups — hands leadership to a caught-up peer, and the server waits (bounded) until it leads none,
 * and until what it proposed is applied (it answers those publishes itself), so publishes in flight are
 * answered instead of timing out while an election runs.
 */
import type { RaftGroup } from "../../raft/host.ts";

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
