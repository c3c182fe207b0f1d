/**
 * Placement moves by stream update (another set of tags, another cluster of the supercluster), as nats-server
 * 2.9 does them: the meta leader first grows the stream's peers by the servers of the new placement
 * (`moveTo`), the stream leader adds them to its Raft group one at a time and they catch up from the log or a
 * snapshot; once every one of them holds the whole log and the stream's consumers have voters there too (those
 * with no replica on the stream's leader are asked of their own leaders), the stream leader says so on
 * `$JSC.MOVED` and the meta leader shrinks the peers to the new ones (the old ones leave the group, a leader
 * among them hands over first). At no point does the group have fewer caught-up replicas than before, so nothing acknowledged is lost.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { PeerId } from "../../raft/types.ts";
import type { StreamConfig } from "../config.ts";
import type { ApiError } from "../errors.ts";
import type { StreamAssignment } from "./meta.ts";
import { placementOf } from "./peer_remove.ts";
import { type PeerInfo, placementFailure, placeReplicas } from "./placement.ts";

export const MOVED_SUBJECT = "$JSC.MOVED";

/** nats-server's refusals (server/errors.json). */
export const MoveErrors = {
  moveAndScale: (): ApiError => ({ code: 400, err_code: 10123, description: "can not move and scale a stream in a single update" }),
  inProgress: (): ApiError => ({ code: 400, err_code: 10124, description: "stream move already in progress" }),
  notInProgress: (): ApiError => ({ code: 400, err_code: 10129, description: "stream move not in progress" }),
  noAccount: (): ApiError => ({ code: 503, err_code: 10035, description: "account not found" }),
  general: (description: string): ApiError => ({ code: 500, err_code: 10051, description }),
};

/** `$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.<account>.<stream>` (system account): the subject's two names. */
export const CANCEL_MOVE_SUBJECT = "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.*.*";

/**
 * The operator's cancel of `a`'s move (nats-server 2.9's `CANCEL_MOVE`): back to the servers it came from (the
 * first R of its peers), its configuration kept but for a placement with tags some of those servers lack, which
 * is dropped whole (nats-server: "this can happen if the move was initiated by modifying the tags"); a server not
 * known to the meta group cannot be checked, and the cancel is refused. "Not in progress" when the stream holds no
 * more servers than its replicas (nats-server's test; a move holds old and new together).
 */
export function planCancelMove(a: StreamAssignment, peers: readonly PeerInfo[]): ApiError | { readonly peers: string[]; readonly config: StreamConfig } {
  if (a.peers.length <= a.config.num_replicas) return MoveErrors.notInProgress();
  const from = movedFrom(a);
  const tags = placementOf(a.config).tags ?? [];
  let config = a.config;
  if (tags.length > 0) {
    for (const s of from) {
      const p = peers.find((x) => x.name === s);
      if (!p) return MoveErrors.general(`peer ${s} not present for tag validation`);
      if (tags.some((t) => !p.tags.includes(t.toLowerCase()))) {
        const { placement: _dropped, ...rest } = a.config;
        config = rest as StreamConfig;
        break;
      }
    }
  }
  return { peers: from, config };
}

export type MovePlan =
  | { readonly kind: "none" }
  | { readonly kind: "move"; readonly to: string[]; readonly cluster: string };

/**
 * What an update to `cfg` does to the placement of `a`: nothing (its servers already fit the new placement), a
 * move to `to` (the current servers that still fit, plus new ones placed as a create would), or an error.
 * `currentCluster` is where the stream is placed now.
 */
export function planMove(
  a: StreamAssignment,
  cfg: StreamConfig,
  currentCluster: string,
  peers: readonly PeerInfo[],
  load: ReadonlyMap<string, number>,
): MovePlan | ApiError {
  const want = placementOf(cfg);
  const cluster = want.cluster || currentCluster;
  const tags = (want.tags ?? []).map((t) => t.toLowerCase());
  const fits = (name: string) => {
    const p = peers.find((x) => x.name === name);
    return p !== undefined && p.cluster === cluster && tags.every((t) => p.tags.includes(t));
  };
  if (a.moveTo !== undefined) {
    // The same placement again is fine (a config-only update); anything else waits for the move to end.
    return a.moveTo.every(fits) && cfg.num_replicas === a.moveTo.length ? { kind: "none" } : MoveErrors.inProgress();
  }
  const keep = a.peers.filter(fits);
  if (keep.length === a.peers.length) return { kind: "none" };
  if (cfg.num_replicas !== a.peers.length) return MoveErrors.moveAndScale();
  const others = peers.filter((p) => !a.peers.includes(p.name));
  const more = placeReplicas(a.name, others, { replicas: a.peers.length - keep.length, cluster, tags }, load);
  if (!more) return placementFailure(peers, { replicas: a.peers.length, cluster, tags: want.tags });
  return { kind: "move", to: [...keep, ...more], cluster };
}

/**
 * On the stream leader: has every server the stream moves to joined the group and stored the whole log?
 * (Then the old servers may go.)
 */
export function moveCaughtUp(g: RaftGroup, moveTo: readonly PeerId[]): boolean {
  if (!g.isLeader()) return false;
  const voters = g.node.membership().voters;
  const last = g.node.log.lastIndex();
  const progress = g.node.progress();
  for (const p of moveTo) {
    if (!voters.includes(p)) return false;
    if (p === g.node.id) continue;
    const pr = progress.get(p);
    if (pr === undefined || pr.match < last) return false;
  }
  return true;
}

export interface MovedNote {
  readonly stream: string;
  readonly group: string;
  /** The move is given up (the consumers named have had no leader for MOVE_LIMITS.giveUpMs): back to the old servers. */
  readonly cancel?: readonly string[];
}

export function decodeMoved(b: Uint8Array): MovedNote | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(b)) as Partial<MovedNote>;
    if (typeof v?.stream !== "string" || typeof v.group !== "string") return undefined;
    const cancel = Array.isArray(v.cancel) ? v.cancel.filter((c): c is string => typeof c === "string") : undefined;
    return { stream: v.stream, group: v.group, ...(cancel ? { cancel } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * How long a move may wait for a consumer whose group has no leader (its servers down) before it is given up.
 * nats-server holds a move's scale-down while a consumer still has peers on the old servers ("blocked by
 * consumer", retried for ever) and offers the operator a cancel (`$JS.API.ACCOUNT.STREAM.CANCEL_MOVE`) that puts
 * the stream back on its first servers. Here the stream's leader gives the move up by itself once such a consumer
 * has been leaderless this long: the stream goes back to the servers it came from, where the consumer's state is,
 * rather than leaving without it (its state would be lost) or holding both sets for ever. A consumer that is only
 * slow (its group has a leader and grows) is waited for. Mutable for tests (a bounded real wait).
 */
export const MOVE_LIMITS = { giveUpMs: 30_000 };

/** The servers a moving stream came from: `peers` holds them first, then the ones it moves to (controller). */
export function movedFrom(a: StreamAssignment): string[] {
  return a.peers.slice(0, a.config.num_replicas);
}

/**
 * `cfg` for a stream put back on `servers` (a move given up): a placement they do not satisfy loses the part they
 * do not (tags not all of them carry, another cluster), as nats-server's cancel does, so that the stream's
 * configuration says where it is and a later update does not start the same move again unasked.
 */
export function placementFor(cfg: StreamConfig, servers: readonly string[], peers: readonly PeerInfo[]): StreamConfig {
  const want = placementOf(cfg);
  const infos = servers.map((s) => peers.find((p) => p.name === s));
  const tags = (want.tags ?? []).filter((t) => infos.every((p) => p !== undefined && p.tags.includes(t.toLowerCase())));
  const cluster = !want.cluster || infos.every((p) => p?.cluster === want.cluster) ? want.cluster : infos[0]?.cluster;
  const keep = tags.length === (want.tags ?? []).length && cluster === want.cluster;
  if (keep) return cfg;
  return { ...cfg, placement: { ...(cluster ? { cluster } : {}), ...(tags.length > 0 ? { tags } : {}) } } as StreamConfig;
}

/**
 * Where an R1 consumer of a stream lives: its founding server while the stream stays there, else the first
 * server the stream moves to (an R1 consumer moves with its stream; larger ones follow the stream's peers).
 */
export function r1ConsumerHome(founder: string, a: StreamAssignment | undefined): string {
  if (!a) return founder;
  const dest = a.moveTo ?? a.peers;
  return dest.includes(founder) || dest.length === 0 ? founder : dest[0];
}

/**
 * Walks a one-server group to `home` on its leader's tick: the new server joins first (it catches up from the
 * log), then the old one leaves (handing its leadership over first). One change at a time.
 */
export function walkR1Group(g: RaftGroup, home: PeerId, handover: () => void): void {
  if (!g.isLeader()) return;
  const voters = g.node.membership().voters;
  if (!voters.includes(home)) {
    g.proposeMembership({ op: "addVoter", peer: home });
    return;
  }
  const extra = voters.filter((v) => v !== home);
  if (extra.length === 0) return;
  const other = extra.find((v) => v !== g.node.id);
  if (other !== undefined) {
    g.proposeMembership({ op: "remove", peer: other });
    return;
  }
  // This server is the one leaving: hand over once the new one holds the whole log.
  const pr = g.node.progress().get(home);
  if (pr !== undefined && pr.match >= g.node.log.lastIndex()) handover();
}

/**
 * Is a one-server group (an R1 consumer) of a moving stream, as this server sees it, still to move? It is
 * done once a server of `moveTo` is a voter and this one no longer leads (a removed server never hears of its
 * own removal, so its view keeps both).
 */
export function r1GroupStillMoving(g: RaftGroup, moveTo: readonly PeerId[]): boolean {
  const voters = g.node.membership().voters;
  if (voters.every((v) => moveTo.includes(v))) return false;
  return g.isLeader() || !voters.some((v) => moveTo.includes(v));
}
