/**
 * Where a stream's replicas go: servers of the wanted cluster carrying every wanted tag, least loaded first,
 * never two replicas on one server. Pure, so the meta leader's choice is testable and repeatable.
 */

export interface PeerInfo {
  readonly name: string;
  readonly cluster: string;
  readonly tags: readonly string[];
  /** Offline peers are not chosen for new replicas. */
  readonly online: boolean;
}

export interface PlacementRequest {
  readonly replicas: number;
  readonly cluster?: string;
  readonly tags?: readonly string[];
}

/** A stable spread: ties in load are broken by a hash of stream and server, not always the same server. */
function tieBreak(stream: string, server: string): number {
  let h = 2166136261;
  for (const c of stream + "\u0000" + server) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

/** The chosen servers, or null when not enough servers qualify (nats-server: insufficient resources). */
export function placeReplicas(
  stream: string,
  peers: readonly PeerInfo[],
  req: PlacementRequest,
  load: ReadonlyMap<string, number>,
): string[] | null {
  const want = req.tags ?? [];
  const fit = peers.filter((p) =>
    p.online && (req.cluster === undefined || req.cluster === "" || p.cluster === req.cluster) &&
    want.every((t) => p.tags.includes(t.toLowerCase()))
  );
  const unique = [...new Map(fit.map((p) => [p.name, p])).values()];
  if (req.replicas < 1 || unique.length < req.replicas) return null;
  unique.sort((a, b) =>
    (load.get(a.name) ?? 0) - (load.get(b.name) ?? 0) || tieBreak(stream, a.name) - tieBreak(stream, b.name)
  );
  return unique.slice(0, req.replicas).map((p) => p.name);
}

/**
 * Why `placeReplicas` found too few servers, in nats-server 2.9's words (400/10005): with a cluster nobody is in,
 * plain "no suitable peers for placement"; otherwise, when tags were asked for, the first tag after which too
 * few servers are left is named (`tags not matched ['x']`).
 */
export function placementFailure(peers: readonly PeerInfo[], req: PlacementRequest): { code: number; err_code: number; description: string } {
  const plain = { code: 400, err_code: 10005, description: "no suitable peers for placement" };
  const inCluster = peers.filter((p) => p.online && (req.cluster === undefined || req.cluster === "" || p.cluster === req.cluster));
  if (inCluster.length === 0) return plain;
  let left = inCluster;
  for (const t of req.tags ?? []) {
    left = left.filter((p) => p.tags.includes(t.toLowerCase()));
    if (left.length < req.replicas) return { ...plain, description: `${plain.description}, tags not matched ['${t}']` };
  }
  return plain;
}
