/**
 * Where a message from a leafnode peer goes: every plain subscription here (clients, routes, other leafnode
 * peers) but the peer's own, and one member of each queue group the peer named in the frame (a group it
 * did not name was served on its side already). Members are chosen nearest first: this server's clients,
 * then other leafnodes, then the cluster, then other clusters.
 */
import type { Server } from "../server/server.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { deliverTo } from "../cluster/route.ts";

export function deliverFromLeaf(server: Server, from: SubOwner, msg: RoutedMsg, queues: readonly string[]): void {
  const r = server.sublist.match(msg.subject);
  for (const sub of r.psubs) {
    if (sub.owner === from) continue;
    if (sub.filtered && sub.owner.deliveryDenied?.(msg.subject)) continue;
    deliverTo(server, sub, msg);
  }
  if (queues.length === 0) return;
  for (const group of r.qsubs) {
    const name = group[0]?.queue;
    if (name === undefined || !queues.includes(name)) continue;
    const pick = pickMember(group, from, msg.subject);
    if (pick !== undefined) deliverTo(server, pick, msg);
  }
}

function tier(s: Subscription): number {
  const k = s.owner.kind;
  return k === "gateway" ? 3 : k === "route" ? 2 : k === "leaf" ? 1 : 0;
}

function eligible(s: Subscription, from: SubOwner, subject: string): boolean {
  return s.owner !== from && !(s.filtered && s.owner.deliveryDenied?.(subject));
}

/** Nearest tier first; within it at random, weighted by the members each remote subscription stands for. */
export function pickMember(group: readonly Subscription[], from: SubOwner, subject: string): Subscription | undefined {
  const totals = [0, 0, 0, 0];
  for (const s of group) if (eligible(s, from, subject)) totals[tier(s)] += s.weight ?? 1;
  const want = totals.findIndex((t) => t > 0);
  if (want < 0) return undefined;
  let k = Math.random() * totals[want];
  let last: Subscription | undefined;
  for (const s of group) {
    if (tier(s) !== want || !eligible(s, from, subject)) continue;
    last = s;
    k -= s.weight ?? 1;
    if (k < 0) return s;
  }
  return last;
}
