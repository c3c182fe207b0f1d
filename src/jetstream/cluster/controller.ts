/**
 * Replicated JetStream on one server of a cluster: the server's RaftHost (Raft over routes), the meta group
 * of all JetStream servers (its leader answers the cluster-wide API and places streams), and this server's
 * stream replicas. It plugs into the engine as its `EngineCluster`: every server hears every `$JS.API`
 * request and exactly one answers it — the meta leader for cluster-wide requests, the stream's leader for a
 * stream's own.
 */
import type { Logger } from "../../log/logger.ts";
import { RaftGroup, RaftHost } from "../../raft/host.ts";
import type { RaftStorage } from "../../raft/storage.ts";
import type { Entry, PeerId, Random, Snapshot } from "../../raft/types.ts";
import { subjectMatches, subjectsIntersect } from "../../subjects/subject.ts";
import { body as parseBody, isErr, streamInfo } from "../api.ts";
import { checkStreamConfig, checkStreamUpdate, type StreamConfig } from "../config.ts";
import { jsSchemas } from "../schemas_on_demand.ts";
import type { EngineCluster, JetStream } from "../engine.ts";
import { type ApiError, Errors } from "../errors.ts";
import type { Stream } from "../stream.ts";
import type { BusMsg, JsBus } from "../types.ts";
import {
  accountOf,
  accountOfKey,
  decodeMeta,
  encodeMeta,
  keyOf,
  type MetaChange,
  type MetaCmd,
  MetaState,
  type StreamAssignment,
  streamKey,
} from "./meta.ts";
import { limitsInfo } from "../limits.ts";
import type { Timer } from "../../runtime/clock.ts";
import { lightInterval } from "../../runtime/light_timers.ts";
import { checkClusteredStore, checkClusteredStreamLimits } from "./account_limits.ts";
import { storedSize } from "../store/types.ts";
import { InfoQueries } from "./info_query.ts";
import { designatedResponder, LeaderlessSince, unavailableResponse } from "./leaderless.ts";
import { type PeerInfo, placementFailure, placeReplicas } from "./placement.ts";
import { clusterPicture } from "./jsz_cluster.ts";
import { CANCEL_MOVE_SUBJECT, decodeMoved, MOVE_LIMITS, moveCaughtUp, MOVED_SUBJECT, MoveErrors, movedFrom, placementFor, planCancelMove, planMove } from "./moves.ts";
import { decodeOrigin, encodeOrigin, ORIGIN_SUBJECT, OriginNotes } from "./origin.ts";
import { StreamReplica } from "./stream_replica.ts";
import { consumerMoved, ConsumerGroups } from "./consumer_groups.ts";
import { stepDownBodyError, unknownStreamStepDown } from "./not_clustered.ts";
import { OpsErrors, parsePeerRemove, parseServerRemove, planPeerRemove, reconcileMembership } from "./peer_remove.ts";
import { planReplicaChange } from "./replicas.ts";
import { handOffLeaderships, handOverTarget, stayFollower } from "./lame_duck.ts";
import { decodeSyncBatch, encodeSyncBatch } from "./entries.ts";
import { peerToken, type RouteTransport, routeTransport } from "./transport.ts";
import { decodeForward, encodeForward, FORWARD_PREFIX, RepeatFilter } from "./forward.ts";
import { ApiPassOn, FORWARD_API_PREFIX } from "./api_pass_on.ts";
import { ANSWER_BACK_PREFIX, AnswerBack, publishAnswerBack } from "./answer_back.ts";
import { UnheardWaits, voterUnheard } from "./unheard_wait.ts";
import { ReplicatedFeeds } from "./mirror_replica.ts";
import { sourceCycle } from "../cycles.ts";
import type { ExternalFeed } from "../external.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const T = "io.nats.jetstream.api.v1.";
const META_GROUP = "_meta_";
/** The "account" a passed-on system-account CANCEL_MOVE carries (no account is named ""): `#cancelMove` takes it. */
const SYS_REQUEST = "";
const CANCEL_MOVE_PREFIX = CANCEL_MOVE_SUBJECT.slice(0, -3);
const HELLO = "$JSC.HELLO";
/**
 * `$JSC.SYNC.<group>.<server>`: a replica catching up asks one other replica for messages; the answers come on
 * `$JSC.SYNCR.<server>`.
 */
const SYNC = "$JSC.SYNC.";
const SYNC_REPLY = "$JSC.SYNCR.";
/** A replayed assignment older than this does not answer its request again. */
const FRESH_MS = 10_000;
/**
 * A stream group compacts its log at most this often (unless far behind): each compaction makes the stream's
 * store and the snapshot durable (fsyncs), which under a fast publisher would otherwise run several times a second.
 */
const COMPACT_INTERVAL_MS = 1_000;
/** How long account info waits for the stream leaders' usage (clients ask it on connect, with short timeouts). */
const ACCOUNT_INFO_WAIT_MS = 300;
/** A moving stream's leader asks the leaders of its consumers hosted elsewhere at most this often, and waits this long. */
const MOVE_ASK_MS = 500;
/** A peer not heard from for this long is offline. */
const OFFLINE_MS = 6_000;
/** Without the expected number of peers, bootstrap once everyone seen agrees for this long. */
const SETTLE_MS = 1_500;
/** A leader leaving its group that still leads after this long takes up the publishes it held again. */
const HANDOVER_MS = 3_000;
/** A leader whose transfer ended this long ago and still leads takes its held publishes up again. */
const TRANSFER_GRACE_MS = 100;
/**
 * Superclusters where some clusters run no JetStream: their servers never say hello, so a majority of all the
 * configured servers may never be seen. A majority of this cluster's own servers that stayed the same for this
 * long founds the group then (long enough for the gateways of a JetStream supercluster to have come up).
 */
const SUPER_SETTLE_MS = 6_000;
/** A replica taken out of its stream's peers is dropped at the latest this long after (if the group never told it). */
const LEAVE_MS = 5_000;

type Json = Record<string, unknown>;

export interface ClusterOptions {
  /** This server's JetStream engines by account (every JetStream-enabled account is replicated). */
  readonly engines: ReadonlyMap<string, JetStream>;
  readonly serverName: string;
  readonly clusterName: string;
  readonly tags?: readonly string[];
  /** Carries Raft batches and peer discovery (the system account's internal client once accounts land). */
  readonly sysBus: JsBus;
  readonly openStorage: (group: string) => RaftStorage;
  readonly dropStorage: (group: string) => void;
  /** The meta group's founding members once decided (persisted so a restart does not decide again). */
  readonly loadMetaPeers: () => string[] | undefined;
  readonly saveMetaPeers: (peers: string[]) => void;
  readonly random: Random;
  readonly now?: () => number;
  readonly tickMs?: number;
  /** How many JetStream servers the configuration names (routes + this one): bootstrap as soon as all are seen. */
  readonly expectedPeers?: number;
  /** Of those, how many are in this cluster (routes + this one); the rest are other clusters' (gateways). */
  readonly clusterPeers?: number;
  /** The names of the servers this one has a route to now (founding the meta group waits for their hellos). */
  readonly routedServers?: () => readonly string[];
  /** The server's log: stream leader changes and lost quorums, as nats-server logs them. */
  readonly logger?: Logger;
}

interface Hello {
  name: string;
  cluster: string;
  tags: string[];
  seen: string[];
  /** The meta group's voters as this server knows them (empty before it joined one). */
  meta: string[];
}

interface KnownPeer {
  hello: Hello;
  lastSeen: number;
}

export class JetStreamCluster {
  readonly host: RaftHost;
  readonly meta = new MetaState();
  readonly replicas = new Map<string, StreamReplica>();
  metaGroup: RaftGroup | undefined;
  /** The consumers of this server's stream replicas, each a Raft group of its own. */
  /** Per account: the consumers of this server's stream replicas, each a Raft group of its own. */
  readonly consumers = new Map<string, ConsumerGroups>();
  /** Per account: its stream replicas on this server by stream name (what its ConsumerGroups sees). */
  readonly #byAccount = new Map<string, Map<string, StreamReplica>>();
  #started = false;
  readonly #o: ClusterOptions;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #peers = new Map<string, KnownPeer>();
  /** Routed servers not heard from yet (their names), and since when (see #maybeBootstrap). */
  #unheardKey = "";
  #unheardSince = 0;
  #transport: RouteTransport;
  /**
   * The groups' tick: a light interval (on Deno a runtime setInterval loads Node's timer layer for good, +2-3 MB at
   * every clustered JetStream server's start). It does not keep the process alive: the server's listeners do.
   */
  #timer: Timer | undefined;
  #sids: number[] = [];
  #lastHello = 0;
  #seenKey = "";
  #seenSince = 0;
  #answered = new Set<string>();
  #stopped = false;
  /** Replicas of this server that a peer change took out, with when: closed once the group let them go. */
  #leaving = new Map<string, number>();
  /** Lame-duck mode (SIGUSR2): groups that elect this server are handed on again (group id → last asked). */
  #lameDuck: Map<string, number> | undefined;
  /** Superclusters: the cluster each stream create came from (origin.ts). */
  readonly #origins = new OriginNotes();
  readonly #unheardWaits = new UnheardWaits();
  /** When this server became the meta leader, as far as it noticed (0: it does not lead); see voterUnheard. */
  #metaLeaderSince = 0;
  /** Stream leaderships being handed over because this server leaves the group (`#handOver`). */
  readonly #handovers = new Map<string, { since: number; asked: number }>();
  /** Stream groups whose move this server (their leader) reported done, with when. */
  readonly #movedSaid = new Map<string, number>();
  /** Per moving stream's group: when its consumers' leaders were last answered (-1: asked, not answered yet). */
  readonly #moveAsks = new Map<string, number>();
  /** Moving streams (by group) held by a consumer without a leader: since when, continuously (MOVE_LIMITS). */
  readonly #moveStuck = new Map<string, number>();
  /** Per account: the mirror and source feeds of the streams this server leads. */
  readonly #feeds = new Map<string, ReplicatedFeeds>();
  /** Stream infos from their leaders (stream list and account info on the meta leader). */
  #infoQueries: InfoQueries;
  /** Since when the meta group (`META_GROUP`) and each stream replica (its key) have had no leader. */
  readonly #leaderless = new LeaderlessSince();
  /** Stream replicas (keys) not listening on their subjects while their group has no leader. */
  readonly #deaf = new Set<string>();
  /**
   * The meta group's API requests while its leadership moves, as a stream's (api_pass_on.ts): a request the meta
   * leader could not propose (its leadership being transferred: Raft refuses proposals meanwhile), or that reached
   * it a moment after it stopped leading, goes to the new leader once known, or is taken here if the transfer
   * fails. nats-server's old leader appends such a proposal and loses it (the client times out); answering
   * "unavailable" at once instead was wrong when the new leader, already leading, took the same request
   * directly (a create answered 503 that happened). The new leader takes one copy (`#metaRepeats`), of those its
   * engine answers too (a stream nobody has: "not found", which it answered twice, `#metaRepeat`).
   */
  readonly #metaPassOn = new ApiPassOn((_key, leader, m) => {
    const acc = this.#metaAccounts.get(m);
    if (acc !== undefined) this.#o.sysBus.publish(`${FORWARD_API_PREFIX}${peerToken(leader)}`, encodeForward(acc, "", m, this.self));
  }, (_key, m) => {
    const acc = this.#metaAccounts.get(m);
    if (acc !== undefined) this.#takeApiRequest(acc, m);
  });
  /** The account of each meta request `#metaPassOn` holds. */
  readonly #metaAccounts = new WeakMap<BusMsg, string>();
  /** A new meta leader's first seconds: a request that came both directly and passed on is taken once. */
  readonly #metaRepeats = new RepeatFilter();
  /** A stream's API requests while its leadership moves (api_pass_on.ts). */
  readonly #apiPassOn = new ApiPassOn((key, leader, m) => {
    const a = this.meta.streams.get(key);
    if (a) this.#o.sysBus.publish(`${FORWARD_API_PREFIX}${peerToken(leader)}`, encodeForward(accountOf(a), a.name, m, this.self));
  }, (key, m) => {
    const a = this.meta.streams.get(key);
    if (a) this.#engineOf(accountOf(a))?.apiRequest(m);
  });
  /** Answers to passed-on API requests whose reply nobody here listens to (answer_back.ts). */
  readonly #answerBack = new AnswerBack({
    busOf: (account) => this.#engineOf(account)?.bus,
    sendTo: (origin, wire) => this.#o.sysBus.publish(`${ANSWER_BACK_PREFIX}${peerToken(origin)}`, wire),
  });
  /** The last leader each stream replica knew (the one that reports a lost quorum). */
  readonly #lastLeader = new Map<string, string>();

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#log = o.logger;
    this.#transport = routeTransport(o.sysBus, o.serverName, (b) => this.host.receive(b));
    this.host = new RaftHost({ id: o.serverName, transport: this.#transport, random: o.random, deferApply: afterWrites });
    this.#infoQueries = new InfoQueries({
      bus: o.sysBus,
      self: o.serverName,
      serve: (token) => {
        for (const [key, r] of this.replicas) {
          if (peerToken(r.group.id) !== token || !r.isLeader() || !r.ready) continue;
          const engine = this.#engineOf(accountOfKey(key));
          return engine ? streamInfo(engine, r.stream) : undefined;
        }
        // A consumer group's leader: its voters, for a moving stream's leader (#moveGate). A stream group's token
        // (`S-...`, asked for every stream of a list) is no consumer's: not looked for among them.
        if (token.startsWith("S-")) return undefined;
        for (const cg of this.consumers.values()) {
          const voters = cg.votersIfLeading(token);
          if (voters) return { voters };
        }
        return undefined;
      },
    });
  }

  get self(): PeerId {
    return this.#o.serverName;
  }

  /** The engine of `account` on this server (undefined: the account has no JetStream here). */
  #engineOf(account: string): JetStream | undefined {
    return this.#o.engines.get(account);
  }

  /** What the engine of `account` plugs in as its `cluster`: every call carries the account. */
  forAccount(account: string): EngineCluster {
    const key = (s: Stream) => streamKey(account, s.name);
    const cg = this.#consumersOf(account);
    const feeds = this.#feedsOf(account);
    return {
      api: (m) => this.#api(account, m),
      publish: (s, m) => {
        const r = this.replicas.get(key(s));
        r?.publish(m);
      },
      consumerChanged: (c) => cg.changed(c),
      consumerDeleted: (c) => cg.deleted(c),
      answerCreate: (c, m, answer) => cg.answerCreate(c, m, answer),
      consumerUpdate: (c, cfg) => cg.update(c, cfg),
      deleteOnCommit: (c, answer) => cg.deleteOnCommit(c, answer),
      consumerState: (c) => cg.state(c),
      ackReply: (c, reply) => cg.ackReply(c, reply),
      consumerCluster: (c) => cg.cluster(c),
      feedOf: (stream, origin) => feeds.feedOf(stream, origin),
      jszCluster: (s) => this.#jszCluster(account, s),
      hostedConsumers: (s) => cg.hosted(s.name),
      consumerCount: (s) => cg.count(s.name),
      streamCluster: (s) => this.#streamCluster(account, s),
      announces: (s) => {
        const r = this.replicas.get(key(s));
        return r !== undefined && r.group !== undefined && (r.isLeader() || r.handingOff);
      },
    };
  }

  /**
   * The stream's subjects are announced to the other servers by its leader only (and by a leader handing over,
   * until the successor leads), as with nats-server: a publish crosses one route, to the leader, instead of
   * reaching every replica. Called when this server's replica starts or stops leading.
   */
  #recapture(key: string): void {
    const r = this.replicas.get(key);
    if (!r) return;
    this.#engineOf(accountOfKey(key))?.setCapturing(r.stream, !this.#deaf.has(key));
  }

  /**
   * On a stream's leader, as it takes a publish: the account's storage limit, counting each replica (nats-server's
   * 10002), when it refuses `m` (the replica answers it, on the reply it answers the publish on).
   */
  #overAccountLimit(account: string, s: Stream, m: BusMsg): ApiError | undefined {
    const engine = this.#engineOf(account);
    if (!engine) return undefined;
    const memory = s.cfg.storage === "memory";
    if ((memory ? engine.limits.max_memory : engine.limits.max_storage) < 0) return undefined;
    let used = 0;
    for (const st of engine.streams.values()) {
      if ((st.cfg.storage === "memory") !== memory) continue;
      used += st.storedBytes * (this.meta.streams.get(streamKey(account, st.name))?.peers.length ?? 1);
    }
    const hdr = m.headers && m.headers.length > 0 ? m.headers.length : 0;
    const size = storedSize(m.subject.length, hdr, m.payload.length, !memory);
    return checkClusteredStore(engine.limits, used, size, s.cfg.num_replicas, memory);
  }

  /** The mirror/source feeds of `account`'s streams this server leads (made with the account's engine). */
  #feedsOf(account: string): ReplicatedFeeds {
    let f = this.#feeds.get(account);
    if (f) return f;
    const engine = this.#engineOf(account);
    if (!engine) throw new Error(`jetstream cluster: no engine for account ${account}`);
    f = new ReplicatedFeeds({ engine, clock: engine.clock, now: this.#now });
    this.#feeds.set(account, f);
    return f;
  }

  #accountReplicas(account: string): Map<string, StreamReplica> {
    let m = this.#byAccount.get(account);
    if (!m) this.#byAccount.set(account, m = new Map());
    return m;
  }

  /** The consumer groups of `account` (made on first use; one set per account, as names are per account). */
  #consumersOf(account: string): ConsumerGroups {
    let cg = this.consumers.get(account);
    if (cg) return cg;
    const engine = this.#engineOf(account);
    if (!engine) throw new Error(`jetstream cluster: no engine for account ${account}`);
    const o = this.#o;
    cg = new ConsumerGroups({
      engine,
      host: this.host,
      self: o.serverName,
      clusterName: o.clusterName,
      sysBus: o.sysBus,
      random: o.random,
      now: this.#now,
      openStorage: o.openStorage,
      dropStorage: o.dropStorage,
      replicas: this.#accountReplicas(account),
      assignment: (name) => this.meta.streams.get(streamKey(account, name)),
      stepDown: (g) => this.#stepDown(g),
      online: (p) => this.#online(p),
      activeNs: (p) => this.#activeNs(p),
      respond: (reply, body) => this.#respond(account, reply, body),
      passOn: (stream, m) => this.#passOnApi(account, stream, m),
    });
    this.consumers.set(account, cg);
    if (this.#started) cg.start();
    return cg;
  }

  start(): void {
    const bus = this.#o.sysBus;
    this.#sids.push(bus.subscribe(HELLO, (m) => this.#onHello(m)));
    this.#sids.push(bus.subscribe(MOVED_SUBJECT, (m) => this.#onMoved(m)));
    this.#sids.push(bus.subscribe(CANCEL_MOVE_SUBJECT, (m) => this.#cancelMove(m)));
    this.#sids.push(bus.subscribe(ORIGIN_SUBJECT, (m) => {
      const n = decodeOrigin(m.payload);
      if (n) this.#origins.note(n, this.#now());
    }));
    this.#sids.push(bus.subscribe(`${SYNC}*.${peerToken(this.self)}`, (m) => this.#onSyncRequest(m)));
    this.#sids.push(bus.subscribe(`${FORWARD_PREFIX}${peerToken(this.self)}`, (m) => this.#onForwarded(m)));
    this.#sids.push(bus.subscribe(`${FORWARD_API_PREFIX}${peerToken(this.self)}`, (m) => {
      const f = decodeForward(m.payload);
      if (f) this.#takeApiRequest(f.account, f.msg);
    }));
    this.#sids.push(bus.subscribe(`${ANSWER_BACK_PREFIX}${peerToken(this.self)}`, (m) => {
      publishAnswerBack(m.payload, (account) => this.#engineOf(account)?.bus);
    }));
    this.#sids.push(bus.subscribe(`${SYNC_REPLY}${peerToken(this.self)}`, (m) => {
      const b = decodeSyncBatch(m.payload);
      if (b instanceof Error) return;
      for (const r of this.replicas.values()) if (r.group.id === b.group) r.onSyncBatch(b);
    }));
    this.#started = true;
    for (const cg of this.consumers.values()) cg.start();
    this.#infoQueries.start();
    const stored = this.#o.loadMetaPeers();
    if (stored !== undefined) this.#startMeta(stored);
    this.#sayHello();
    this.#timer = lightInterval(this.#o.tickMs ?? 50, () => this.#tick());
  }

  /**
   * Before stopping: hand the leadership of every group this server leads to a caught-up peer (bounded by
   * `budgetMs`); resolves to how many it still leads.
   */
  handOff(budgetMs = 3_000): Promise<number> {
    if (this.#stopped) return Promise.resolve(0);
    // The consumers' latest states go into the log first: the successor resumes from them.
    for (const e of this.#o.engines.values()) e.flushConsumers();
    for (const cg of this.consumers.values()) cg.flushAll();
    for (const r of this.replicas.values()) r.flushNow();
    for (const r of this.replicas.values()) if (r.isLeader() && r.group.node.membership().voters.length > 1) r.handingOff = true;
    const groups = () => {
      const out = [...this.replicas.values()].map((r) => r.group);
      for (const cg of this.consumers.values()) out.push(...cg.groups());
      if (this.metaGroup) out.push(this.metaGroup);
      return out;
    };
    const inFlight = () => {
      let n = 0;
      for (const r of this.replicas.values()) n += r.inFlight;
      return n;
    };
    return handOffLeaderships(groups, (g) => this.#stepDown(g), budgetMs, inFlight, this.#now);
  }

  /**
   * Lame-duck mode (SIGUSR2): hand every leadership over now, before the clients are drained, and stay a
   * follower until the server stops.
   */
  lameDuck(budgetMs = 3_000): Promise<number> {
    this.#lameDuck ??= new Map();
    return this.handOff(budgetMs);
  }

  #groups(): RaftGroup[] {
    const out = [...this.replicas.values()].map((r) => r.group);
    if (this.metaGroup) out.push(this.metaGroup);
    return out;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    for (const sid of this.#sids) this.#o.sysBus.unsubscribe(sid);
    for (const f of this.#feeds.values()) f.close();
    this.#infoQueries.stop();
    // What the leaders still hold goes out first: consumer states, then one last flush to the peers.
    for (const e of this.#o.engines.values()) e.flushConsumers();
    for (const cg of this.consumers.values()) cg.flushAll();
    for (const r of this.replicas.values()) r.flushNow();
    this.host.flush();
    this.host.drainApplies();
    for (const cg of this.consumers.values()) cg.stop();
    for (const r of this.replicas.values()) r.close();
    for (const g of [...this.host.groups.keys()]) this.host.removeGroup(g);
    this.#answerBack.close();
    this.#transport.close();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.host.tick();
    // A meta leadership transfer that did not happen: what it held is taken up here again.
    if (this.metaGroup?.isLeader() && !this.metaGroup.node.transferring) this.#metaPassOn.ready(META_GROUP, this.#now());
    // Requests kept past their clients' patience are dropped, not run late (api_pass_on.ts MAX_HELD_MS).
    this.#metaPassOn.expire(this.#now());
    this.#apiPassOn.expire(this.#now());
    for (const [name, r] of this.replicas) {
      r.tick();
      const a = this.meta.streams.get(name);
      if (a && r.ready) reconcileMembership(r.group, a, this.self, () => this.#handOver(name, r));
      // Done when the stream's new servers hold its whole log and its consumers moved too.
      if (a?.moveTo && r.ready && moveCaughtUp(r.group, a.moveTo)) this.#moveGate(name, a);
      // No move, or no longer its leader: a hold counted before does not count on (a log behind by an entry under
      // a steady publisher only skips the gate for a tick: the count goes on).
      else if (a !== undefined && this.#moveStuck.size > 0 && (!a.moveTo || !r.isLeader())) this.#moveStuck.delete(a.group);
    }
    for (const cg of this.consumers.values()) cg.tick();
    const at = this.#now();
    this.#leaderless.note(META_GROUP, this.metaGroup !== undefined && this.metaGroup.leader !== null, at);
    for (const [key, r] of this.replicas) {
      this.#leaderless.note(key, r.group.leader !== null, at);
      // Without a leader for a while (no quorum) the stream stops listening on its subjects: a publish finds
      // no responders, as nats-server shows it; with a leader again every replica listens again.
      if (r.group.leader !== null) this.#lastLeader.set(key, r.group.leader);
      const off = this.#leaderless.unavailableAsOfTicks(key);
      if (off !== this.#deaf.has(key)) {
        const engine = this.#engineOf(accountOfKey(key));
        engine?.setCapturing(r.stream, !off);
        if (off) this.#deaf.add(key);
        else this.#deaf.delete(key);
        // As nats-server says it; a publish finds no responders meanwhile (clients read "jetstream is not enabled").
        if (off) this.#log?.warn(`JetStream cluster stream '${accountOfKey(key)} > ${r.stream.name}' has NO quorum, stalled`);
        else this.#log?.info(`JetStream cluster stream '${accountOfKey(key)} > ${r.stream.name}' has a leader again, taking publishes`);
        // The last leader, leaderless since, says its stream lost its quorum (nats-server's stream_quorum_lost).
        if (off && this.#lastLeader.get(key) === this.self) {
          const replicas = this.#streamCluster(accountOfKey(key), r.stream).replicas;
          engine?.advisories.streamQuorumLost(r.stream.name, Array.isArray(replicas) ? replicas : []);
        }
      }
    }
    this.#answerBack.sweep(at);
    for (const [acc, f] of this.#feeds) f.tick(this.#accountReplicas(acc));
    const now = this.#now();
    this.#origins.sweep(now);
    this.#unheardWaits.sweep(now);
    this.#leadingSince(now);
    this.#expireHandovers(now);
    if (this.#lameDuck) stayFollower(this.#groups(), (g) => this.#stepDown(g), this.#lameDuck, now);
    for (const [name, since] of this.#leaving) {
      const r = this.replicas.get(name);
      const a = this.meta.streams.get(name);
      if (!r || !a || a.peers.includes(this.self)) {
        this.#leaving.delete(name);
        continue;
      }
      if (!r.group.node.isVoter() || now - since > LEAVE_MS) {
        this.#leaving.delete(name);
        this.#closeReplica(name, true);
      }
    }
    if (now - this.#lastHello >= (this.metaGroup && !this.#voterUnheard() ? 2_000 : 250)) this.#sayHello();
    if (!this.metaGroup) this.#maybeBootstrap(now);
    else this.#growMeta();
  }

  /** Another replica catches up after a snapshot: a replica that has the range answers. */
  #onSyncRequest(m: BusMsg): void {
    const group = m.subject.slice(SYNC.length, m.subject.lastIndexOf("."));
    let req: { from?: unknown; to?: unknown; index?: unknown };
    try {
      req = JSON.parse(dec.decode(m.payload)) as { from?: unknown; to?: unknown; index?: unknown };
    } catch {
      return;
    }
    if (typeof req.from !== "number" || typeof req.to !== "number" || typeof req.index !== "number" || !m.reply) return;
    for (const r of this.replicas.values()) {
      if (r.group.id !== group) continue;
      const b = r.serveSync(req.from, req.to, req.index);
      if (b) this.#o.sysBus.publish(m.reply, encodeSyncBatch(b));
    }
  }

  // ---- peers and the meta group ----

  #sayHello(): void {
    this.#lastHello = this.#now();
    const hello: Hello = {
      name: this.self,
      cluster: this.#o.clusterName,
      tags: [...(this.#o.tags ?? [])],
      seen: this.#seen(),
      meta: this.metaGroup ? [...this.metaGroup.node.membership().voters] : [],
    };
    this.#o.sysBus.publish(HELLO, enc.encode(JSON.stringify(hello)));
  }

  /** A meta voter not heard from since this server started or became meta leader: say hello often until it answers. */
  #voterUnheard(): boolean {
    const voters = this.metaGroup?.node.membership().voters ?? [];
    const now = this.#now();
    return voterUnheard(voters, this.self, (n) => this.#peers.get(n)?.lastSeen, now, this.#leadingSince(now), OFFLINE_MS);
  }

  #leadingSince(now: number): number {
    if (!this.isMetaLeader()) return (this.#metaLeaderSince = 0);
    if (this.#metaLeaderSince === 0) this.#metaLeaderSince = now;
    return this.#metaLeaderSince;
  }

  #seen(): string[] {
    const now = this.#now();
    const names = [this.self];
    for (const [name, p] of this.#peers) if (now - p.lastSeen < OFFLINE_MS) names.push(name);
    return names.sort();
  }

  #onHello(m: BusMsg): void {
    let h: Hello;
    try {
      h = JSON.parse(dec.decode(m.payload)) as Hello;
    } catch {
      return;
    }
    if (typeof h?.name !== "string" || h.name === this.self || !Array.isArray(h.seen) || !Array.isArray(h.meta)) return;
    const before = this.#peers.get(h.name);
    const isNew = before === undefined;
    const wasOffline = before !== undefined && this.#now() - before.lastSeen >= OFFLINE_MS;
    this.#peers.set(h.name, { hello: h, lastSeen: this.#now() });
    // A sender that does not list us (it just restarted, or its route to us is new) hears from us at once rather
    // than at our next periodic hello: until then it counts us offline and, leading the meta group, would place
    // nothing on us ("no suitable peers for placement" right after a restart and a step-down).
    if (isNew || !h.seen.includes(this.self)) this.#sayHello();
    if (isNew || wasOffline) this.#unheardWaits.heard();
    this.#growMeta();
  }

  /**
   * The meta leader brings JetStream servers that are not members yet into the group, one change at a time:
   * those it hears, and those its members hear (a server it has no route to yet). On each hello and each tick:
   * tried only as a hello came, an add refused because the one before was not committed yet (or because this
   * server did not lead yet) waited for that server's next periodic hello, 2 s on — a cluster of three gathered
   * in 4.2-4.8 s on a quiet machine (two adds, each at a hello), dashboard/browser's 30 s under load.
   */
  #growMeta(): void {
    const g = this.metaGroup;
    if (!g || !g.isLeader()) return;
    const voters = g.node.membership().voters;
    const now = this.#now();
    for (const [name, p] of this.#peers) {
      if (now - p.lastSeen >= OFFLINE_MS) continue;
      const missing = [name, ...p.hello.seen].find((n) => !voters.includes(n) && !this.meta.removedServers.has(n));
      if (missing !== undefined) {
        g.proposeMembership({ op: "addVoter", peer: missing });
        return;
      }
    }
  }

  #maybeBootstrap(now: number): void {
    // Someone already runs a meta group. If it was founded with us, start with the same founding members
    // (they are not in the log); otherwise start empty and let its leader add us (a logged change).
    for (const p of this.#peers.values()) {
      if (p.hello.meta.length > 0) {
        const founders = p.hello.meta.includes(this.self) ? [...p.hello.meta].sort() : [];
        this.#o.saveMetaPeers(founders);
        this.#startMeta(founders);
        return;
      }
    }
    const seen = this.#seen();
    const key = seen.join(",");
    if (key !== this.#seenKey) {
      this.#seenKey = key;
      this.#seenSince = now;
    }
    // The group is founded by one server: the lowest-named one anyone in view knows of, once it sees a
    // majority of the configured servers (all of them, or a majority that stayed the same for a while). Two
    // founders would each need a majority, and any two majorities share a server that knows the lower name.
    // A server routed to this one that has not said hello yet may run JetStream, or a meta group already: its
    // hello first (a server without JetStream never says one: the wait is bounded). The counts below are of the
    // routes each server was configured with, and a seed (no routes: one expected, itself) founds alone at once:
    // a server routed to it that heard another server first founded a second group with that one (two meta
    // groups under one name, for good: dashboard/browser's "a meta group of three" that never came, 2 of 6 runs
    // of a copy at load 17).
    const unheard = (this.#o.routedServers?.() ?? []).filter((n) => !this.#peers.has(n)).sort().join(",");
    if (unheard !== this.#unheardKey) {
      this.#unheardKey = unheard;
      this.#unheardSince = now;
    }
    if (unheard !== "" && now - this.#unheardSince < SETTLE_MS) return;
    const expected = this.#o.expectedPeers ?? 1;
    const own = this.#o.clusterPeers ?? expected;
    const settled = now - this.#seenSince;
    const superFallback = own < expected && seen.length >= Math.floor(own / 2) + 1 && settled >= SUPER_SETTLE_MS;
    if (seen.length < Math.floor(expected / 2) + 1 && !superFallback) return;
    if (seen.length < expected && now - this.#seenSince < SETTLE_MS) return;
    let lowest = this.self;
    for (const p of this.#peers.values()) {
      if (now - p.lastSeen >= OFFLINE_MS) continue;
      for (const n of [p.hello.name, ...p.hello.seen]) if (n < lowest) lowest = n;
    }
    if (lowest !== this.self) return;
    this.#o.saveMetaPeers(seen);
    this.#startMeta(seen);
  }

  #startMeta(voters: string[]): void {
    if (this.metaGroup) return;
    const g = this.host.addGroup({
      group: META_GROUP,
      storage: this.#o.openStorage(META_GROUP),
      initial: { voters, observers: [] },
      handlers: {
        apply: (e) => this.#applyMeta(e),
        restore: (s) => this.#restoreMeta(s),
        leaderChanged: (leader) => {
          if (leader !== null) this.#metaPassOn.leaderIs(META_GROUP, leader, this.self, this.#now());
        },
        roleChanged: (leading) => {
          if (leading) {
            this.#metaPassOn.startedLeading(META_GROUP);
            this.#metaRepeats.start(this.#now());
          } else this.#metaPassOn.stoppedLeading(META_GROUP, this.#now());
        },
      },
    });
    this.metaGroup = g;
    this.#sayHello();
  }

  isMetaLeader(): boolean {
    return this.metaGroup?.isLeader() ?? false;
  }

  #applyMeta(e: Entry): void {
    if (e.kind !== "cmd") return;
    const cmd = decodeMeta(e.data);
    if (cmd instanceof Error) throw new Error(`meta group: corrupted log entry ${e.index}: ${cmd.message}`);
    const change = this.meta.apply(cmd);
    this.#onMetaChange(change);
    // The assignments are small: keep them as the snapshot so a restart never replays a delete over a
    // later stream of the same name.
    this.metaGroup?.compact(e.index, this.meta.encode());
  }

  #restoreMeta(s: Snapshot): void {
    this.meta.restore(s.data);
    this.#reconcile();
  }

  #onMetaChange(c: MetaChange): void {
    switch (c.kind) {
      case "added":
        if (c.a.peers.includes(this.self)) this.#openReplica(c.a);
        return;
      case "updated": {
        const r = this.replicas.get(keyOf(c.a));
        const engine = this.#engineOf(accountOf(c.a));
        if (!r || !engine) return;
        engine.updateStream(r.stream, c.a.config);
        if (r.isLeader()) engine.advisories.streamAction(c.a.name, "update");
        if (c.reply && r.isLeader() && this.#fresh(c.ts)) {
          const body = { type: T + "stream_update_response", ...streamInfo(engine, r.stream) };
          if (c.sys) this.#o.sysBus.publish(c.reply, enc.encode(JSON.stringify(body)));
          else this.#respond(accountOf(c.a), c.reply, body);
        }
        return;
      }
      case "removed":
        if (this.replicas.has(keyOf(c.a))) this.#closeReplica(keyOf(c.a), true);
        if (this.isMetaLeader()) this.#engineOf(accountOf(c.a))?.advisories.streamAction(c.a.name, "delete");
        if (c.reply && this.isMetaLeader() && this.#fresh(c.ts)) {
          this.#respond(accountOf(c.a), c.reply, { type: T + "stream_delete_response", success: true });
        }
        return;
      case "peers": {
        const mine = c.a.peers.includes(this.self);
        // A replica taken out stays a member until the group has removed it (its vote may be needed to
        // commit the removal of another one), or until LEAVE_MS have passed.
        const key = keyOf(c.a);
        if (!mine && this.replicas.has(key)) this.#leaving.set(key, this.#now());
        else if (mine) {
          this.#leaving.delete(key);
          if (!this.replicas.has(key)) this.#openReplica(c.a);
        }
        return;
      }
      case "none":
        return;
    }
  }

  #fresh(ts: number): boolean {
    return this.#now() - ts < FRESH_MS;
  }

  /** After a snapshot: open what is assigned here, drop what no longer is. */
  #reconcile(): void {
    for (const [name, r] of this.replicas) {
      const a = this.meta.streams.get(name);
      if (!a || a.group !== r.group.id || !a.peers.includes(this.self)) this.#closeReplica(name, true);
    }
    for (const a of this.meta.streams.values()) {
      if (a.peers.includes(this.self) && !this.replicas.has(keyOf(a))) this.#openReplica(a);
    }
  }

  #openReplica(a: StreamAssignment): void {
    const engine = this.#engineOf(accountOf(a));
    // The account has no JetStream on this server (its configuration differs from the meta leader's).
    if (!engine) return;
    const key = keyOf(a);
    const s = engine.streams.get(a.name) ?? engine.createStream(structuredClone(a.config), a.created);
    const r = new StreamReplica(s, {
      engine,
      self: this.self,
      now: this.#now,
      onLeaderReady: (rep) => this.#leaderReady(key, rep),
      syncStore: () => s.sync(),
      syncStoreAsync: (done) => s.syncAsync(done),
      compactIntervalMs: COMPACT_INTERVAL_MS,
      consumersChanged: () => this.#consumersOf(accountOf(a)).reconcile(),
      consumerRemoved: (name, group) => this.#consumersOf(accountOf(a)).removedApplied(a.name, name, group),
      consumerAssigned: (name, config, group) => this.#consumersOf(accountOf(a)).assignedApplied(a.name, name, config, group),
      // From this server (the origin, unless it came passed on): the interest in the reply reached it first.
      forward: (leader, m) => this.#o.sysBus.publish(`${FORWARD_PREFIX}${peerToken(leader)}`, encodeForward(accountOf(a), a.name, m, this.self)),
      answerBack: (reply, origin) => this.#answerBack.replyFor(accountOf(a), reply, origin, this.#now()),
      refuse: (m) => this.#overAccountLimit(accountOf(a), s, m),
      requestSync: (group, from, to, index, attempt) => {
        // Ask the leader first, then (on retries) the other replicas in turn: the group's voters now, not the
        // peers it was created with (a peer removal or re-placement changed them since).
        const voters = r.group?.node.membership().voters ?? a.peers;
        const others = voters.filter((p) => p !== this.self);
        const leader = r.group?.leader;
        const target = leader && leader !== this.self && attempt % 2 === 0 ? leader : others[attempt % others.length];
        if (target === undefined) return;
        // Not from inside the delivery of the previous batch: publish once the route is done with it.
        queueMicrotask(() => {
          this.#o.sysBus.publish(`${SYNC}${group}.${peerToken(target)}`, enc.encode(JSON.stringify({ from, to, index })), {
            reply: `${SYNC_REPLY}${peerToken(this.self)}`,
          });
        });
      },
    });
    const storage = this.#o.openStorage(a.group);
    const fresh = storage.load().entries.length === 0;
    r.group = this.host.addGroup({
      group: a.group,
      storage,
      initial: { voters: [...(a.founders ?? a.peers)], observers: [] },
      handlers: {
        apply: (e) => r.apply(e),
        restore: (snap) => r.restore(snap),
        leaderChanged: (leader) => {
          // As nats-server logs it (by the new leader); the others' view at debug level.
          if (leader === this.self) this.#log?.info(`JetStream cluster new stream leader for '${accountOf(a)} > ${a.name}'`);
          else if (this.#log?.debugEnabled) this.#log.debug(`JetStream cluster stream '${accountOf(a)} > ${a.name}' leader: ${leader ?? "none"}`);
          r.leaderChanged(leader);
          if (leader !== null) this.#apiPassOn.leaderIs(key, leader, this.self, this.#now());
          if (leader === this.self && this.#handovers.delete(key) && !this.#lameDuck) {
            // Elected again after handing over (a step-down or move whose successor did not win): the publishes
            // held meanwhile are taken up here now, not after HANDOVER_MS (a move asks again on its next tick).
            r.cancelHandOff();
          }
          this.#recapture(key);
        },
        roleChanged: (leading) => {
          // From the moment it stops leading (before it knows who does): requests go on (api_pass_on.ts).
          if (leading) this.#apiPassOn.startedLeading(key);
          else this.#apiPassOn.stoppedLeading(key, this.#now());
          this.#recapture(key);
        },
      },
    });
    this.replicas.set(key, r);
    this.#accountReplicas(accountOf(a)).set(a.name, r);
    this.#recapture(key);
    // A new group's preferred first leader campaigns at once instead of waiting out an election timeout.
    if (fresh && a.peers[0] === this.self) {
      for (let i = 0; i < 40; i++) r.group.node.tick();
      this.host.markDirty(r.group);
    }
  }

  /** `key` is the stream's `keyOf` (the replicas map's key). */
  #closeReplica(key: string, drop: boolean): void {
    const r = this.replicas.get(key);
    if (!r) return;
    this.replicas.delete(key);
    this.#leaderless.forget(key);
    this.#deaf.delete(key);
    this.#apiPassOn.forget(key);
    this.#lastLeader.delete(key);
    this.#accountReplicas(accountOfKey(key)).delete(r.stream.name);
    r.close();
    this.#consumersOf(accountOfKey(key)).reconcile();
    const group = r.group.id;
    this.host.removeGroup(group);
    if (drop) {
      this.#o.dropStorage(group);
      const engine = this.#engineOf(accountOfKey(key));
      const s = engine?.streams.get(r.stream.name);
      if (engine && s) engine.deleteStream(s);
    }
  }

  /**
   * The stream's leader has applied its whole log: the first time, it announces the stream (once, not once per
   * replica) and answers the create request that made it.
   */
  #leaderReady(key: string, r: StreamReplica): void {
    const a = this.meta.streams.get(key);
    if (!a) return;
    this.#apiPassOn.ready(key, this.#now());
    const acc = accountOf(a);
    // Every election: the new leader says so (nats-server's stream_leader_elected), once, from the leader.
    const replicas = this.#streamCluster(acc, r.stream).replicas;
    this.#engineOf(acc)?.advisories.streamLeaderElected(a.name, this.self, Array.isArray(replicas) ? replicas : []);
    if (this.#answered.has(a.group)) return;
    this.#answered.add(a.group);
    const engine = this.#engineOf(accountOf(a));
    if (!engine || !this.#fresh(a.ts)) return;
    engine.advisories.streamAction(a.name, "create");
    const reply = a.reply;
    if (!reply) return;
    const answer = () => this.#respond(acc, reply, { type: T + "stream_create_response", ...streamInfo(engine, r.stream), did_create: true });
    // The answer may cross a gateway straight from here, ahead of the stream's subjects, which reach the other
    // cluster through whichever server of ours it dialed; or reach the requester through one server of this
    // cluster while the subjects' RS+ is still on its way to another, through which it publishes next (a loaded
    // server reads its routes late): either way the first publish found no one. Answered once every server read
    // the RS+ (bounded: a peer that does not answer is not waited for long).
    const spread = engine.bus.afterInterestSpread;
    if (spread === undefined) answer();
    else spread.call(engine.bus, answer, true);
  }

  /**
   * A publish another server passed on (forward.ts): taken as if it had come here directly. If this server does
   * not lead the stream (the sender's view of the leader was stale), the replica passes it on again or holds it
   * until a leader is known, as it does a publish that came here by a stale interest.
   */
  #onForwarded(m: BusMsg): void {
    const f = decodeForward(m.payload);
    if (!f) return;
    const r = this.replicas.get(streamKey(f.account, f.stream));
    // Not a replica of this stream (deleted meanwhile): nobody here can take it.
    r?.publish(f.msg);
  }

  /**
   * An API request this server took as the stream's leader and can no longer answer (a consumer create whose
   * assignment was lost with the leadership): to the leader now, taken here if this server leads again, or kept
   * until a leader is known (api_pass_on.ts).
   */
  #passOnApi(account: string, stream: string, m: BusMsg): void {
    const a = this.meta.streams.get(streamKey(account, stream));
    const r = a ? this.replicas.get(keyOf(a)) : undefined;
    if (!a || !r) return;
    const leader = r.group.leader;
    if (leader === this.self && r.ready) this.#engineOf(account)?.apiRequest(m);
    else if (leader !== null && leader !== this.self) this.#apiPassOn.forward(keyOf(a), leader, m);
    else this.#apiPassOn.hold(keyOf(a), m, this.#now());
  }

  /** An API answer on the account's bus (its subject space), counted in the account's API stats. */
  #respond(account: string, reply: string | undefined, body: Json): void {
    const engine = this.#engineOf(account);
    if (!engine) return;
    if ("error" in body) engine.apiStats.errors++;
    engine.apiStats.total++;
    if (reply) engine.bus.publish(reply, enc.encode(JSON.stringify(body)));
  }

  #fail(account: string, m: BusMsg, type: string, err: ApiError): void {
    this.#respond(account, m.reply, { type: T + type, error: err });
  }

  /** Proposes `cmds` to the meta log as one batch (all or none); false when the meta group takes none. */
  #proposeMeta(...cmds: MetaCmd[]): boolean {
    const g = this.metaGroup;
    if (!g) return false;
    return g.proposeBatch(cmds.map(encodeMeta)).ok;
  }

  /**
   * A client's meta request proposed, or answered "JetStream system temporarily unavailable" (503, 10008: the
   * client may retry) when the meta group takes no proposal — this server is not its leader any more, or its
   * leadership is being transferred (a step-down, a lame duck's hand-off: Raft refuses proposals until the
   * transfer ends either way). Such a request was dropped silently before, the client timing out. nats-server
   * answers the same 503 to creates racing a meta step-down (from the server that sees no leader), or times out
   * when its old leader appended the proposal and lost it; here nothing was appended, so the answer is certain.
   */
  #proposeFor(acc: string, m: BusMsg, ...cmds: MetaCmd[]): boolean {
    if (this.#proposeMeta(...cmds)) return true;
    if (this.metaGroup?.node.transferring === true) {
      // To the successor once it leads, or taken again here if the transfer fails (#metaPassOn).
      this.#holdForMetaLeader(acc, m);
    } else this.#unavailable(acc, m);
    return false;
  }

  /**
   * A meta request (of account `acc`, or `SYS_REQUEST`: the system account's CANCEL_MOVE): the meta leader runs
   * `fn` (one copy of a request that came both directly and passed on); a server that led the meta group until a
   * moment ago (or one it was passed to) passes it on to the leader, or keeps it until one is known. False when
   * this server does neither.
   */
  #metaRequest(acc: string, m: BusMsg, fn: () => void, passOn = true): boolean {
    const now = this.#now();
    if (this.isMetaLeader()) {
      if (!this.#metaRepeats.repeat(m, now)) fn();
      return true;
    }
    if (!passOn || !this.#metaPassOn.passesOn(META_GROUP, m, now)) return false;
    this.#metaAccounts.set(m, acc);
    const leader = this.metaGroup?.leader;
    if (leader !== undefined && leader !== null && leader !== this.self) this.#metaPassOn.forward(META_GROUP, leader, m);
    else this.#metaPassOn.hold(META_GROUP, m, now);
    return true;
  }

  /** Held for the meta leader while its leadership is transferred (`#proposeFor`'s refusal), to run there. */
  #holdForMetaLeader(acc: string, m: BusMsg): void {
    this.#metaAccounts.set(m, acc);
    this.#metaPassOn.hold(META_GROUP, m, this.#now());
  }

  // ---- the API of every account (each engine's `cluster` calls in with its account) ----

  /**
   * An API request of `acc`: true when the cluster layer took it (answered it, or it is another server's to
   * answer); false when this server leads the stream and its engine answers.
   */
  #api(acc: string, m: BusMsg): boolean {
    const op = m.subject.split(".").slice(2);
    const metaLeader = this.isMetaLeader();
    // Without a meta leader, one server (the lowest-named JetStream server in view) answers what the meta
    // leader would, as nats-server 2.9 does meanwhile: "JetStream system temporarily unavailable".
    const metaDown = (!this.metaGroup || this.metaGroup.leader === null) && this.#leaderless.unavailable(META_GROUP, this.#now());
    const meta = (fn: () => void, passOn = true): boolean => {
      if (!this.#metaRequest(acc, m, fn, passOn) && metaDown && this.#answersForLeaderless(this.#seen())) this.#unavailable(acc, m);
      return true;
    };
    const k = op.join(".");
    if (k === "INFO") return meta(() => this.#accountInfo(acc, m));
    if (k === "META.LEADER.STEPDOWN") {
      // Not passed on: it asks whoever leads when it arrives, and the next leader would step down as well.
      return meta(() => {
        const bad = stepDownBodyError(m.payload);
        if (bad) return this.#fail(acc, m, "meta_leader_stepdown_response", bad);
        this.#respond(acc, m.reply, { type: T + "meta_leader_stepdown_response", success: true });
        this.#stepDown(this.metaGroup!);
      }, false);
    }
    if (k === "SERVER.REMOVE") return meta(() => this.#serverRemove(acc, m));
    if (op[0] === "STREAM" && op[1] === "PEER" && op[2] === "REMOVE" && op.length === 4) {
      return meta(() => this.#peerRemove(acc, m, op[3]));
    }
    if (op[0] === "STREAM") {
      const verb = op[1];
      if (verb === "NAMES" || verb === "LIST") return meta(() => this.#streamList(acc, m, verb === "NAMES"));
      if ((verb === "CREATE" || verb === "UPDATE") && op.length === 3) {
        if (!metaLeader && verb === "CREATE" && m.local && m.reply && this.#clusters().length > 1) {
          // A client of this server asks: the meta leader places the stream in this cluster by default.
          this.#o.sysBus.publish(ORIGIN_SUBJECT, encodeOrigin({ reply: m.reply, cluster: this.#o.clusterName }));
        }
        return meta(() => this.#createFrom(acc, m, op[2], verb === "UPDATE"));
      }
      if (verb === "DELETE" && op.length === 3) return meta(() => this.#streamDelete(acc, m, op[2]));
    }
    const engine = this.#engineOf(acc);
    const stream = streamOf(op);
    const now = this.#now();
    // The meta leader's engine answers what nobody else owns: once, like any meta request (a server that led the
    // meta group until a moment ago passes its copy on, #metaRequest; both copies reach the new leader).
    if (stream === undefined) return metaLeader ? this.#metaRepeat(acc, m, now) : meta(() => {});
    const a = this.meta.streams.get(streamKey(acc, stream));
    // An unknown stream: the meta leader's engine does not have it either and answers "not found".
    if (!a) {
      if (!metaLeader) return meta(() => {});
      const known = engine?.streams.has(stream) ?? false;
      if (engine === undefined || known) return true;
      if (this.#metaRepeat(acc, m, now)) return true;
      // A step-down of a stream nobody has: the meta leader says so (the engine would not answer it).
      const stepDown = unknownStreamStepDown(op);
      if (stepDown) return this.#fail(acc, m, stepDown, Errors.streamNotFound()), true;
      return false;
    }
    const r = this.replicas.get(keyOf(a));
    // Consumer requests other than create/delete go to the consumer's own group, whatever its stream's state.
    const streamLed = op[0] !== "CONSUMER" || op[1] === "CREATE" || op[1] === "DURABLE" || op[1] === "DELETE";
    const rk = keyOf(a);
    if (r && r.group.leader === null && streamLed) {
      // This server led the stream until a moment ago: the next leader gets the request.
      if (this.#apiPassOn.passesOn(rk, m, now)) return this.#apiPassOn.hold(rk, m, now), true;
      // A stream without a leader (no quorum): one of its replicas answers (its info, else "unavailable").
      const long = this.#leaderless.unavailable(keyOf(a), this.#now());
      if (long && this.#answersForLeaderless(a.peers.filter((p) => this.#online(p)))) this.#leaderlessStream(acc, m, op, r);
      return true;
    }
    const cg = op[0] === "CONSUMER" ? this.#consumersOf(acc) : undefined;
    // A create or delete that names no consumer running here or assigned to the stream (a new one, a missing one)
    // is the stream leader's to answer: it goes a stream request's way below (kept for a leader not ready yet,
    // passed on by the old leader, one copy of two taken, answered back through its origin).
    if (cg !== undefined && !(streamLed && r !== undefined && cg.forStreamLeader(m, op, r))) {
      // One taken here already (passed on, then its direct copy) is not answered twice.
      if (streamLed && r?.isLeader() && r.ready && r.apiRepeats.repeat(m, now)) return true;
      return cg.api(m, op, r);
    }
    if (!r) return true;
    if (!r.isLeader() || !r.ready) {
      // A leader applying its log answers once ready; a server that just stopped leading passes it on.
      if (r.isLeader()) this.#apiPassOn.hold(rk, m, now);
      else if (r.group.leader !== null && this.#apiPassOn.passesOn(rk, m, now)) this.#apiPassOn.forward(rk, r.group.leader, m);
      return true;
    }
    if (r.apiRepeats.repeat(m, now)) return true;
    this.#answerBackReply(acc, m, now);
    if (cg !== undefined) return cg.api(m, op, r);
    if (op[0] === "STREAM" && op[1] === "LEADER" && op[2] === "STEPDOWN") {
      this.#respond(acc, m.reply, { type: T + "stream_leader_stepdown_response", success: true });
      // Publishes that come while the leadership moves wait for the successor (they were dropped).
      this.#handOver(keyOf(a), r);
      return true;
    }
    if (op[0] === "STREAM" && op[1] === "PURGE") return this.#purge(acc, m, r), true;
    if (op[0] === "STREAM" && op[1] === "MSG" && op[2] === "DELETE") return this.#msgDelete(acc, m, r), true;
    return false; // this server leads the stream: its engine answers
  }

  /**
   * The meta leader took `m` already (the second copy of a request that came both directly and passed on by the
   * previous meta leader): true, and it is not answered again. Otherwise a passed-on copy's reply is mapped for
   * the answer that follows here (`#answerBackReply`).
   */
  #metaRepeat(acc: string, m: BusMsg, now: number): boolean {
    if (this.#metaRepeats.repeat(m, now)) return true;
    this.#answerBackReply(acc, m, now);
    return false;
  }

  /**
   * A copy passed on ahead of the interest in its reply is answered back through its origin (answer_back.ts): its
   * reply is mapped for whoever answers it now, on this server (a passed-on copy is this call's own object).
   */
  #answerBackReply(acc: string, m: BusMsg, now: number): void {
    if (m.forwarded === true && m.reply !== undefined && m.origin !== undefined) m.reply = this.#answerBack.replyFor(acc, m.reply, m.origin, now);
  }

  /** This server is the one of `candidates` (server names) that answers for a missing leader. */
  #answersForLeaderless(candidates: readonly string[]): boolean {
    return designatedResponder(candidates, this.self) === this.self;
  }

  /** nats-server 2.9's answer while the meta group (or a stream) has no leader, in the request's shape. */
  #unavailable(acc: string, m: BusMsg): void {
    const body = unavailableResponse(m.subject);
    if (body) this.#respond(acc, m.reply, body);
  }

  /** A request for a stream without a leader: its info as this replica holds it, anything else "unavailable". */
  #leaderlessStream(acc: string, m: BusMsg, op: readonly string[], r: StreamReplica): void {
    const engine = this.#engineOf(acc);
    if (op[0] === "STREAM" && op[1] === "INFO" && op.length === 3 && engine) {
      this.#respond(acc, m.reply, { type: T + "stream_info_response", total: 0, offset: 0, limit: 0, ...streamInfo(engine, r.stream) });
      return;
    }
    this.#unavailable(acc, m);
  }

  #jszCluster(acc: string, s: Stream): Json {
    const r = this.replicas.get(streamKey(acc, s.name));
    const a = this.meta.streams.get(streamKey(acc, s.name));
    if (!r || !a) return { name: this.#o.clusterName };
    return clusterPicture({
      cluster: this.#clusterOf(a),
      self: this.self,
      leader: r.group.leader,
      peers: a.peers,
      progress: r.isLeader() ? r.group.node.progress() : undefined,
      lastIndex: r.group.node.log.lastIndex(),
      online: (n) => this.#online(n),
      activeNs: (n) => this.#activeNs(n),
      peerId: peerToken,
    });
  }

  #streamCluster(acc: string, s: Stream): Json {
    const r = this.replicas.get(streamKey(acc, s.name));
    const a = this.meta.streams.get(streamKey(acc, s.name));
    const out: Json = { name: this.#o.clusterName };
    if (!r || !a) return out;
    const leader = r.group.leader;
    if (leader) out.leader = leader;
    const progress = r.isLeader() ? r.group.node.progress() : new Map();
    const last = r.group.node.log.lastIndex();
    const replicas: Json[] = [];
    for (const p of a.peers) {
      if (p === leader) continue;
      const pr = progress.get(p);
      // On the leader, a peer without progress is not in the group yet (a replacement about to join).
      const lag = pr ? Math.max(0, last - pr.match) : r.isLeader() ? last : 0;
      const online = this.#online(p);
      const joined = !r.isLeader() || pr !== undefined;
      const d: Json = { name: p, current: online && joined && lag === 0 && leader !== null, active: this.#activeNs(p), lag };
      if (!online) d.offline = true;
      replicas.push(d);
    }
    if (replicas.length > 0) out.replicas = replicas;
    return out;
  }

  /**
   * Replicated assets on this server (`/jsz` `ha_assets`): the meta group and every group of more than one voter
   * (nats-server runs no Raft node for an R1 stream or consumer, so an R3 stream with an R3 consumer counts 3 on
   * each of its servers).
   */
  haAssets(): number {
    let n = 0;
    for (const g of this.host.groups.values()) if (g === this.metaGroup || g.node.membership().voters.length > 1) n++;
    return n;
  }

  #online(name: string): boolean {
    if (name === this.self) return true;
    const p = this.#peers.get(name);
    return p !== undefined && this.#now() - p.lastSeen < OFFLINE_MS;
  }

  #activeNs(name: string): number {
    if (name === this.self) return 0;
    const p = this.#peers.get(name);
    return p ? Math.max(0, this.#now() - p.lastSeen) * 1_000_000 : 0;
  }

  /**
   * What `/healthz` reports while this server is not ready (nats-server's wording), undefined when it is.
   * `js-enabled-only` only asks whether JetStream runs; `js-server-only` skips the streams.
   */
  healthProblem(q?: URLSearchParams): string | undefined {
    if (flag(q, "js-enabled-only") || flag(q, "js-enabled")) return undefined;
    if (!this.metaGroup || this.metaGroup.leader === null) {
      return "JetStream has not established contact with a meta leader";
    }
    // A leader this server has not heard from lately (it died; the term has not changed yet).
    const ml = this.metaGroup.leader;
    if (ml !== this.self && !this.#online(ml)) return "JetStream is not current with the meta leader";
    if (flag(q, "js-server-only") || flag(q, "js-meta-only")) return undefined;
    for (const [key, r] of this.replicas) {
      if (r.catchingUp || r.group.leader === null) return `JetStream stream '${accountOfKey(key)} > ${r.stream.name}' is not current`;
    }
    for (const [acc, cg] of this.consumers) {
      for (const c of cg.replicas.values()) {
        if (c.group.leader === null) return `JetStream consumer '${acc} > ${c.stream.name} > ${c.name}' is not current`;
      }
    }
    return undefined;
  }

  /** `/jsz` `meta_cluster`. */
  metaInfo(): Json {
    const g = this.metaGroup;
    const out: Json = { name: this.#o.clusterName, peer: peerToken(this.self), cluster_size: 0 };
    if (!g) return out;
    const voters = g.node.membership().voters;
    out.cluster_size = voters.length;
    if (g.leader) out.leader = g.leader;
    const progress = g.isLeader() ? g.node.progress() : new Map();
    const last = g.node.log.lastIndex();
    out.replicas = voters.filter((v) => v !== g.leader).map((v) => {
      const pr = progress.get(v);
      const online = this.#online(v);
      const d: Json = { name: v, current: online && (!pr || pr.match >= last), active: this.#activeNs(v) };
      if (!online) d.offline = true;
      return d;
    });
    return out;
  }

  /**
   * Hands `g`'s leadership to the most caught-up online voter (lame_duck.ts): a Raft transfer brings it up to date
   * and has it campaign at once. Only with no voter online does the leader just step down, leaving the group
   * leaderless for an election timeout (a starved machine stretches that to seconds). One transfer at a time: a
   * second target, asked while the first campaigns (lame duck asks from its hand-off and from its tick), would
   * campaign against it.
   * A voter this server has not had a hello from since it started (a restart: hellos come every 2 s) counts as
   * online when the group's own traffic shows it answering in this leadership (active, and it acked an entry):
   * otherwise a leader restarted a moment ago found nobody, stepped down without a successor and, as likely as
   * not, won the election again (jsraft/cluster's stream step-down right after a restart).
   */
  #stepDown(g: RaftGroup): void {
    if (g.node.transferring) return;
    const progress = g.node.progress();
    const answering = (p: string) => {
      const pr = progress.get(p);
      return !this.#peers.has(p) && pr !== undefined && pr.active && pr.match > 0;
    };
    const pick = handOverTarget(progress, (p) => p !== this.self && g.node.isVoter(p) && (this.#online(p) || answering(p)), this.#o.random);
    queueMicrotask(() => {
      if (pick !== undefined && g.transferLeadership(pick).ok) return;
      g.stepDown();
    });
  }

  // ---- the meta leader's API ----

  #peerInfos(): PeerInfo[] {
    const out: PeerInfo[] = [];
    const voters = this.metaGroup?.node.membership().voters ?? [];
    for (const v of voters) {
      if (v === this.self) {
        out.push({ name: v, cluster: this.#o.clusterName, tags: [...(this.#o.tags ?? [])], online: true });
        continue;
      }
      const p = this.#peers.get(v);
      out.push({ name: v, cluster: p?.hello.cluster ?? this.#o.clusterName, tags: p?.hello.tags ?? [], online: this.#online(v) });
    }
    return out;
  }

  /** The cluster a stream is placed in (older assignments did not record it: its first server's). */
  #clusterOf(a: StreamAssignment): string {
    if (a.cluster) return a.cluster;
    return this.#peerInfos().find((p) => p.name === a.peers[0])?.cluster ?? this.#o.clusterName;
  }

  /**
   * The stream leader is taken out of its group (a move, a peer removal, fewer replicas): publishes that come
   * while the leadership moves wait for the successor instead of being dropped (as on a graceful stop). Asked
   * again at most every 400 ms; given up after HANDOVER_MS if this server still leads (the held publishes are
   * then taken up here).
   */
  #handOver(name: string, r: StreamReplica): void {
    const now = this.#now();
    const h = this.#handovers.get(name);
    if (h && now - h.asked < 400) return;
    if (!r.handingOff) r.handingOff = true;
    this.#handovers.set(name, { since: h?.since ?? now, asked: now });
    this.#stepDown(r.group);
  }

  #expireHandovers(now: number): void {
    for (const [name, h] of this.#handovers) {
      const r = this.replicas.get(name);
      if (!r || !r.handingOff) this.#handovers.delete(name);
      // Still leading: the handover timed out, or its transfer ended without a successor (the target did not
      // win in time): the held publishes are taken up here (a move asks again on its next tick).
      else if (r.isLeader() && (now - h.since > HANDOVER_MS || (!r.group.node.transferring && now - h.asked > TRANSFER_GRACE_MS)) && !this.#lameDuck) {
        this.#handovers.delete(name);
        r.cancelHandOff();
      }
    }
  }

  /**
   * On the stream leader, once the servers a move goes to hold the stream's whole log: the move is done when its
   * consumers moved too. Those hosted here are seen here; the groups of those with no replica here are asked of
   * their leaders (the stream-info query, `$JSC.SI.<group>`), at most one ask per stream at a time and one per
   * MOVE_ASK_MS; one that does not answer (no leader) holds the move, as one without voters there does. A move
   * held by consumers without a leader for MOVE_LIMITS.giveUpMs is given up (#moveHeld).
   */
  #moveGate(key: string, a: StreamAssignment): void {
    const waits = this.#consumersOf(accountOf(a)).moveWaitsFor(a.name, a);
    if (waits.local) {
      this.#moveHeld(a, waits.leaderless);
      return;
    }
    if (waits.remote.length === 0) {
      this.#moveStuck.delete(a.group);
      this.#sayMoved(a);
      return;
    }
    const now = this.#now();
    const last = this.#moveAsks.get(a.group);
    if (last !== undefined && (last < 0 || now - last < MOVE_ASK_MS)) return;
    this.#moveAsks.set(a.group, -1);
    this.#infoQueries.gather(waits.remote, (w) => w.group, (w) => w.group, (answers) => {
      this.#moveAsks.set(a.group, this.#now());
      if (this.#stopped) return;
      const cur = this.meta.streams.get(key);
      const r = this.replicas.get(key);
      if (cur?.moveTo === undefined || cur.group !== a.group) this.#moveAsks.delete(a.group);
      if (cur?.moveTo === undefined || cur.group !== a.group || !r?.ready || !moveCaughtUp(r.group, cur.moveTo)) return;
      const moved = waits.remote.every((w) => {
        const voters = answers.get(w.group)?.voters;
        return Array.isArray(voters) && consumerMoved(voters.filter((v): v is string => typeof v === "string"), w);
      });
      if (moved) {
        this.#moveStuck.delete(a.group);
        this.#sayMoved(cur);
        return;
      }
      // Not answered: no leader (its servers down, or no quorum).
      this.#moveHeld(cur, waits.remote.filter((w) => !Array.isArray(answers.get(w.group)?.voters)).map((w) => w.name));
    }, MOVE_ASK_MS);
  }

  /**
   * A move held by consumers: those named have no leader. Held by leaderless ones for MOVE_LIMITS.giveUpMs without
   * a break, it is given up (moves.ts): the stream goes back to the servers it came from, which hold those
   * consumers' state. One whose group has a leader is only growing onto the new servers: waited for.
   */
  #moveHeld(a: StreamAssignment, leaderless: readonly string[]): void {
    if (leaderless.length === 0) {
      this.#moveStuck.delete(a.group);
      return;
    }
    const now = this.#now();
    const since = this.#moveStuck.get(a.group);
    if (since === undefined) {
      this.#moveStuck.set(a.group, now);
      return;
    }
    if (now - since < MOVE_LIMITS.giveUpMs) return;
    this.#sayMoved(a, leaderless);
  }

  /**
   * On the stream leader: the servers a move goes to hold everything (or, `cancel`, the move is given up: the
   * consumers named held it without a leader); tell the meta leader (at most once a second).
   */
  #sayMoved(a: StreamAssignment, cancel?: readonly string[]): void {
    const now = this.#now();
    const last = this.#movedSaid.get(a.group);
    if (last !== undefined && now - last < 1_000) return;
    this.#movedSaid.set(a.group, now);
    this.#o.sysBus.publish(MOVED_SUBJECT, enc.encode(JSON.stringify({ stream: a.name, group: a.group, ...(cancel ? { cancel } : {}) })));
  }

  /**
   * On the meta leader: a move's new servers caught up; the stream shrinks to them (the old ones leave). Or the
   * move was given up: the stream goes back to the servers it came from (the new ones leave), its placement
   * relaxed to fit them (moves.ts placementFor), which its update advisory and stream info then show.
   */
  #onMoved(m: BusMsg): void {
    if (!this.isMetaLeader()) return;
    const n = decodeMoved(m.payload);
    // By group: it is unique across accounts (a stream name is not).
    const a = n ? [...this.meta.streams.values()].find((x) => x.group === n.group) : undefined;
    if (!n || !a || a.name !== n.stream || !a.moveTo) return;
    if (n.cancel !== undefined) {
      const from = movedFrom(a);
      const config = placementFor(a.config, from, this.#peerInfos());
      // One batch: a config without its peers (or the reverse) is never committed alone. Not taken (a meta
      // leadership transfer): the stream leader says it again a second later (#sayMoved), and a cancel is retried.
      this.#proposeMeta(
        { op: "update", account: a.account, name: a.name, config, ts: this.#now() },
        { op: "peers", account: a.account, name: a.name, peers: from, cluster: a.cluster, ts: this.#now() },
      );
      return;
    }
    const to = a.moveTo;
    const cluster = this.#peerInfos().find((p) => p.name === to[0])?.cluster ?? a.cluster;
    this.#proposeMeta({ op: "peers", account: a.account, name: a.name, peers: to, cluster, ts: this.#now() });
  }

  /**
   * `$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.<account>.<stream>` from the system account, on the meta leader (the
   * others stay silent, as nats-server's do): the stream goes back to the servers it came from (moves.ts
   * planCancelMove), proposed as an update with its peers, and answered as an update is — the stream's info by its
   * leader once applied (`stream_update_response`), in the system account. Errors as nats-server's: an unknown
   * account (one with neither JetStream nor streams here), the stream not found, no move in progress.
   */
  #cancelMove(m: BusMsg): void {
    this.#metaRequest(SYS_REQUEST, m, () => this.#cancelMoveHere(m));
  }

  #cancelMoveHere(m: BusMsg): void {
    const [acc, name] = m.subject.split(".").slice(5);
    const answer = (body: Json) => m.reply && this.#o.sysBus.publish(m.reply, enc.encode(JSON.stringify({ type: T + "stream_update_response", ...body })));
    if (!this.#engineOf(acc) && [...this.meta.ofAccount(acc)].length === 0) return void answer({ error: MoveErrors.noAccount() });
    const a = this.meta.streams.get(streamKey(acc, name));
    if (!a) return void answer({ error: Errors.streamNotFound() });
    const plan = planCancelMove(a, this.#peerInfos());
    if (isErr(plan)) return void answer({ error: plan });
    this.#log?.info(`Requested cancel of move: R=${a.config.num_replicas} '${acc} > ${name}' to peer set [${a.peers.join(" ")}] and restore previous peer set [${plan.peers.join(" ")}]`);
    const ts = this.#now();
    // One batch, the servers first: the update's answer (the stream's info by its leader, which stays a member
    // until the group has removed it) then lists the servers the stream is back on, as nats-server's does.
    const ok = this.#proposeMeta(
      { op: "peers", account: a.account, name, peers: plan.peers, cluster: a.cluster, ts },
      { op: "update", account: a.account, name, config: plan.config, reply: m.reply, sys: true, ts },
    );
    // Refused while the meta leadership is transferred: to the successor, as the other meta requests (#proposeFor).
    if (ok) return;
    if (this.metaGroup?.node.transferring === true) this.#holdForMetaLeader(SYS_REQUEST, m);
    else answer({ error: Errors.clusterNotAvailable() });
  }

  /** An API request of account `acc` passed on or kept here: to its engine, or the system account's CANCEL_MOVE. */
  #takeApiRequest(acc: string, m: BusMsg): void {
    if (acc === SYS_REQUEST) {
      if (m.subject.startsWith(CANCEL_MOVE_PREFIX)) this.#cancelMove(m);
    } else this.#engineOf(acc)?.apiRequest(m);
  }

  /** The clusters of the meta group's servers, this server's first. */
  #clusters(): string[] {
    const out = new Set([this.#o.clusterName]);
    for (const p of this.#peerInfos()) out.add(p.cluster);
    return [...out];
  }

  /**
   * A create in a supercluster is placed, by default, in the cluster of the client's server: a request that
   * crossed a route or gateway waits (bounded) for that server's note first.
   */
  #createFrom(acc: string, m: BusMsg, name: string, update: boolean): void {
    if (update || m.local || !m.reply || this.#clusters().length === 1) {
      return this.#streamCreate(acc, m, name, update, this.#o.clusterName);
    }
    this.#origins.wait(m.reply, this.#now(), (cluster) => {
      // The meta leadership moved meanwhile: the new leader never saw the request.
      if (this.isMetaLeader()) this.#streamCreate(acc, m, name, false, cluster);
      else this.#unavailable(acc, m);
    });
  }

  #streamCreate(acc: string, m: BusMsg, name: string, update: boolean, origin?: string, lastTry = false): void {
    const type = update ? "stream_update_response" : "stream_create_response";
    const fail = (e: ApiError) => this.#fail(acc, m, type, e);
    const engine = this.#engineOf(acc);
    if (!engine) return;
    const req = parseBody(m);
    if (isErr(req)) return fail(req);
    const { streamConfigSchema, describeZodError } = jsSchemas();
    const parsed = streamConfigSchema.safeParse(req);
    if (!parsed.success) return fail(Errors.invalidJson(describeZodError(parsed.error)));
    const cfg = parsed.data;
    if (cfg.name !== name) return fail(Errors.streamMismatch());
    const err = checkStreamConfig(cfg, { clustered: true });
    if (err) return fail(err);
    if (sourceCycle(cfg, (n) => this.meta.streams.get(streamKey(acc, n))?.config)) return fail(Errors.streamInvalidConfig("detected cycle"));
    const mine = [...this.meta.ofAccount(acc)];
    // Subjects overlap only within an account: each has its own subject space.
    for (const other of mine) {
      if (other.name === name) continue;
      for (const x of other.config.subjects) {
        for (const y of cfg.subjects) if (subjectsIntersect(x, y)) return fail(Errors.streamSubjectOverlap());
      }
    }
    const key = streamKey(acc, name);
    const existing = this.meta.streams.get(key);
    const now = this.#now();
    const account = acc;
    if (update) {
      if (!existing) return fail(Errors.streamNotFound());
      const uerr = checkStreamUpdate(existing.config, cfg) ?? checkClusteredStreamLimits(engine.limits, mine, cfg, true);
      if (uerr) return fail(uerr);
      let peers: string[] | undefined;
      const move = planMove(existing, cfg, this.#clusterOf(existing), this.#peerInfos(), this.meta.load());
      if (isErr(move)) return fail(move);
      if (move.kind === "move") {
        // Old and new servers together until the new ones hold everything (moves.ts).
        const both = [...existing.peers, ...move.to.filter((p) => !existing.peers.includes(p))];
        this.#proposeFor(
          acc,
          m,
          { op: "update", account, name, config: cfg, reply: m.reply, ts: now },
          { op: "peers", account, name, peers: both, moveTo: move.to, cluster: existing.cluster, ts: now },
        );
        return;
      }
      if (!existing.moveTo && cfg.num_replicas !== existing.peers.length) {
        const plan = planReplicaChange(existing, cfg.num_replicas, this.replicas.get(key)?.group.leader ?? undefined, this.#peerInfos(), this.meta.load());
        if (isErr(plan)) return fail(plan);
        peers = plan;
      }
      const upd: MetaCmd = { op: "update", account, name, config: cfg, reply: m.reply, ts: now };
      this.#proposeFor(acc, m, upd, ...(peers ? [{ op: "peers", account, name, peers, ts: now } as const] : []));
      return;
    }
    if (existing) {
      if (JSON.stringify(existing.config) !== JSON.stringify(cfg)) return fail(Errors.streamNameExist());
      this.#gatherInfos([existing], (infos) => {
        this.#respond(acc, m.reply, { type: T + type, ...(infos.get(key) ?? this.#infoOf(existing)), did_create: false });
      });
      return;
    }
    const lerr = checkClusteredStreamLimits(engine.limits, mine, cfg, false);
    if (lerr) return fail(lerr);
    const placement = placementOf(cfg);
    const infos = this.#peerInfos();
    // nats-server: the named cluster; or the client's, then the others (its "alternates").
    const clusters = placement.cluster ? [placement.cluster] : [...new Set([origin ?? this.#o.clusterName, ...this.#clusters()])];
    let peers: string[] | null = null;
    let cluster = clusters[0];
    for (const c of clusters) {
      peers = placeReplicas(name, infos, { replicas: cfg.num_replicas, tags: placement.tags, cluster: c }, this.meta.load());
      cluster = c;
      if (peers) break;
    }
    if (!peers) {
      // Just restarted and leading before every voter's hello got through: wait for them (bounded), not fail.
      if (!lastTry && this.#voterUnheard()) {
        this.#unheardWaits.wait(now, (last) => {
          if (this.isMetaLeader()) this.#streamCreate(acc, m, name, update, origin, last);
          else this.#unavailable(acc, m);
        });
        return;
      }
      return fail(placementFailure(infos, { replicas: cfg.num_replicas, tags: placement.tags, cluster: clusters[0] }));
    }
    const id = Math.floor(this.#o.random() * 2 ** 32).toString(36);
    const a: StreamAssignment = {
      ...(acc === "$G" ? {} : { account: acc }),
      name,
      config: cfg,
      created: new Date(now).toISOString(),
      peers,
      group: `S-${peerToken(name)}-${id}`,
      reply: m.reply,
      ts: now,
      cluster,
    };
    this.#proposeFor(acc, m, { op: "stream", a });
  }

  /** Info of a stream from what this server knows: its replica, or else its assignment (no state). */
  #infoOf(a: StreamAssignment): Json {
    const engine = this.#engineOf(accountOf(a));
    const s = engine?.streams.get(a.name);
    if (engine && s) return streamInfo(engine, s);
    const ts = "0001-01-01T00:00:00Z";
    return {
      config: a.config,
      created: a.created,
      state: {
        messages: 0,
        bytes: 0,
        first_seq: 0,
        first_ts: ts,
        last_seq: 0,
        last_ts: ts,
        consumer_count: 0,
      },
      cluster: { name: a.cluster ?? this.#o.clusterName },
      ts: new Date(this.#now()).toISOString(),
    };
  }

  /**
   * The infos of `list` as their stream leaders hold them (the meta leader is not every stream's leader):
   * this server's own leaderships locally, the others asked over the system account; `done` gets what
   * arrived (by `keyOf`) once all answered or the wait is over.
   */
  #gatherInfos(list: readonly StreamAssignment[], done: (infos: Map<string, Json>) => void, timeoutMs?: number): void {
    const out = new Map<string, Json>();
    const ask: StreamAssignment[] = [];
    for (const a of list) {
      const r = this.replicas.get(keyOf(a));
      const engine = this.#engineOf(accountOf(a));
      if (r && r.isLeader() && engine) out.set(keyOf(a), streamInfo(engine, r.stream));
      else ask.push(a);
    }
    if (ask.length === 0) return done(out);
    this.#infoQueries.gather(ask, (a) => keyOf(a), (a) => a.group, (infos) => {
      for (const [k, v] of infos) out.set(k, v);
      done(out);
    }, timeoutMs);
  }

  /** `$JS.API.STREAM.PEER.REMOVE.<stream>`: a new peer set, answered once proposed (as nats-server does). */
  #peerRemove(acc: string, m: BusMsg, name: string): void {
    const type = "stream_remove_peer_response";
    const peer = parsePeerRemove(m.payload);
    if (typeof peer !== "string") return this.#fail(acc, m, type, peer);
    const a = this.meta.streams.get(streamKey(acc, name));
    if (!a) return this.#fail(acc, m, type, Errors.streamNotFound());
    const plan = planPeerRemove(a, peer, this.#peerInfos(), this.meta.load());
    if (isErr(plan)) return this.#fail(acc, m, type, plan);
    if (a.peers.length === 1 && !plan.short && this.#online(peer)) {
      // A single replica is moved, not dropped: the new server joins and catches up, then the old one leaves (moves.ts).
      if (!this.#proposeFor(acc, m, { op: "peers", account: a.account, name, peers: [peer, ...plan.peers], moveTo: plan.peers, ts: this.#now() })) return;
      return this.#respond(acc, m.reply, { type: T + type, success: true });
    }
    if (!this.#proposeFor(acc, m, { op: "peers", account: a.account, name, peers: plan.peers, ts: this.#now() })) return;
    if (plan.short) return this.#fail(acc, m, type, OpsErrors.peerRemap());
    this.#respond(acc, m.reply, { type: T + type, success: true });
  }

  /** `$JS.API.SERVER.REMOVE`: the server leaves the meta group and every stream it held is re-placed. */
  #serverRemove(acc: string, m: BusMsg): void {
    const type = "meta_server_remove_response";
    const name = parseServerRemove(m.payload);
    if (typeof name !== "string") return this.#fail(acc, m, type, name);
    const g = this.metaGroup!;
    if (!g.node.membership().voters.includes(name)) return this.#fail(acc, m, type, OpsErrors.serverNotMember());
    const now = this.#now();
    // In the replicated meta state: a later meta leader does not bring it back either. One batch with the new
    // peers of every stream it held: all or nothing.
    const cmds: MetaCmd[] = [{ op: "removeServer", server: name, ts: now }];
    for (const a of this.meta.streams.values()) {
      if (!a.peers.includes(name)) continue;
      const plan = planPeerRemove(a, name, this.#peerInfos().filter((p) => p.name !== name), this.meta.load());
      if (!isErr(plan)) cmds.push({ op: "peers", account: a.account, name: a.name, peers: plan.peers, ts: now });
    }
    if (!this.#proposeFor(acc, m, ...cmds)) return;
    if (name === this.self) this.#stepDown(g);
    else g.proposeMembership({ op: "remove", peer: name });
    this.#respond(acc, m.reply, { type: T + type, success: true });
  }

  #streamDelete(acc: string, m: BusMsg, name: string): void {
    if (!this.meta.streams.has(streamKey(acc, name))) return this.#fail(acc, m, "stream_delete_response", Errors.streamNotFound());
    this.#proposeFor(acc, m, { op: "delete", account: acc, name, reply: m.reply, ts: this.#now() });
  }

  #streamList(acc: string, m: BusMsg, namesOnly: boolean): void {
    const type = namesOnly ? "stream_names_response" : "stream_list_response";
    const req = parseBody(m);
    if (isErr(req)) return this.#fail(acc, m, type, req);
    const offset = typeof req.offset === "number" && req.offset > 0 ? req.offset : 0;
    const subject = typeof req.subject === "string" ? req.subject : undefined;
    let all = [...this.meta.ofAccount(acc)].sort((a, b) => (a.name < b.name ? -1 : 1));
    if (subject) {
      all = all.filter((a) => a.config.subjects.some((x) => subjectMatches(x, subject) || subjectMatches(subject, x)));
    }
    const limit = namesOnly ? 1024 : 256;
    const page = all.slice(offset, offset + limit);
    const out: Json = { type: T + type, total: all.length, offset, limit };
    if (namesOnly) {
      out.streams = page.map((a) => a.name);
      return this.#respond(acc, m.reply, out);
    }
    // Each stream as its leader has it; a stream whose leader did not answer (no quorum) is listed as missing.
    this.#gatherInfos(page, (infos) => {
      out.streams = page.flatMap((a) => infos.get(keyOf(a)) ?? []);
      out.missing = page.filter((a) => !infos.has(keyOf(a))).map((a) => a.name);
      this.#respond(acc, m.reply, out);
    });
  }

  #accountInfo(acc: string, m: BusMsg): void {
    const engine = this.#engineOf(acc);
    if (!engine) return;
    const mine = [...this.meta.ofAccount(acc)];
    // Usage as the stream leaders have it (the meta leader holds only some of the streams); clients ask this
    // when they start, so a leader that does not answer soon is counted as this server knows the stream.
    this.#gatherInfos(mine, (found) => {
      const infos = new Map(found);
      const answered = new Set(infos.keys());
      for (const a of mine) if (!infos.has(keyOf(a)) && this.replicas.has(keyOf(a))) infos.set(keyOf(a), this.#infoOf(a));
      let memory = 0, storage = 0, consumers = 0;
      for (const a of mine) {
        const info = infos.get(keyOf(a));
        const st = info?.state as { bytes?: number; consumer_count?: number } | undefined;
        // As the stream's leader counts them (stream info's consumer_count: every consumer of the stream, the
        // just-created too), else as this server's replica has them. Mirrors' and sources' consumers (`direct`)
        // are not counted in a cluster (nats-server 2.9.10).
        const recs = this.replicas.get(keyOf(a))?.consumers;
        if (answered.has(keyOf(a)) || !recs) consumers += st?.consumer_count ?? 0;
        else for (const rec of recs.values()) consumers += rec.config.direct === true ? 0 : 1;
        if (a.config.storage === "memory") memory += st?.bytes ?? 0;
        else storage += st?.bytes ?? 0;
      }
      const info: Json = {
        type: T + "account_info_response",
        memory,
        storage,
        streams: mine.length,
        consumers,
        limits: limitsInfo(engine.limits),
        api: { total: engine.apiStats.total, errors: engine.apiStats.errors },
      };
      if (engine.opts.domain) info.domain = engine.opts.domain;
      this.#respond(acc, m.reply, info);
    }, ACCOUNT_INFO_WAIT_MS);
  }

  // ---- the stream leader's API (changes that must go through the log) ----

  #purge(acc: string, m: BusMsg, r: StreamReplica): void {
    const type = "stream_purge_response";
    const pfail = (e: ApiError) => this.#respond(acc, m.reply, { type: T + type, error: e, purged: 0 });
    const s = r.stream;
    if (s.cfg.sealed) return pfail(Errors.streamSealed());
    if (s.cfg.deny_purge) return pfail(Errors.streamPurgeFailed("stream purge not permitted"));
    const req = parseBody(m);
    if (isErr(req)) return pfail(req);
    const filter = typeof req.filter === "string" ? req.filter : undefined;
    const seq = typeof req.seq === "number" ? req.seq : undefined;
    const keep = typeof req.keep === "number" ? req.keep : undefined;
    if (seq !== undefined && keep !== undefined) return pfail(Errors.badRequest());
    r.propose({ op: "purge", req: { filter, seq, keep, upTo: Math.max(s.lastSequence, seq ?? 0) } }, (n) => {
      this.#respond(acc, m.reply, { type: T + type, success: true, purged: typeof n === "number" ? n : 0 });
    });
  }

  #msgDelete(acc: string, m: BusMsg, r: StreamReplica): void {
    const type = "stream_msg_delete_response";
    const s = r.stream;
    if (s.cfg.sealed) return this.#fail(acc, m, type, Errors.streamSealed());
    if (s.cfg.deny_delete) return this.#fail(acc, m, type, Errors.streamMsgDeleteFailed("message delete not permitted"));
    const req = parseBody(m);
    if (isErr(req)) return this.#fail(acc, m, type, req);
    const seq = req.seq;
    if (typeof seq !== "number" || seq <= 0) return this.#fail(acc, m, type, Errors.badRequest());
    if (!s.has(seq)) {
      return this.#fail(acc, m, type, Errors.streamMsgDeleteFailed(seq > s.lastSequence ? "stream store EOF" : "no message found"));
    }
    r.propose({ op: "remove", seqs: [seq] }, (n) => {
      if (n === 1) this.#respond(acc, m.reply, { type: T + type, success: true });
      else this.#fail(acc, m, type, Errors.streamMsgDeleteFailed("no message found"));
    });
  }
}

/**
 * Runs `fn` once the writes a Raft flush queued have been handed to the sockets: a route's output flushes in a
 * microtask, and the socket in another one queued by it, so two hops later they are done. Applying committed
 * entries there takes the state machines' work (storing, answering) off the commit path: a follower's
 * acknowledgement and a leader's appends leave first.
 */
function afterWrites(fn: () => void): void {
  queueMicrotask(() => queueMicrotask(() => queueMicrotask(fn)));
}

/** The stream a stream- or consumer-scoped API subject names (`$JS.API.` stripped), if any. */
export function streamOf(op: readonly string[]): string | undefined {
  if (op[0] === "STREAM") {
    if (op[1] === "MSG" || op[1] === "LEADER" || op[1] === "PEER") return op[3];
    if (op[1] === "INFO" || op[1] === "PURGE") return op[2];
    return undefined;
  }
  if (op[0] === "DIRECT" && op[1] === "GET") return op[2];
  if (op[0] === "CONSUMER") {
    if (op[1] === "DURABLE" || op[1] === "MSG" || op[1] === "LEADER") return op[3];
    return op[2];
  }
  return undefined;
}

/** A monitoring flag: present and not false/0. */
function flag(q: URLSearchParams | undefined, name: string): boolean {
  const v = q?.get(name);
  return v !== null && v !== undefined && v !== "false" && v !== "0";
}

function placementOf(cfg: StreamConfig): { cluster?: string; tags?: string[] } {
  const p = (cfg as Record<string, unknown>).placement;
  if (typeof p !== "object" || p === null) return {};
  const o = p as Record<string, unknown>;
  return {
    cluster: typeof o.cluster === "string" ? o.cluster : undefined,
    tags: Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === "string") : undefined,
  };
}

