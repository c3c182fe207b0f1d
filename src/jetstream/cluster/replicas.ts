/**
 * Replica count changes through a stream update (R1↔R3↔R5): the new peer set. Growing keeps every current
 * peer and places the new ones as a create would (nats-server's "no suitable peers for placement" when it
 * cannot); shrinking keeps the current leader. The stream leader then walks its Raft voters to the new set
 * (peer_remove.ts), and new replicas catch up from the log or a snapshot, so nothing acknowledged is lost.
 */
import type { ApiError } from "../errors.ts";
import type { StreamAssignment } from "./meta.ts";
import { placementFor } from "./peer_remove.ts";
import { type PeerInfo, placementFailure, placeReplicas } from "./placement.ts";

export const noSuitablePeers = (): ApiError => ({ code: 400, err_code: 10005, description: "no suitable peers for placement" });

export function planReplicaChange(
  a: StreamAssignment,
  replicas: number,
  leader: string | undefined,
  peers: readonly PeerInfo[],
  load: ReadonlyMap<string, number>,
): string[] | ApiError {
  const current = [...a.peers];
  if (replicas === current.length) return current;
  if (replicas < current.length) {
    const first = leader !== undefined && current.includes(leader) ? [leader] : [];
    return [...first, ...current.filter((p) => p !== leader)].slice(0, replicas);
  }
  const candidates = peers.filter((p) => !current.includes(p.name));
  const more = placeReplicas(a.name, candidates, { replicas: replicas - current.length, ...placementFor(a) }, load);
  if (!more) return placementFailure(peers, { replicas, ...placementFor(a) });
  return [...current, ...more];
}
