/**
 * The `cluster` block of a stream in `/jsz` (and `$SYS.REQ.SERVER.PING.JSZ`), as nats-server 2.9 draws it on
 * each server that holds a replica: the placed cluster, the leader, and every other peer of the group as
 * `replicas` (the leader too, seen from a follower), each with `current` (on a follower: heard from lately),
 * `active` (ns since last heard),
 * `peer` (its short id), `lag` (entries behind, known on the leader) and `offline`. Pure: the controller
 * hands in what it knows.
 */
type Json = Record<string, unknown>;

export interface PictureInput {
  readonly cluster: string;
  readonly self: string;
  readonly leader: string | null;
  readonly peers: readonly string[];
  /** On the leader: how far each follower has stored the log. */
  readonly progress?: ReadonlyMap<string, { readonly match: number }>;
  readonly lastIndex: number;
  readonly online: (name: string) => boolean;
  readonly activeNs: (name: string) => number;
  readonly peerId: (name: string) => string;
}

export function clusterPicture(o: PictureInput): Json {
  const out: Json = { name: o.cluster };
  if (o.leader) out.leader = o.leader;
  const amLeader = o.leader === o.self;
  const replicas: Json[] = [];
  for (const p of o.peers) {
    if (p === o.self) continue;
    const online = o.online(p);
    const d: Json = { name: p, current: false, active: o.activeNs(p), peer: o.peerId(p) };
    if (amLeader) {
      const pr = o.progress?.get(p);
      const lag = pr ? Math.max(0, o.lastIndex - pr.match) : o.lastIndex;
      d.current = online && pr !== undefined && lag === 0;
      if (lag > 0) d.lag = lag;
    } else {
      // A follower knows no log positions but its own: a peer it hears from counts as current.
      d.current = online;
    }
    if (!online) d.offline = true;
    replicas.push(d);
  }
  if (replicas.length > 0) out.replicas = replicas;
  return out;
}
