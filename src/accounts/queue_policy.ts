/**
 * Who may receive a message, by where it came from, and which member of a queue group gets it. One policy
 * for every origin (client, internal, route, gateway, leafnode), as nats-server 2.9 has it in
 * processMsgResults:
 * - a message from a route reaches this server's subscribers and leafnodes only (one hop in a full mesh);
 * - a message from a gateway never goes back to a gateway (one hop between clusters);
 * - a message from a leafnode goes everywhere but back to that leafnode, and not over routes when this server
 *   is the hub's spoke on that link (each server of a leaf cluster has its own link to the hub);
 * - a message a stream import mapped into its account stays on this server (every server with the import
 *   maps the exporter's messages for its own subscribers, as nats-server's shadow subscriptions do);
 * - a message from a server's peer (route, gateway, leafnode) serves only the queue groups its frame names
 *   (the peer chose this server for them); a local publish serves every group.
 * Queue members are chosen nearest first: this server's own, then the cluster's routes, then leafnodes
 * (nats-server keeps a leaf member as the fallback when a route or local member is there), then other
 * clusters, the one behind the gateway with the lowest measured RTT first (unmeasured links last). Within a
 * rank (and, for other clusters, that nearest one) at random, a remote member weighted by the queue
 * subscribers it stands for.
 */
import type { OwnerKind, SubOwner, Subscription } from "../server/types.ts";

/** Rank of a member by who owns it: lower is nearer. */
export function queueRank(kind: OwnerKind): number {
  switch (kind) {
    case "client":
    case "internal":
      return 0;
    case "route":
      return 1;
    case "leaf":
      return 2;
    default:
      return 3;
  }
}

const GATEWAY_RANK = 3;

/** The RTT of the link a remote member stands behind; unmeasured counts as farthest. */
function linkRtt(s: Subscription): number {
  const rtt = s.owner.rttMs ?? 0;
  return rtt > 0 ? rtt : Infinity;
}

function nearestRtt(group: readonly Subscription[], origin: SubOwner, subject: string): number {
  let best = Infinity;
  for (const s of group) {
    if (queueRank(s.owner.kind) !== GATEWAY_RANK || !reaches(s, origin, subject)) continue;
    best = Math.min(best, linkRtt(s));
  }
  return best;
}

/**
 * Links to other servers, and stream imports: they name the queue groups they want served here (an import's
 * queue groups are chosen in the exporting account, through their shadow queue subscriptions).
 */
export function isPeerKind(kind: OwnerKind): boolean {
  return kind === "route" || kind === "gateway" || kind === "leaf" || kind === "import";
}

/** May a message from `origin` be handed to `sub` (ignoring queue choice)? */
export function reaches(sub: Subscription, origin: SubOwner, subject: string): boolean {
  const owner = sub.owner;
  if (owner === origin && (!origin.echo || isPeerKind(origin.kind))) return false;
  const to = owner.kind;
  switch (origin.kind) {
    case "route":
    case "import":
      if (to === "route" || to === "gateway") return false;
      break;
    case "gateway":
      if (to === "gateway") return false;
      break;
    case "leaf":
      if (to === "route" && origin.spoke === true) return false;
      break;
  }
  return !(sub.filtered && owner.deliveryDenied?.(subject) === true);
}

/** One member of a queue group for a message from `origin`, or undefined when none may have it. */
export function pickQueueMember(group: readonly Subscription[], origin: SubOwner, subject: string): Subscription | undefined {
  // Per-rank totals in locals (no array per message: this runs for every queue delivery).
  let t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  for (const s of group) {
    if (!reaches(s, origin, subject)) continue;
    const w = s.weight ?? 1;
    const r = queueRank(s.owner.kind);
    if (r === 0) t0 += w;
    else if (r === 1) t1 += w;
    else if (r === 2) t2 += w;
    else t3 += w;
  }
  const want = t0 > 0 ? 0 : t1 > 0 ? 1 : t2 > 0 ? 2 : t3 > 0 ? GATEWAY_RANK : -1;
  if (want < 0) return undefined;
  let total = want === 0 ? t0 : want === 1 ? t1 : want === 2 ? t2 : t3;
  let rtt = Infinity;
  if (want === GATEWAY_RANK) {
    // Other clusters: only those behind the nearest gateway.
    rtt = nearestRtt(group, origin, subject);
    total = 0;
    for (const s of group) {
      if (queueRank(s.owner.kind) === want && reaches(s, origin, subject) && linkRtt(s) === rtt) total += s.weight ?? 1;
    }
  }
  let k = Math.random() * total;
  let last: Subscription | undefined;
  for (const s of group) {
    if (queueRank(s.owner.kind) !== want || !reaches(s, origin, subject)) continue;
    if (want === GATEWAY_RANK && linkRtt(s) !== rtt) continue;
    last = s;
    k -= s.weight ?? 1;
    if (k < 0) return s;
  }
  return last;
}
