/**
 * Operating a replicated stream's peer set: `$JS.API.STREAM.PEER.REMOVE.<stream>` and `$JS.API.SERVER.REMOVE`
 * (the meta leader decides the new peer set, with the placement rules of a create), and the stream leader's
 * side - walking its Raft group's voters one change at a time to the assignment's peers (remove first, so a
 * dead peer never counts towards a quorum the others must reach, then add the replacement, which catches up
 * through the log or a snapshot).
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { MembershipChange } from "../../raft/node_types.ts";
import type { PeerId } from "../../raft/types.ts";
import type { StreamConfig } from "../config.ts";
import { type ApiError, Errors } from "../errors.ts";
import type { StreamAssignment } from "./meta.ts";
import { type PeerInfo, placeReplicas } from "./placement.ts";

/** nats-server's errors for these requests (server/errors.json). */
export const OpsErrors = {
  peerNotMember: (): ApiError => ({ code: 400, err_code: 10040, description: "peer not a member" }),
  peerRemap: (): ApiError => ({ code: 503, err_code: 10075, description: "peer remap failed" }),
  serverNotMember: (): ApiError => ({ code: 400, err_code: 10044, description: "server is not a member of the cluster" }),
  clusterRequired: (): ApiError => ({ code: 503, err_code: 10010, description: "JetStream clustering support required" }),
};

/** The peer set after removing `peer`: a replacement placed as a create would place it, or none. */
export interface PeerRemovePlan {
  readonly peers: string[];
  /** No server qualified for a replacement: the stream goes on a peer short (nats-server answers "peer remap failed"). */
  readonly short: boolean;
}

/**
 * What removing `peer` from the stream does, or the error nats-server answers. A single replica with nowhere
 * to go is refused outright (the stream would have no replica left).
 */
export function planPeerRemove(
  a: StreamAssignment,
  peer: string,
  peers: readonly PeerInfo[],
  load: ReadonlyMap<string, number>,
): PeerRemovePlan | ApiError {
  if (!a.peers.includes(peer)) return OpsErrors.peerNotMember();
  const keep = a.peers.filter((p) => p !== peer);
  const candidates = peers.filter((p) => !a.peers.includes(p.name));
  const placement = placementFor(a);
  const pick = placeReplicas(a.name, candidates, { replicas: 1, ...placement }, load);
  if (pick && pick.length === 1) return { peers: [...keep, pick[0]], short: false };
  if (keep.length === 0) return OpsErrors.peerRemap();
  return { peers: keep, short: true };
}

/** Where more replicas of an existing stream go: its requested placement, in the cluster it is placed in. */
export function placementFor(a: StreamAssignment): { cluster?: string; tags?: string[] } {
  const p = placementOf(a.config);
  return { ...p, cluster: p.cluster || a.cluster || undefined };
}

/** A stream's requested placement (cluster and tags), as placement reads it. */
export function placementOf(cfg: StreamConfig): { cluster?: string; tags?: string[] } {
  const p = (cfg as Record<string, unknown>).placement;
  if (typeof p !== "object" || p === null) return {};
  const o = p as Record<string, unknown>;
  return {
    cluster: typeof o.cluster === "string" ? o.cluster : undefined,
    tags: Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === "string") : undefined,
  };
}

/**
 * The next membership change that walks the group's voters towards `want` (removals first), or undefined when
 * they match. The leader never removes itself here: it hands leadership over first.
 */
export function nextMembershipChange(
  voters: readonly PeerId[],
  want: readonly PeerId[],
  self: PeerId,
): MembershipChange | "handover" | undefined {
  const extra = voters.filter((v) => !want.includes(v));
  if (extra.length > 0) {
    const other = extra.find((v) => v !== self);
    if (other !== undefined) return { op: "remove", peer: other };
    return "handover";
  }
  const missing = want.filter((p) => !voters.includes(p));
  if (missing.length > 0) return { op: "addVoter", peer: missing[0] };
  return undefined;
}

/**
 * Called on the stream leader's tick: one membership change at a time until the group's voters are the
 * assignment's peers (or `want`: a consumer placed on some of them). A change still pending is refused by the Raft
 * node and tried again next tick.
 */
export function reconcileMembership(
  g: RaftGroup,
  a: StreamAssignment,
  self: PeerId,
  handover: () => void,
  want: readonly PeerId[] = a.peers,
): void {
  if (!g.isLeader()) return;
  const next = nextMembershipChange(g.node.membership().voters, want, self);
  if (next === undefined) return;
  if (next === "handover") return handover();
  g.proposeMembership(next);
}

/** The JSON object of a request body, or nats-server's error: "bad request" when empty, "invalid JSON" when not an object. */
function objectBody(payload: Uint8Array): { body: Record<string, unknown> } | { error: ApiError } {
  const text = new TextDecoder().decode(payload).trim();
  if (text === "" || text === "{}") return { error: Errors.badRequest() };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { error: Errors.invalidJson() };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { error: Errors.invalidJson() };
  return { body: v as Record<string, unknown> };
}

/** `{"peer": "<server name>"}` of a PEER.REMOVE request, or nats-server's error for the body. */
export function parsePeerRemove(payload: Uint8Array): string | ApiError {
  const b = objectBody(payload);
  if ("error" in b) return b.error;
  const peer = b.body.peer;
  // A field of the wrong type fails to decode in nats-server: "invalid JSON".
  if (peer !== undefined && typeof peer !== "string") return Errors.invalidJson();
  if (typeof peer !== "string" || peer === "") return Errors.badRequest();
  return peer;
}

/** `{"peer": "<id>"}` or `{"server": "<name>"}` of a SERVER.REMOVE request (peer ids are server names here). */
export function parseServerRemove(payload: Uint8Array): string | ApiError {
  const b = objectBody(payload);
  if ("error" in b) return b.error;
  const o = b.body;
  if ((o.peer !== undefined && typeof o.peer !== "string") || (o.server !== undefined && typeof o.server !== "string")) {
    return Errors.invalidJson();
  }
  if (typeof o.peer === "string" && o.peer !== "") return o.peer;
  if (typeof o.server === "string" && o.server !== "") return o.server;
  return OpsErrors.serverNotMember();
}
