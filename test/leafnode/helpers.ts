// In-process Petrel hubs and leaves on random loopback ports (the default extensions, as `leafnodes {}` in a
// config file turns them on), and waits on their leafnode links.
import type { NatsConnection } from "@nats-io/transport-node";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";

export interface LeafzJson {
  server_id: string;
  leafnodes: number;
  leafs: { name: string; account: string; ip: string; port: number; rtt: string; in_msgs: number; out_msgs: number; in_bytes: number; out_bytes: number; subscriptions: number }[];
}

export function startHub(name: string): Promise<Petrel> {
  return startPetrel({
    options: { server_name: name, host: "127.0.0.1", port: -1, leafnodes: { host: "127.0.0.1", port: -1 } },
  });
}

export function startLeaf(name: string, hubUrl: string): Promise<Petrel> {
  return startPetrel({
    options: { server_name: name, host: "127.0.0.1", port: -1, leafnodes: { host: "127.0.0.1", port: 0, remotes: [{ urls: [hubUrl] }] } },
  });
}

export function leafUrl(p: Petrel): string {
  const u = p.ports().leafnode?.[0];
  if (u === undefined) throw new Error("no leafnode listener");
  return u;
}

export async function leafz(p: Petrel): Promise<LeafzJson> {
  const res = await p.monitorFetch(new Request("http://localhost/leafz"));
  return (await res.json()) as LeafzJson;
}

export async function waitLeafs(p: Petrel, n: number, timeoutMs = 5000): Promise<void> {
  await waitFor(`${n} leafnode(s)`, async () => (await leafz(p)).leafnodes === n, timeoutMs, 20);
}

/** Does `p` hold a leafnode peer's interest in `subject` (and `queue`)? */
export function hasLeafInterest(p: Petrel, subject: string, queue?: string): boolean {
  const r = p.server.accounts.global.sublist.match(subject);
  if (queue === undefined) return r.psubs.some((s) => s.owner.kind === "leaf" && s.subject === subject);
  return r.qsubs.some((g) => g.some((s) => s.owner.kind === "leaf" && s.subject === subject && s.queue === queue));
}

/** Subscribes, then waits until `other` (the far side) has heard of the interest. */
export async function flushInterest(nc: NatsConnection, other: Petrel, subject: string, queue?: string): Promise<void> {
  await nc.flush();
  await waitFor(`leaf interest in ${subject}`, () => hasLeafInterest(other, subject, queue), 5000, 10);
}
