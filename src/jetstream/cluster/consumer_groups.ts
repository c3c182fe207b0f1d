/**
 * The consumers of this server's stream replicas, each a Raft group of its own (consumer_replica.ts). A
 * consumer's assignment — config, created, group id, founding peers, first state — rides in its stream's log
 * (`cadd`/`cdel`, proposed by the stream leader); its state rides in its own group's log. This module opens and
 * closes the groups as the assignments say, routes the consumer-scoped API to the consumer's leader, answers
 * consumer step-down, and builds the `cluster` block of consumer info.
 *
 * A create of a new consumer is answered once its assignment is applied (committed), an update once its new
 * config is, and a delete once its removal is, as nats-server answers them once the meta layer has them: answered
 * at once before, a create whose assignment was lost with the stream's leadership had been told "created" for a
 * consumer that never ran, an update lost the same way had been told it was made, and a deleted durable whose
 * removal was lost came back. A create whose entry is lost goes to the next leader; an update and a removal are
 * proposed again until applied, and given up after a bounded number of tries with an error the client may retry
 * (503, as nats-server answers while its cluster cannot decide). The removal of an inactive consumer (nobody
 * asked, nobody to answer) is proposed again until applied, as nats-server's consumer does until its assignment
 * is gone. Consumer info of a consumer whose assignment is on its way is "consumer not found" until applied.
 *
 * Replica count: the consumer's `num_replicas`, else the stream's; ephemeral consumers of a limits stream are
 * R1 (as nats-server 2.9), placed on the server that created them. A consumer with fewer replicas than its
 * stream is placed on that many of the stream's servers, the one that created it (the stream's leader) first.
 */
import { type RaftGroup, type RaftHost } from "../../raft/host.ts";
import { MemoryStorage as MemoryRaftStorage } from "../../raft/memory_storage.ts";
import type { RaftStorage } from "../../raft/storage.ts";
import type { PeerId, Random } from "../../raft/types.ts";
import { body as parseBody, isErr } from "../api.ts";
import type { ConsumerConfig, StreamConfig } from "../config.ts";
import { consumerConfigJson, consumerFilters } from "../config.ts";
import type { Stream, StreamListener } from "../stream.ts";
import { subjectMatches } from "../../subjects/subject.ts";
import type { Consumer, ConsumerState } from "../consumer.ts";
import type { JetStream } from "../engine.ts";
import { type ApiError, Errors } from "../errors.ts";
import type { BusMsg, JsBus } from "../types.ts";
import { ConsumerReplica } from "./consumer_replica.ts";
import { decodeCmd, encodeCmd, type GroupCmd } from "./entries.ts";
import type { StreamAssignment } from "./meta.ts";
import { reconcileMembership } from "./peer_remove.ts";
import { r1ConsumerHome, r1GroupStillMoving, walkR1Group } from "./moves.ts";
import type { ConsumerRecord, StreamReplica } from "./stream_replica.ts";
import { peerToken } from "./transport.ts";

const T = "io.nats.jetstream.api.v1.";
/** `$JSC.CPROP.<stream group>`: a consumer leader that does not lead the stream asks its leader to propose. */
const CPROP = "$JSC.CPROP.";
/** A consumer replica no longer placed here is closed at the latest this long after (if its group never told it). */
const LEAVE_MS = 5_000;
/**
 * A consumer removal or update not applied this long after it was proposed is proposed again, to the stream's
 * leader then (nats-server's mirror and source retry their consumer create no sooner than 2 s apart too).
 */
export const DELETE_RETRY_MS = 2_000;
/**
 * After this many proposals in vain (the stream without a leader for 30 s) a delete or an update is given up and
 * answered with `Errors.clusterNotAvailable` (503): the client may ask again. Nothing of it was applied here; if an
 * entry of it still commits later, every replica applies it alike.
 */
export const DELETE_TRIES = 15;
/**
 * A create whose assignment was lost with the leadership goes to the next leader only this soon after it came:
 * an older one is answered with an error instead (its requester has given up or asked again: nats clients wait
 * 5 s by default; an ephemeral consumer made for nobody goes at its inactivity threshold).
 */
export const CREATE_PASS_ON_MS = 30_000;

type Json = Record<string, unknown>;
/** A consumer's assignment in its stream's log. */
type Assignment = Extract<GroupCmd, { op: "cadd" }>;

export interface ConsumerGroupsDeps {
  readonly engine: JetStream;
  readonly host: RaftHost;
  readonly self: PeerId;
  readonly clusterName: string;
  readonly sysBus: JsBus;
  readonly random: Random;
  readonly now: () => number;
  readonly openStorage: (group: string) => RaftStorage;
  readonly dropStorage: (group: string) => void;
  readonly replicas: ReadonlyMap<string, StreamReplica>;
  readonly assignment: (stream: string) => StreamAssignment | undefined;
  readonly stepDown: (g: RaftGroup) => void;
  readonly online: (peer: string) => boolean;
  readonly activeNs: (peer: string) => number;
  readonly respond: (reply: string | undefined, body: Json) => void;
  /** A create of `stream`'s consumer this server took as its leader and cannot answer: to the leader now. */
  readonly passOn: (stream: string, m: BusMsg) => void;
}

/** How a request waiting for a commit is answered: the answer, or an error (`Errors.clusterNotAvailable` here). */
type Answer = (err?: ApiError) => void;

/** A create waiting for its consumer's assignment. */
interface CreateWait {
  readonly answer: Answer;
  /** The request (an owned copy), to the next leader if the assignment is lost; none if it came passed on. */
  readonly request?: BusMsg;
}

/** A new consumer this server's API created, its assignment proposed here and not applied yet. */
interface Creating {
  readonly consumer: Consumer;
  readonly group: string;
  readonly peers: readonly string[];
  /** When it was created (by `now`). */
  readonly at: number;
  /** The requests that wait for it (a create asked again meanwhile waits too). */
  readonly waits: CreateWait[];
}

/** An update of a consumer's config this server's API proposed, not applied yet. */
interface Updating {
  readonly consumer: Consumer;
  readonly group: string;
  readonly config: ConsumerConfig;
  /** `config` as the stream's log carries it: the applied update that matches it answers. */
  readonly json: string;
  readonly answers: Answer[];
  at: number;
  tries: number;
}

/** A consumer removal this server proposed (its API's delete, or an inactive consumer's), not applied yet. */
interface Deleting {
  readonly stream: string;
  readonly name: string;
  readonly group: string;
  readonly answers: Answer[];
  /** An inactive consumer's: deleted here already, so proposed again until applied (no tries limit). */
  readonly inactive: boolean;
  at: number;
  tries: number;
}

/** How many replicas a consumer of a stream with `streamReplicas` gets. */
export function consumerReplicaCount(cfg: ConsumerConfig, scfg: StreamConfig): number {
  const n = (cfg as { num_replicas?: number }).num_replicas;
  if (typeof n === "number" && n > 0) return Math.min(n, scfg.num_replicas);
  if (!cfg.durable_name && scfg.retention === "limits") return 1;
  return scfg.num_replicas;
}

/**
 * The servers of a consumer with `n` replicas on a stream of `streamReplicas` placed on `streamPeers`: its
 * founders (the first is the server that created it, the stream's leader then) while they still hold the
 * stream, topped up from the stream's other peers; all of the stream's peers (more than its replicas while it
 * moves: the consumer moves with it) when `n` is not below the stream's replicas.
 */
export function consumerPeers(founders: readonly string[], streamPeers: readonly string[], n: number, streamReplicas: number): readonly string[] {
  if (n >= streamReplicas || n >= streamPeers.length) return streamPeers;
  const out = founders.filter((p) => streamPeers.includes(p)).slice(0, n);
  for (const p of streamPeers) {
    if (out.length >= n) break;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/**
 * Where a consumer with `n` > 1 replicas lives while its stream is on `streamPeers` and, if it moves, moving to
 * `moveTo`: during the move its servers now plus the ones it will have there (its group only grows: no voter
 * leaves before the stream's old servers do), so that the stream's shrink never leaves it without voters on the
 * new servers; otherwise its servers now.
 */
export function consumerPlacement(
  founders: readonly string[],
  streamPeers: readonly string[],
  moveTo: readonly string[] | undefined,
  n: number,
  streamReplicas: number,
): readonly string[] {
  const now = consumerPeers(founders, streamPeers, n, streamReplicas);
  if (moveTo === undefined) return now;
  const there = consumerPeers(founders, moveTo, n, streamReplicas);
  return [...now, ...there.filter((p) => !now.includes(p))];
}

/** A consumer of a moving stream with no replica on the stream's leader: its group, and where it must be. */
export interface RemoteMove {
  /** The consumer's name (a move given up names the consumers it waited for). */
  readonly name: string;
  readonly group: string;
  /** The servers it must have voters on (an R1 consumer: its one home there). */
  readonly want: readonly string[];
  readonly r1: boolean;
  readonly moveTo: readonly string[];
}

/**
 * Has a consumer group with `voters` moved with its stream? A larger one once it has voters on every server it
 * will have there (its old ones leave after the stream's shrink); an R1 one once its one voter is there (it walks:
 * the new server joins, then the old one leaves, moves.ts).
 */
export function consumerMoved(voters: readonly string[], m: Pick<RemoteMove, "want" | "r1" | "moveTo">): boolean {
  if (m.r1) return voters.length > 0 && voters.every((v) => m.moveTo.includes(v));
  return m.want.every((p) => voters.includes(p));
}

/**
 * A group's voters once the membership that names them is committed; undefined while a change is only
 * appended. A leader's membership takes effect when appended: one that lost its quorum (a server of a group of two
 * down) still appends the new servers it should grow onto, and would look moved without being able to commit
 * it (ops_move_consumer: the stream shrank away from such a consumer).
 */
export function settledVoters(g: RaftGroup): readonly string[] | undefined {
  const node = g.node;
  return node.commit >= node.log.lastConfIndex() ? node.membership().voters : undefined;
}

/** A listener that needs every message matching `filters` (a consumer whose state lives on other servers). */
function holdingListener(filters: string[]): StreamListener {
  const matches = (subject: string) => filters.length === 0 || filters.some((f) => subjectMatches(subject, f));
  return {
    onStored() {},
    onRemoved() {},
    needs: (_seq, subject) => matches(subject),
    filters: () => filters,
    matchesSubject: matches,
  };
}

function key(stream: string, name: string): string {
  return `${stream}\u0000${name}`;
}

/** A request that may be kept (bytes of its own). */
function ownedRequest(m: BusMsg): BusMsg {
  const out: BusMsg = { subject: m.subject, payload: m.payload.slice(), local: m.local, viaRoute: m.viaRoute };
  if (m.reply !== undefined) out.reply = m.reply;
  if (m.headers !== undefined) out.headers = m.headers.slice();
  return out;
}

export class ConsumerGroups {
  readonly replicas = new Map<string, ConsumerReplica>();
  readonly #d: ConsumerGroupsDeps;
  #sid: number | undefined;
  /** Consumer replicas whose placement no longer includes this server, with when that was seen. */
  #leaving = new Map<string, number>();
  /** Consumers of older logs this server (as stream leader) proposed a group for. */
  #migrating = new Set<string>();
  /** New groups created here, with the ticks until they campaign. */
  #campaign = new Map<ConsumerReplica, number>();
  /** Keys of the R1 consumers hosted here (they move with their stream: moves.ts). */
  #r1 = new Set<string>();
  /**
   * Stand-ins on this server's stream replicas for consumers of interest or work-queue streams placed on other
   * servers (fewer replicas than the stream): they hold every message the consumer may want, so a stream
   * leader that holds no replica of the consumer never removes what it has not acknowledged.
   */
  #standIns = new Map<string, { stream: Stream; listener: StreamListener }>();
  #standing = new Set<string>();
  /**
   * New consumers this server's API created (paused until a group runs them) whose assignment this server
   * proposed as the stream's leader, until it is applied (answered then) or lost. The proposal rides in the
   * leader's batch or log: a leadership lost before it committed (a step-down's transfer, an election under load)
   * may drop it; answered at once before, such a consumer was "created" and stayed paused here for good (a
   * mirror's feed of it waited for ever).
   */
  readonly #creating = new Map<string, Creating>();
  /** Consumers this server's API was asked to delete, or deleted as inactive, until their removal is applied. */
  readonly #deleting = new Map<string, Deleting>();
  /** Updates this server's API proposed, by consumer, oldest first, until applied (or given up). */
  readonly #updating = new Map<string, Updating[]>();
  /** The update `update` just took, for `answerCreate` in the same turn. */
  #taken: Updating | undefined;

  constructor(d: ConsumerGroupsDeps) {
    this.#d = d;
  }

  start(): void {
    this.#sid = this.#d.sysBus.subscribe(`${CPROP}*`, (m) => {
      const group = m.subject.slice(CPROP.length);
      const cmd = decodeCmd(m.payload);
      if (cmd instanceof Error || (cmd.op !== "cadd" && cmd.op !== "cdel")) return;
      for (const r of this.#d.replicas.values()) {
        if (peerToken(r.group.id) === group && r.isLeader()) this.#proposeCmd(r, cmd);
      }
    });
  }

  stop(): void {
    if (this.#sid !== undefined) this.#d.sysBus.unsubscribe(this.#sid);
    for (const k of [...this.replicas.keys()]) this.#close(k, false);
    for (const k of [...this.#standIns.keys()]) this.#dropStandIn(k);
  }

  /** A consumer of an interest or work-queue stream placed elsewhere gets a stand-in here (see #standIns). */
  #standIn(sr: StreamReplica, k: string, rec: ConsumerRecord, placed: boolean): void {
    const s = sr.stream;
    const cur = this.#standIns.get(k);
    if (placed || s.cfg.retention === "limits") {
      if (cur) this.#dropStandIn(k);
      return;
    }
    this.#standing.add(k);
    if (cur?.stream === s) return;
    if (cur) this.#dropStandIn(k);
    const listener = holdingListener(consumerFilters(rec.config));
    s.listeners.add(listener);
    this.#standIns.set(k, { stream: s, listener });
  }

  #dropStandIn(k: string): void {
    const cur = this.#standIns.get(k);
    if (!cur) return;
    this.#standIns.delete(k);
    cur.stream.listeners.delete(cur.listener);
  }

  get(stream: string, name: string): ConsumerReplica | undefined {
    return this.replicas.get(key(stream, name));
  }

  /**
   * Where a consumer is placed now: an R1 consumer on its founder (moved with its stream, moves.ts); one with
   * more replicas on its stream's current peers. The count is the consumer's own `num_replicas`, else its
   * stream's — which a stream update may change: an R1-founded consumer grows with its stream, and shrinks.
   */
  #placement(rec: ConsumerRecord, a: StreamAssignment | undefined, r1: boolean, n: number): readonly string[] {
    const founders = rec.peers ?? [];
    if (r1) return founders.length > 0 ? [r1ConsumerHome(founders[0], a)] : [];
    if (founders.length === 0 || !a) return founders;
    return consumerPlacement(founders, a.peers, a.moveTo, n, a.config.num_replicas);
  }

  /**
   * What a move of `stream` still waits for among its consumers (moves.ts: the stream's old servers may go only
   * once every consumer has its voters on the servers it will have there, as nats-server holds a move's
   * scale-down for its consumers). `local`: a consumer hosted here has not finished moving — an R1 one still on
   * its way, or a larger one whose group, as this server sees it, lacks a voter there. `remote`: the consumers
   * with no replica here (fewer replicas than the stream, none on its leader), whose groups this server cannot
   * see: their leaders are asked (`consumerMoved` judges the answer). Before, those were not seen at all, and a
   * stream could shrink away from a consumer whose group had not grown onto the new servers yet.
   */
  moveWaitsFor(stream: string, a: StreamAssignment): { local: boolean; remote: RemoteMove[]; leaderless: string[] } {
    const moveTo = a.moveTo ?? [];
    const sr = this.#d.replicas.get(stream);
    const remote: RemoteMove[] = [];
    // Consumers hosted here that hold the move and have no leader: they cannot grow until their servers return.
    const leaderless: string[] = [];
    let local = false;
    if (!sr) return { local: false, remote, leaderless };
    for (const [name, rec] of sr.consumers) {
      if (!rec.group || !rec.peers || rec.peers.length === 0) continue;
      const k = key(stream, name);
      const n = consumerReplicaCount(rec.config, sr.stream.cfg);
      const want = n <= 1 ? [r1ConsumerHome(rec.peers[0], a)] : consumerPeers(rec.peers, moveTo, n, a.config.num_replicas);
      const r = this.replicas.get(k);
      if (r === undefined || r.group.id !== rec.group) {
        remote.push({ name, group: rec.group, want, r1: n <= 1, moveTo });
        continue;
      }
      const voters = settledVoters(r.group);
      if (this.#r1.has(k) ? r1GroupStillMoving(r.group, moveTo) : voters === undefined || !consumerMoved(voters, { want, r1: false, moveTo })) {
        local = true;
        if (r.group.leader === null) leaderless.push(name);
      }
    }
    return local ? { local, remote: [], leaderless } : { local, remote, leaderless };
  }

  /**
   * The voters of consumer group `token` (its subject token) when this server leads it and its membership is
   * committed (see settledVoters): a move's gate asks.
   */
  votersIfLeading(token: string): string[] | undefined {
    for (const r of this.replicas.values()) {
      if (peerToken(r.group.id) !== token || !r.group.isLeader()) continue;
      const voters = settledVoters(r.group);
      return voters ? [...voters] : undefined;
    }
    return undefined;
  }

  /** Opens, reconfigures and closes consumer replicas as the stream replicas' records say. */
  reconcile(): void {
    const d = this.#d;
    const now = d.now();
    const wanted = new Set<string>();
    this.#standing.clear();
    for (const [stream, sr] of d.replicas) {
      const a = d.assignment(stream);
      for (const [name, rec] of sr.consumers) {
        if (!rec.group || !rec.peers) {
          // Assigned before consumers had groups of their own (an older log): the stream's leader gives it one.
          const mk = `${sr.group.id}\u0000${name}`;
          if (sr.isLeader() && sr.ready && !this.#migrating.has(mk)) {
            this.#migrating.add(mk);
            sr.propose(this.#assignment(sr, name, rec.config, rec.created, rec.state), undefined);
          }
          continue;
        }
        const k = key(stream, name);
        const n = consumerReplicaCount(rec.config, sr.stream.cfg);
        const r1 = n <= 1;
        const peers = this.#placement(rec, a, r1, n);
        const placed = peers.includes(d.self);
        this.#standIn(sr, k, rec, placed);
        const existing = this.replicas.get(k);
        if (existing && existing.group.id !== rec.group) {
          this.#close(k, true); // a consumer re-created under the same name
        } else if (existing) {
          wanted.add(k);
          if (JSON.stringify(existing.config) !== JSON.stringify(rec.config)) existing.configure(rec.config);
          // The group follows its stream's peers (a leader taken out hands over first, then leaves).
          if (a && !r1 && existing.ready) reconcileMembership(existing.group, a, d.self, () => this.#stepDownNow(existing), peers);
          if (r1) {
            this.#r1.add(k);
            // An R1 consumer moves with its stream: the new server joins, then the old one leaves.
            if (existing.ready && rec.peers.length > 0) walkR1Group(existing.group, r1ConsumerHome(rec.peers[0], a), () => this.#stepDownNow(existing));
          } else this.#r1.delete(k);
          if (placed) {
            this.#leaving.delete(k);
          } else {
            const since = this.#leaving.get(k) ?? now;
            this.#leaving.set(k, since);
            // An R1 consumer on its way to another server holds its only copy until that one joined.
            const timedOut = now - since > LEAVE_MS && !(r1 && existing.group.isLeader());
            if (!existing.group.node.isVoter() || timedOut) {
              this.#leaving.delete(k);
              this.#close(k, true);
              wanted.delete(k);
            }
          }
          continue;
        }
        if (!placed) continue;
        wanted.add(k);
        this.#open(sr, name, rec);
      }
    }
    for (const k of [...this.replicas.keys()]) if (!wanted.has(k)) this.#close(k, true);
    for (const k of [...this.#standIns.keys()]) if (!this.#standing.has(k)) this.#dropStandIn(k);
  }

  #open(sr: StreamReplica, name: string, rec: ConsumerRecord): void {
    const d = this.#d;
    const r = new ConsumerReplica(sr.stream, name, structuredClone(rec.config), rec.created, rec.state ? structuredClone(rec.state) : undefined, {
      engine: d.engine,
      self: d.self,
      onLeaderReady: (rep) => {
        const replicas = (this.clusterOf(rep).replicas ?? []) as unknown[];
        d.engine.advisories.consumerLeaderElected(rep.stream.name, rep.name, d.self, replicas);
      },
    });
    // A memory consumer (`mem_storage`: ordered consumers, KV watchers) keeps its log in memory, as nats-server.
    const storage = this.#inMemory(rec, sr) ? new MemoryRaftStorage() : d.openStorage(rec.group!);
    const stored = storage.load();
    const fresh = stored.entries.length === 0 && !stored.snapshot;
    r.group = d.host.addGroup({
      group: rec.group!,
      storage,
      initial: { voters: [...rec.peers!], observers: [] },
      handlers: {
        apply: (e) => r.apply(e),
        restore: (s) => r.restore(s),
        leaderChanged: (l) => r.leaderChanged(l),
      },
    });
    this.replicas.set(key(sr.stream.name, name), r);
    // The server that created the consumer campaigns first (it answered the create and its clients pull
    // next), a few ticks on, once the other replicas have the group too.
    if (fresh && rec.peers![0] === d.self) this.#campaign.set(r, 2);
  }

  #inMemory(rec: ConsumerRecord, sr: StreamReplica): boolean {
    return rec.config.mem_storage === true || sr.stream.cfg.storage === "memory";
  }

  #close(k: string, drop: boolean): void {
    const r = this.replicas.get(k);
    if (!r) return;
    this.replicas.delete(k);
    this.#leaving.delete(k);
    this.#r1.delete(k);
    r.close();
    this.#d.host.removeGroup(r.group.id);
    if (drop && !(r.config.mem_storage === true || r.stream.cfg.storage === "memory")) this.#d.dropStorage(r.group.id);
  }

  /**
   * A consumer of a replicated stream runs only where its replica leads it (or, paused, where the API just
   * created it): any other engine copy — with no replica here at all — is stopped, so no stale copy delivers
   * or confirms acks.
   */
  #reapOrphans(): void {
    const engine = this.#d.engine;
    for (const stream of this.#d.replicas.keys()) {
      const map = engine.consumers.get(stream);
      if (!map) continue;
      for (const [name, c] of [...map]) {
        if (c.paused || this.replicas.has(key(stream, name))) continue;
        this.#dropCopy(c);
      }
    }
  }

  /** Stops an engine copy of a consumer that runs nowhere (no removal proposed, no advisory: it never existed). */
  #dropCopy(c: Consumer): boolean {
    const engine = this.#d.engine;
    const map = engine.consumers.get(c.stream.name);
    if (map?.get(c.name) !== c) return false;
    engine.routeAcks(c, false);
    c.close(false);
    c.stream.listeners.delete(c);
    map.delete(c.name);
    return true;
  }

  /** Every consumer group this server holds (hand-off on stop). */
  groups(): RaftGroup[] {
    return [...this.replicas.values()].map((r) => r.group);
  }

  /** Proposes what the live consumers hold now (before a hand-off or stop). */
  flushAll(): void {
    for (const r of this.replicas.values()) r.flush();
  }

  // ---- the engine's consumer hooks ----

  /**
   * This server's API created or updated consumer `c` (it leads the stream, or the consumer): replicate it. A new
   * one (only the stream's leader creates those: forStreamLeader) waits, paused, for its assignment to commit.
   */
  changed(c: Consumer): void {
    const sr = this.#d.replicas.get(c.stream.name);
    if (!sr) return;
    const rec = sr.consumers.get(c.name);
    if (rec?.group) {
      this.#proposeCmd(sr, { op: "cadd", name: c.name, config: c.cfg, created: rec.created, group: rec.group, peers: rec.peers });
      return;
    }
    const cmd = this.#newAssignment(sr, c);
    // A new consumer waits (pull requests held) until its group has chosen where it runs.
    c.paused = true;
    const k = key(c.stream.name, c.name);
    const w: Creating = { consumer: c, group: cmd.group, peers: cmd.peers ?? [], at: this.#d.now(), waits: [] };
    this.#creating.set(k, w);
    // Told after the API registered its answer (answerCreate, in the same turn).
    const lost = () => queueMicrotask(() => this.#assignmentLost(k, w));
    if (!sr.propose(cmd, () => this.#assigned(k, w), lost)) lost();
  }

  /**
   * The answer to a create of `c` (request `m`): sent once its assignment, or the update it asked for, is applied
   * (true); false: answered at once (a consumer already assigned, asked with the config it has).
   */
  answerCreate(c: Consumer, m: BusMsg, answer: Answer): boolean {
    const u = this.#taken;
    this.#taken = undefined;
    if (u !== undefined && u.consumer === c) {
      u.answers.push(answer);
      return true;
    }
    const w = this.#creating.get(key(c.stream.name, c.name));
    if (w === undefined || w.consumer !== c) return false;
    // A request passed on here is not passed on again (its reply may be mapped to this server: answer_back.ts).
    w.waits.push(m.forwarded !== true && m.reply !== undefined ? { answer, request: ownedRequest(m) } : { answer });
    return true;
  }

  /** A new consumer's assignment was applied (this server proposed it): it exists, its creators are answered. */
  #assigned(k: string, w: Creating): void {
    if (this.#creating.get(k) === w) this.#creating.delete(k);
    for (const x of w.waits) x.answer();
  }

  /**
   * A new consumer's assignment will never be applied (the leadership went first): its paused copy goes and its
   * requests go to the stream's leader now (not answered here: the consumer never existed). One that came passed
   * on already, or came too long ago (CREATE_PASS_ON_MS), or whose consumer was deleted meanwhile, is answered
   * with an error the client may retry (it was dropped unanswered before), and so is an update that waited for it.
   */
  #assignmentLost(k: string, w: Creating): void {
    if (this.#creating.get(k) !== w) return;
    this.#creating.delete(k);
    const c = w.consumer;
    this.#failUpdates(k, w.group);
    // Deleted meanwhile (its paused copy gone, or a delete waits for it): not created again elsewhere.
    const passOn = this.#dropCopy(c) && !this.#deleting.has(k) && this.#d.now() - w.at <= CREATE_PASS_ON_MS;
    for (const x of w.waits) {
      if (passOn && x.request !== undefined) this.#d.passOn(c.stream.name, x.request);
      else x.answer(Errors.clusterNotAvailable());
    }
  }

  /**
   * An API update of consumer `c` (this server runs it) to `cfg`: proposed in the stream's log, applied to the
   * consumer (and to every replica of it) and answered once committed (`assignedApplied`), proposed again until
   * then (DELETE_RETRY_MS, at most DELETE_TRIES times). False: the consumer has no group in the stream's log (an
   * older log's), updated at once as before.
   */
  update(c: Consumer, cfg: ConsumerConfig): boolean {
    const d = this.#d;
    const sr = d.replicas.get(c.stream.name);
    if (!sr) return false;
    const k = key(c.stream.name, c.name);
    const rec = sr.consumers.get(c.name);
    const creating = this.#creating.get(k);
    const group = rec?.group ?? (creating?.consumer === c ? creating.group : undefined);
    if (group === undefined) return false;
    const config = structuredClone(cfg);
    const json = JSON.stringify(config);
    const list = this.#updating.get(k) ?? [];
    let u = list.find((x) => x.consumer === c && x.group === group && x.json === json);
    if (u === undefined) {
      u = { consumer: c, group, config, json, answers: [], at: d.now(), tries: 1 };
      list.push(u);
      this.#updating.set(k, list);
      this.#proposeUpdate(sr, u, rec?.created ?? c.created, rec?.peers ?? creating?.peers);
    }
    this.#taken = u;
    return true;
  }

  #proposeUpdate(sr: StreamReplica, u: Updating, created: string, peers: readonly string[] | undefined): void {
    this.#proposeCmd(sr, { op: "cadd", name: u.consumer.name, config: u.config, created, group: u.group, peers });
  }

  /**
   * A consumer's assignment (new, or an update) was applied on this server (its stream replica's apply, after the
   * groups followed it): the engine copy here takes its config (the running one has it from its replica; a paused
   * one just created has none yet), and the updates this server's API proposed are answered — the one applied and
   * those taken before it (a later update applied first overrode them, as if it had come after).
   */
  assignedApplied(stream: string, name: string, config: ConsumerConfig, group: string | undefined): void {
    const k = key(stream, name);
    const json = JSON.stringify(config);
    const c = this.#d.engine.consumers.get(stream)?.get(name);
    const mine = c !== undefined && group !== undefined &&
      (this.#creating.get(k)?.consumer === c ? this.#creating.get(k)!.group === group : this.get(stream, name)?.group.id === group);
    if (mine && JSON.stringify(c.cfg) !== json) c.cfg = structuredClone(config);
    const list = this.#updating.get(k);
    if (list === undefined) return;
    const i = list.findIndex((u) => u.group === group && u.json === json);
    if (i < 0) return;
    const done = list.splice(0, i + 1);
    if (list.length === 0) this.#updating.delete(k);
    for (const u of done) for (const a of u.answers) a();
  }

  /** The updates of consumer `k` in group `group` will never be applied: answered with an error to retry. */
  #failUpdates(k: string, group: string): void {
    const list = this.#updating.get(k);
    if (list === undefined) return;
    const failed = list.filter((u) => u.group === group);
    const rest = list.filter((u) => u.group !== group);
    if (rest.length > 0) this.#updating.set(k, rest);
    else this.#updating.delete(k);
    for (const u of failed) for (const a of u.answers) a(Errors.clusterNotAvailable());
  }

  /**
   * An API delete of `c`: its removal goes into the stream's log, and the consumer is deleted (it runs until
   * then) and `answer` sent once it is applied here (true). False: not assigned in the stream's log at all,
   * deleted at once by the caller.
   */
  deleteOnCommit(c: Consumer, answer: Answer): boolean {
    const d = this.#d;
    const sr = d.replicas.get(c.stream.name);
    if (!sr) return false;
    const k = key(c.stream.name, c.name);
    const creating = this.#creating.get(k);
    const group = sr.consumers.get(c.name)?.group ?? (creating?.consumer === c ? creating.group : undefined);
    if (group === undefined) return false;
    let w = this.#deleting.get(k);
    if (w === undefined || w.group !== group) {
      w = { stream: c.stream.name, name: c.name, group, answers: [], inactive: false, at: d.now(), tries: 1 };
      this.#deleting.set(k, w);
      this.#proposeCmd(sr, { op: "cdel", name: c.name, group });
    }
    w.answers.push(answer);
    return true;
  }

  /**
   * A consumer's removal was applied on this server (its stream replica's apply, before the groups follow): the
   * engine copy here goes (unless it is a newer creation under the same name, still on its way) and a delete
   * this server's API took is answered.
   */
  removedApplied(stream: string, name: string, group: string | undefined): void {
    const k = key(stream, name);
    const engine = this.#d.engine;
    const c = engine.consumers.get(stream)?.get(name);
    const creating = this.#creating.get(k);
    if (c !== undefined && !(creating?.consumer === c && group !== undefined && creating.group !== group)) engine.deleteConsumer(c);
    // Updates of the consumer removed will never be applied.
    if (group !== undefined) this.#failUpdates(k, group);
    const w = this.#deleting.get(k);
    if (w === undefined || (group !== undefined && w.group !== group)) return;
    this.#deleting.delete(k);
    for (const a of w.answers) a();
  }

  /**
   * Removals proposed here that the stream's log does not have yet: proposed again, an API delete's at most
   * DELETE_TRIES times and then answered with an error to retry (the consumer still there, on every replica alike),
   * an inactive consumer's until applied.
   */
  #retryDeletes(): void {
    const d = this.#d;
    // A creation whose stream replica closed here (deleted, moved away) is neither applied nor lost here.
    for (const [k, w] of this.#creating) {
      if (d.replicas.get(w.consumer.stream.name)?.stream === w.consumer.stream) continue;
      this.#creating.delete(k);
      for (const x of w.waits) x.answer(Errors.clusterNotAvailable());
    }
    if (this.#deleting.size === 0) return;
    const now = d.now();
    for (const [k, w] of this.#deleting) {
      const sr = d.replicas.get(w.stream);
      // Gone from here (its stream deleted or moved away), or the removal applied by now.
      if (!sr || (w.inactive && sr.consumers.get(w.name)?.group !== w.group)) {
        this.#deleting.delete(k);
        for (const a of w.answers) a(Errors.clusterNotAvailable());
        continue;
      }
      if (now - w.at < DELETE_RETRY_MS) continue;
      if (w.tries >= DELETE_TRIES && !w.inactive) {
        this.#deleting.delete(k);
        for (const a of w.answers) a(Errors.clusterNotAvailable());
        continue;
      }
      w.tries++;
      w.at = now;
      this.#proposeCmd(sr, { op: "cdel", name: w.name, group: w.group });
    }
  }

  /** Updates proposed here that the stream's log does not have yet: proposed again (bounded), or given up. */
  #retryUpdates(): void {
    const d = this.#d;
    const now = d.now();
    for (const [k, list] of this.#updating) {
      const u = list[list.length - 1];
      const sr = d.replicas.get(u.consumer.stream.name);
      const rec = sr?.consumers.get(u.consumer.name);
      const creating = this.#creating.get(k);
      const stillThere = sr !== undefined && (rec?.group === u.group || creating?.group === u.group);
      if (stillThere && now - u.at < DELETE_RETRY_MS) continue;
      if (!stillThere || u.tries >= DELETE_TRIES) {
        this.#failUpdates(k, u.group);
        continue;
      }
      // Only the newest is proposed again: an older one applied after it would undo it.
      u.tries++;
      u.at = now;
      this.#proposeUpdate(sr, u, rec?.created ?? u.consumer.created, rec?.peers ?? creating?.peers);
    }
  }

  #newAssignment(sr: StreamReplica, c: Consumer): Assignment & { group: string } {
    return this.#assignment(sr, c.name, c.cfg, c.created, c.state());
  }

  /** A consumer's assignment: a fresh group on the stream's peers, this server first (it campaigns first). */
  #assignment(sr: StreamReplica, name: string, config: ConsumerConfig, created: string, state: ConsumerState | undefined): Assignment & { group: string } {
    const d = this.#d;
    const a = d.assignment(sr.stream.name);
    const n = consumerReplicaCount(config, sr.stream.cfg);
    const others = (a?.peers ?? []).filter((p) => p !== d.self);
    const peers = [d.self, ...others].slice(0, Math.max(1, n));
    const id = Math.floor(d.random() * 2 ** 32).toString(36);
    return { op: "cadd", name, config, created, group: `C-${peerToken(sr.stream.name)}-${peerToken(name)}-${id}`, peers, state };
  }

  /**
   * The engine deleted consumer `c` by itself (an inactive one) or as its removal was applied. An inactive one's
   * removal is proposed until applied (#retryDeletes): proposed once before, a removal lost with the stream's
   * leadership left the consumer's record in the stream's log for good (listed, and opened again on a restart).
   */
  deleted(c: Consumer): void {
    const d = this.#d;
    const sr = d.replicas.get(c.stream.name);
    const rec = sr?.consumers.get(c.name);
    if (!sr || !rec) return;
    this.get(c.stream.name, c.name)?.close();
    this.#proposeCmd(sr, { op: "cdel", name: c.name, group: rec.group });
    const k = key(c.stream.name, c.name);
    if (rec.group !== undefined && this.#deleting.get(k)?.group !== rec.group) {
      this.#deleting.set(k, { stream: c.stream.name, name: c.name, group: rec.group, answers: [], inactive: true, at: d.now(), tries: 1 });
    }
  }

  /** A live consumer's state changed: its replica proposes it. */
  state(c: Consumer): void {
    const r = this.get(c.stream.name, c.name);
    if (r?.live === c) r.noteState();
  }

  /**
   * An ack asked for a reply: held until replicated (true), or answered at once by the caller (false). Only the
   * consumer's leader answers: a copy that does not run it here (a consumer this server's API just created,
   * before its group chose where it runs) takes the ack too but says nothing — its confirmation would not be
   * replicated.
   */
  ackReply(c: Consumer, reply: string): boolean {
    if (!this.#d.replicas.has(c.stream.name)) return false;
    const r = this.get(c.stream.name, c.name);
    if (r?.live === c) r.holdAckReply(reply);
    return true;
  }

  /** Stream-group commands go through the stream's leader: here, or forwarded to it. */
  #proposeCmd(sr: StreamReplica, cmd: GroupCmd): void {
    if (sr.isLeader() && sr.propose(cmd, undefined)) return;
    const leader = sr.group.leader;
    if (leader === null || leader === this.#d.self) return;
    this.#d.sysBus.publish(`${CPROP}${peerToken(sr.group.id)}`, encodeCmd(cmd));
  }

  // ---- the API ----

  /**
   * Is consumer request `m` (a create or delete) the stream leader's to answer: it names no consumer that runs
   * on this server or is assigned to the stream (`api` below leaves those to the server running them)?
   */
  forStreamLeader(m: BusMsg, op: readonly string[], sr: StreamReplica): boolean {
    const name = consumerNameOf(m, op);
    if (name === undefined) return true;
    return this.#d.engine.consumers.get(sr.stream.name)?.has(name) !== true && !sr.consumers.has(name);
  }

  /**
   * A consumer-scoped request (`op` is the subject after `$JS.API.`): true when taken here (answered, or another
   * server's to answer); false when this server's engine answers it (it runs the consumer, or leads the stream
   * and the consumer does not exist).
   */
  api(m: BusMsg, op: readonly string[], sr: StreamReplica | undefined): boolean {
    if (!sr) return true;
    const streamLeads = sr.isLeader() && sr.ready;
    const verb = op[1];
    if (verb === "NAMES" || verb === "LIST") {
      if (streamLeads) this.#list(m, sr, verb === "NAMES");
      return true;
    }
    const name = consumerNameOf(m, op);
    // Where the consumer runs (its group's leader, or the server whose API just created it), its engine answers.
    const live = name !== undefined ? this.#d.engine.consumers.get(sr.stream.name)?.get(name) : undefined;
    if (live) {
      if (verb === "INFO" && this.#uncommitted(live)) {
        // Its assignment is on its way: not a consumer yet (nats-server says so until its meta layer has it).
        this.#d.respond(m.reply, { type: T + "consumer_info_response", error: Errors.consumerNotFound() });
        return true;
      }
      if (verb !== "LEADER") return false;
      const r = this.get(sr.stream.name, live.name);
      this.#d.respond(m.reply, { type: T + "consumer_leader_stepdown_response", success: true });
      // Before its group's first election the step-down waits for it (a moot one if another server wins).
      if (r) r.stepDownAfterFlush(() => this.#stepDownNow(r));
      return true;
    }
    if (name !== undefined && sr.consumers.has(name)) {
      // Its leader is applying its log before it runs it: pull requests wait for it.
      const r = this.get(sr.stream.name, name);
      if (verb === "MSG" && r && r.isLeader() && !r.ready && m.reply) r.holdPull(m.reply, m.payload);
      return true; // another server runs it
    }
    if (!streamLeads) return true;
    if (verb === "LEADER") {
      this.#d.respond(m.reply, { type: T + "consumer_leader_stepdown_response", error: Errors.consumerNotFound() });
      return true;
    }
    return false;
  }

  #stepDownNow(r: ConsumerReplica): void {
    this.#d.stepDown(r.group);
  }

  #list(m: BusMsg, sr: StreamReplica, namesOnly: boolean): void {
    const type = namesOnly ? "consumer_names_response" : "consumer_list_response";
    const req = parseBody(m);
    if (isErr(req)) return this.#d.respond(m.reply, { type: T + type, error: req });
    const offset = typeof req.offset === "number" && req.offset > 0 ? req.offset : 0;
    // A mirror's or source's consumer (`direct`) is not listed, as nats-server does.
    const names = [...sr.consumers].filter(([, rec]) => rec.config.direct !== true).map(([n]) => n).sort();
    const limit = namesOnly ? 1024 : 256;
    const from = Math.min(offset, names.length);
    const page = names.slice(from, from + limit);
    const out: Json = { type: T + type, total: names.length, offset: from, limit };
    if (namesOnly) out.consumers = page;
    else out.consumers = page.map((n) => this.#info(sr, n));
    this.#d.respond(m.reply, out);
  }

  #info(sr: StreamReplica, name: string): Json {
    const r = this.get(sr.stream.name, name);
    const now = new Date(this.#d.now()).toISOString();
    if (r?.live) {
      const info = r.live.info(undefined, this.#d.self);
      info.cluster = this.clusterOf(r);
      return info;
    }
    if (r) return { ...r.info(), config: consumerConfigJson(r.config), cluster: this.clusterOf(r), ts: now };
    const rec = sr.consumers.get(name)!;
    return { stream_name: sr.stream.name, name, created: rec.created, config: consumerConfigJson(rec.config), cluster: { name: this.#d.clusterName }, ts: now };
  }

  /**
   * The consumers of `stream` this server holds (nats-server's `/jsz` counts and details these, per server): a
   * replica of the consumer's group, or the engine copy of an assigned consumer before its group formed (not one
   * whose assignment is still on its way: not a consumer yet, as its info says). Mirrors' and sources' consumers
   * (`direct`) are left out, as nats-server's cluster assignments do.
   */
  hosted(stream: string): Map<string, () => Json> {
    const out = new Map<string, () => Json>();
    const sr = this.#d.replicas.get(stream);
    if (!sr) return out;
    for (const [name, rec] of sr.consumers) {
      if (rec.config.direct === true) continue;
      if (this.get(stream, name)) out.set(name, () => this.#info(sr, name));
    }
    for (const [name, c] of this.#d.engine.consumers.get(stream) ?? []) {
      if (out.has(name) || c.cfg.direct === true || this.#uncommitted(c)) continue;
      out.set(name, () => ({ ...c.info(undefined, this.#d.self), cluster: this.cluster(c) }));
    }
    return out;
  }

  /**
   * How many consumers `stream` has in the whole cluster (its stream info's `consumer_count`, as nats-server): those
   * assigned in its log (one whose assignment is on its way is not counted, as its info says "not found").
   */
  count(stream: string): number | undefined {
    const sr = this.#d.replicas.get(stream);
    if (!sr) return undefined;
    let n = 0;
    for (const rec of sr.consumers.values()) if (rec.config.direct !== true) n++;
    for (const [name, c] of this.#d.engine.consumers.get(stream) ?? []) {
      if (!sr.consumers.has(name) && c.cfg.direct !== true && !this.#uncommitted(c)) n++;
    }
    return n;
  }

  /** Is `c` a new consumer this server's API created whose assignment is not applied yet? */
  #uncommitted(c: Consumer): boolean {
    return this.#creating.get(key(c.stream.name, c.name))?.consumer === c;
  }

  /** The `cluster` block of a consumer's info, on the server running it (or any replica). */
  cluster(c: Consumer): Json | undefined {
    const r = this.get(c.stream.name, c.name);
    if (r) return this.clusterOf(r);
    // Just created here, its group not formed yet: this server runs it.
    return this.#d.replicas.has(c.stream.name) ? { name: this.#d.clusterName, leader: this.#d.self } : undefined;
  }

  clusterOf(r: ConsumerReplica): Json {
    const d = this.#d;
    const g = r.group;
    const out: Json = { name: d.clusterName };
    // Before the group's first election, the server whose API created the consumer holds it.
    const leader = g.leader ?? (d.engine.consumers.get(r.stream.name)?.has(r.name) ? d.self : null);
    if (leader) out.leader = leader;
    const progress = g.isLeader() ? g.node.progress() : new Map();
    const last = g.node.log.lastIndex();
    const replicas: Json[] = [];
    for (const p of g.node.membership().voters) {
      if (p === leader) continue;
      const pr = progress.get(p);
      const lag = pr ? Math.max(0, last - pr.match) : 0;
      const online = d.online(p);
      const e: Json = { name: p, current: online && lag === 0, active: d.activeNs(p) };
      if (lag > 0) e.lag = lag;
      if (!online) e.offline = true;
      replicas.push(e);
    }
    if (replicas.length > 0) out.replicas = replicas;
    return out;
  }

  /** Called on every host tick. */
  tick(): void {
    this.reconcile();
    for (const r of this.replicas.values()) {
      r.tick();
      r.reapStray();
    }
    this.#reapOrphans();
    this.#retryDeletes();
    this.#retryUpdates();
    for (const [r, n] of this.#campaign) {
      if (n > 1) {
        this.#campaign.set(r, n - 1);
        continue;
      }
      this.#campaign.delete(r);
      if (this.replicas.get(key(r.stream.name, r.name)) !== r || r.group.leader !== null) continue;
      for (let i = 0; i < 40; i++) r.group.node.tick();
      this.#d.host.markDirty(r.group);
    }
  }
}

/** The consumer a consumer-scoped request names (in the subject, else in a create request's config). */
export function consumerNameOf(m: BusMsg, op: readonly string[]): string | undefined {
  switch (op[1]) {
    case "DURABLE":
    case "MSG":
    case "LEADER":
      return op[4];
    case "INFO":
    case "DELETE":
      return op[3];
    case "CREATE": {
      if (op[3] !== undefined) return op[3];
      const req = parseBody(m);
      if (isErr(req)) return undefined;
      const cfg = req.config as { durable_name?: unknown; name?: unknown } | undefined;
      if (typeof cfg?.durable_name === "string") return cfg.durable_name;
      if (typeof cfg?.name === "string") return cfg.name;
      return undefined;
    }
  }
  return undefined;
}

