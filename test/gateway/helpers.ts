// In-process Petrel "clusters" linked by gateways, on random loopback ports.
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { OptionLayer } from "../../src/config/normalize.ts";
import type { Logger } from "../../src/log/logger.ts";
import { gatewayExtension } from "../../src/gateway/extension.ts";
import { waitFor } from "../helpers/servers.ts";

export interface GatewayzJson {
  server_id: string;
  name: string;
  port: number;
  outbound_gateways: Record<string, { configured: boolean; connection: { name: string; out_msgs: number; subscriptions: number } }>;
  inbound_gateways: Record<string, { configured: boolean; connection: { name: string; in_msgs: number } }[]>;
}

/**
 * A single-server cluster named `name` with a gateway listener; `remotes` are the gateways it dials. `logger`:
 * to watch for what the server logs (a refusal, say).
 */
export function startGatewayNode(
  name: string,
  remotes: { name: string; urls: string[] }[] = [],
  extra: OptionLayer = {},
  logger?: Logger,
): Promise<Petrel> {
  return startPetrel({
    logger,
    options: {
      server_name: `${name}-1`,
      host: "127.0.0.1",
      port: -1,
      ...extra,
      gateway: { name, host: "127.0.0.1", port: -1, gateways: remotes, ...extra.gateway },
    },
    extensions: [gatewayExtension()],
  });
}

export function gatewayUrl(p: Petrel): string {
  const u = p.ports().gateway?.[0];
  if (u === undefined) throw new Error("node has no gateway listener");
  return u;
}

export async function gatewayz(p: Petrel, query = ""): Promise<GatewayzJson> {
  const res = await p.monitorFetch(new Request(`http://localhost/gatewayz${query}`));
  return (await res.json()) as GatewayzJson;
}

/**
 * Waits until `p` has an outbound gateway connection to each of `names`, and an inbound one from each
 * (unless `outboundOnly`: a remote cluster dials only one server of a cluster).
 */
export async function waitForLinks(p: Petrel, names: string[], timeoutMs = 8000, outboundOnly = false): Promise<void> {
  await waitFor(`gateways ${names.join(",")} linked`, async () => {
    const g = await gatewayz(p);
    return names.every((n) => g.outbound_gateways[n] !== undefined && (outboundOnly || (g.inbound_gateways[n]?.length ?? 0) > 0));
  }, timeoutMs);
}

/** Does `p` hold another cluster's interest in exactly `subject` (and `queue`), as a gateway-owned subscription? */
export function hasGatewayInterest(p: Petrel, subject: string, queue?: string): boolean {
  const r = p.server.accounts.global.sublist.match(subject);
  if (queue === undefined) return r.psubs.some((s) => s.owner.kind === "gateway" && s.subject === subject);
  return r.qsubs.some((g) => g.some((s) => s.owner.kind === "gateway" && s.subject === subject && s.queue === queue));
}

/** Waits until `p` knows (or, with present=false, no longer knows) of another cluster's interest in `subject`. */
export async function waitForGatewayInterest(p: Petrel, subject: string, opts: { queue?: string; present?: boolean } = {}, timeoutMs = 5000): Promise<void> {
  const want = opts.present ?? true;
  await waitFor(`gateway interest in ${subject}${opts.queue ? ` (${opts.queue})` : ""} ${want ? "present" : "gone"}`, () => hasGatewayInterest(p, subject, opts.queue) === want, timeoutMs, 10);
}

export async function stopAll(nodes: Array<Petrel | undefined>): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop().catch(() => {})));
}
