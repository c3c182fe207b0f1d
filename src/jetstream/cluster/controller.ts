/**
 * Replicated JetStream on one server of a cluster: the server's RaftHost (Raft over routes), the meta group
 * of all JetStream servers (its leader answers the cluster-wide API and places streams), and this server's
 * stream replicas. It plugs into the engine as its `EngineCluster`: every server hears every `$JS.API`
 * request and exactly one answers it — the meta leader for cluster-wide requests, the stream's leader for a
 * stream's own.
 */
import { RaftGroup, RaftHost } from "../../raft/host.ts";
import type { RaftStorage } from "../../raft/storage.ts";
import type { Entry, PeerId, Random, Snapshot } from "../../raft/types.ts";
import { subjectMatches, subjectsIntersect } from "../../subjects/subject.ts";
import { body as parseBody, isErr, streamInfo } from "../api.ts";
import { checkStreamConfig, checkStreamUpdate, describeZodError, type StreamConfig, streamConfigSchema } from "../config.ts";
import type { Consumer } from "../consumer.ts";
import type { EngineCluster, JetStream } from "../engine.ts";
import { type ApiError, Errors } from "../errors.ts";
import type { Stream } from "../stream.ts";
import type { BusMsg, JsBus } from "../types.ts";
import { decodeMeta, encodeMeta, type MetaChange, type MetaCmd, MetaState, type StreamAssignment } from "./meta.ts";
import { type PeerInfo, placementFailure, placeReplicas } from "./placement.ts";
import { clusterPicture } from "./jsz_cluster.ts";
import { decodeMoved, moveCaughtUp, MOVED_SUBJECT, planMove } from "./moves.ts";
import { decodeOrigin, encodeOrigin, ORIGIN_SUBJECT, OriginNotes } from "./origin.ts";
import { StreamReplica } from "./stream_replica.ts";
import { ConsumerGroups } from "./consumer_groups.ts";
import { stepDownBodyError, unknownStreamStepDown } from "./not_clustered.ts";
import { OpsErrors, parsePeerRemove, parseServerRemove, planPeerRemove, reconcileMembership } from "./peer_remove.ts";
import { planReplicaChange } from "./replicas.ts";
import { handOffLeaderships, stayFollower } from "./lame_duck.ts";
import { decodeSyncBatch, encodeSyncBatch } from "./entries.ts";
import { peerToken, type RouteTransport, routeTransport } from "./transport.ts";
import { ReplicatedFeeds } from "./mirror_replica.ts";
import { sourceCycle } from "../cycles.ts";
import type { ExternalFeed } from "../external.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const T = "io.nats.jetstream.api.v1.";
const META_GROUP = "_meta_";
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
/** A peer not heard from for this long is offline. */
const OFFLINE_MS = 6_000;
/** Without the expected number of peers, bootstrap once everyone seen agrees for this long. */
const SETTLE_MS = 1_500;
/** A leader leaving its group that still leads after this long takes up the publishes it held again. */
const HANDOVER_MS = 3_000;
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
  readonly engine: JetStream;
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

export class JetStreamCluster implements EngineCluster {
  readonly host: RaftHost;
  readonly meta = new MetaState();
  readonly replicas = new Map<string, StreamReplica>();
  metaGroup: RaftGroup | undefined;
  /** The consumers of this server's stream replicas, each a Raft group of its own. */
  readonly consumers: ConsumerGroups;
  readonly #o: ClusterOptions;
  readonly #engine: JetStream;
  readonly #now: () => number;
  readonly #peers = new Map<string, KnownPeer>();
  #transport: RouteTransport;
  #timer: ReturnType<typeof setInterval> | undefined;
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
  /** Stream leaderships being handed over because this server leaves the group (`#handOver`). */
  readonly #handovers = new Map<string, { since: number; asked: number }>();
  /** Stream groups whose move this server (their leader) reported done, with when. */
  readonly #movedSaid = new Map<string, number>();
  /** The mirror and source feeds of the streams this server leads. */
  readonly #feeds: ReplicatedFeeds;

  constructor(o: ClusterOptions) {
    this.#o = o;
    this.#engine = o.engine;
    this.#now = o.now ?? Date.now;
    this.#transport = routeTransport(o.sysBus, o.serverName, (b) => this.host.receive(b));
    this.host = new RaftHost({ id: o.serverName, transport: this.#transport, random: o.random, deferApply: afterWrites });
    this.consumers = new ConsumerGroups({
      engine: o.engine,
      host: this.host,
      self: o.serverName,
      clusterName: o.clusterName,
      sysBus: o.sysBus,
      random: o.random,
      now: this.#now,
      openStorage: o.openStorage,
      dropStorage: o.dropStorage,
      replicas: this.replicas,
      assignment: (name) => this.meta.streams.get(name),
      stepDown: (g) => this.#stepDown(g),
      online: (p) => this.#online(p),
      activeNs: (p) => this.#activeNs(p),
      respond: (reply, body) => this.#respond(reply, body),
    });
    this.#feeds = new ReplicatedFeeds({ engine: o.engine, clock: o.engine.clock, now: this.#now });
  }

  get self(): PeerId {
    return this.#o.serverName;
  }

  start(): void {
    const bus = this.#o.sysBus;
    this.#sids.push(bus.subscribe(HELLO, (m) => this.#onHello(m)));
    this.#sids.push(bus.subscribe(MOVED_SUBJECT, (m) => this.#onMoved(m)));
    this.#sids.push(bus.subscribe(ORIGIN_SUBJECT, (m) => {
      const n = decodeOrigin(m.payload);
      if (n) this.#origins.note(n, this.#now());
    }));
    this.#sids.push(bus.subscribe(`${SYNC}*.${peerToken(this.self)}`, (m) => this.#onSyncRequest(m)));
    this.#sids.push(bus.subscribe(`${SYNC_REPLY}${peerToken(this.self)}`, (m) => {
      const b = decodeSyncBatch(m.payload);
      if (b instanceof Error) return;
      for (const r of this.replicas.values()) if (r.group.id === b.group) r.onSyncBatch(b);
    }));
    this.consumers.start();
    const stored = this.#o.loadMetaPeers();
    if (stored !== undefined) this.#startMeta(stored);
    this.#sayHello();
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs ?? 50);
  }

  /**
   * Before stopping: hand the leadership of every group this server leads to a caught-up peer (bounded by
   * `budgetMs`); resolves to how many it still leads.
   */
  handOff(budgetMs = 3_000): Promise<number> {
    if (this.#stopped) return Promise.resolve(0);
    // The consumers' latest states go into the log first: the successor resumes from them.
    this.#engine.flushConsumers();
    this.consumers.flushAll();
    for (const r of this.replicas.values()) r.flushNow();
    for (const r of this.replicas.values()) if (r.isLeader() && r.group.node.membership().voters.length > 1) r.handingOff = true;
    const groups = () => {
      const out = [...this.replicas.values()].map((r) => r.group);
      out.push(...this.consumers.groups());
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
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const sid of this.#sids) this.#o.sysBus.unsubscribe(sid);
    this.#feeds.close();
    // What the leaders still hold goes out first: consumer states, then one last flush to the peers.
    this.#engine.flushConsumers();
    this.consumers.flushAll();
    for (const r of this.replicas.values()) r.flushNow();
    this.host.flush();
    this.host.drainApplies();
    this.consumers.stop();
    for (const r of this.replicas.values()) r.close();
    for (const g of [...this.host.groups.keys()]) this.host.removeGroup(g);
    this.#transport.close();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.host.tick();
    for (const [name, r] of this.replicas) {
      r.tick();
      const a = this.meta.streams.get(name);
      if (a && r.ready) reconcileMembership(r.group, a, this.self, () => this.#handOver(name, r));
      // Done when the stream's new servers hold its whole log and its R1 consumers hosted here moved too.
      if (a?.moveTo && r.ready && moveCaughtUp(r.group, a.moveTo) && !this.consumers.r1StillMoving(name, a.moveTo)) this.#sayMoved(a);
    }
    this.consumers.tick();
    this.#feeds.tick(this.replicas);
    const now = this.#now();
    this.#origins.sweep(now);
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
    if (now - this.#lastHello >= (this.metaGroup ? 2_000 : 250)) this.#sayHello();
    if (!this.metaGroup) this.#maybeBootstrap(now);
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
    const isNew = !this.#peers.has(h.name);
    this.#peers.set(h.name, { hello: h, lastSeen: this.#now() });
    if (isNew) this.#sayHello();
    // The meta leader brings JetStream servers that are not members yet into the group, one change at a time:
    // those it hears, and those its members hear (a server it has no route to yet).
    const g = this.metaGroup;
    if (g && g.isLeader()) {
      const voters = g.node.membership().voters;
      const missing = [h.name, ...h.seen].find((n) => !voters.includes(n) && !this.meta.removedServers.has(n));
      if (missing !== undefined) g.proposeMembership({ op: "addVoter", peer: missing });
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
        const r = this.replicas.get(c.a.name);
        if (!r) return;
        this.#engine.updateStream(r.stream, c.a.config);
        if (c.reply && r.isLeader() && this.#fresh(c.ts)) {
          this.#respond(c.reply, { type: T + "stream_update_response", ...streamInfo(this.#engine, r.stream) });
        }
        return;
      }
      case "removed":
        if (this.replicas.has(c.a.name)) this.#closeReplica(c.a.name, true);
        if (c.reply && this.isMetaLeader() && this.#fresh(c.ts)) {
          this.#respond(c.reply, { type: T + "stream_delete_response", success: true });
        }
        return;
      case "peers": {
        const mine = c.a.peers.includes(this.self);
        // A replica taken out stays a member until the group has removed it (its vote may be needed to
        // commit the removal of another one), or until LEAVE_MS have passed.
        if (!mine && this.replicas.has(c.a.name)) this.#leaving.set(c.a.name, this.#now());
        else if (mine) {
          this.#leaving.delete(c.a.name);
          if (!this.replicas.has(c.a.name)) this.#openReplica(c.a);
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
      if (a.peers.includes(this.self) && !this.replicas.has(a.name)) this.#openReplica(a);
    }
  }

  #openReplica(a: StreamAssignment): void {
    const engine = this.#engine;
    const s = engine.streams.get(a.name) ?? engine.createStream(structuredClone(a.config), a.created);
    const r = new StreamReplica(s, {
      engine,
      self: this.self,
      now: this.#now,
      onLeaderReady: (rep) => this.#leaderReady(rep),
      syncStore: () => s.sync(),
      compactIntervalMs: COMPACT_INTERVAL_MS,
      consumersChanged: () => this.consumers.reconcile(),
      requestSync: (group, from, to, index, attempt) => {
        // Ask the leader first, then (on retries) the other replicas in turn.
        const others = a.peers.filter((p) => p !== this.self);
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
        leaderChanged: (leader) => r.leaderChanged(leader),
      },
    });
    this.replicas.set(a.name, r);
    // A new group's preferred first leader campaigns at once instead of waiting out an election timeout.
    if (fresh && a.peers[0] === this.self) {
      for (let i = 0; i < 40; i++) r.group.node.tick();
      this.host.markDirty(r.group);
    }
  }

  #closeReplica(name: string, drop: boolean): void {
    const r = this.replicas.get(name);
    if (!r) return;
    this.replicas.delete(name);
    r.close();
    this.consumers.reconcile();
    const group = r.group.id;
    this.host.removeGroup(group);
    if (drop) {
      this.#o.dropStorage(group);
      const s = this.#engine.streams.get(name);
      if (s) this.#engine.deleteStream(s);
    }
  }

  /** The stream's leader has applied its whole log: answer the create request that made the stream. */
  #leaderReady(r: StreamReplica): void {
    const a = this.meta.streams.get(r.stream.name);
    if (!a || !a.reply || this.#answered.has(a.group) || !this.#fresh(a.ts)) return;
    this.#answered.add(a.group);
    this.#respond(a.reply, { type: T + "stream_create_response", ...streamInfo(this.#engine, r.stream), did_create: true });
  }

  #respond(reply: string | undefined, body: Json): void {
    if ("error" in body) this.#engine.apiStats.errors++;
    this.#engine.apiStats.total++;
    if (reply) this.#engine.bus.publish(reply, enc.encode(JSON.stringify(body)));
  }

  #fail(m: BusMsg, type: string, err: ApiError): void {
    this.#respond(m.reply, { type: T + type, error: err });
  }

  #proposeMeta(cmd: MetaCmd): boolean {
    const g = this.metaGroup;
    if (!g) return false;
    return g.propose(encodeMeta(cmd)).ok;
  }

  // ---- EngineCluster ----

  api(m: BusMsg): boolean {
    const op = m.subject.split(".").slice(2);
    const metaLeader = this.isMetaLeader();
    const k = op.join(".");
    if (k === "INFO") {
      if (metaLeader) this.#accountInfo(m);
      return true;
    }
    if (k === "META.LEADER.STEPDOWN") {
      if (metaLeader) {
        const bad = stepDownBodyError(m.payload);
        if (bad) return this.#fail(m, "meta_leader_stepdown_response", bad), true;
        this.#respond(m.reply, { type: T + "meta_leader_stepdown_response", success: true });
        this.#stepDown(this.metaGroup!);
      }
      return true;
    }
    if (k === "SERVER.REMOVE") {
      if (metaLeader) this.#serverRemove(m);
      return true;
    }
    if (op[0] === "STREAM" && op[1] === "PEER" && op[2] === "REMOVE" && op.length === 4) {
      if (metaLeader) this.#peerRemove(m, op[3]);
      return true;
    }
    if (op[0] === "STREAM") {
      const verb = op[1];
      if (verb === "NAMES" || verb === "LIST") {
        if (metaLeader) this.#streamList(m, verb === "NAMES");
        return true;
      }
      if ((verb === "CREATE" || verb === "UPDATE") && op.length === 3) {
        if (metaLeader) this.#createFrom(m, op[2], verb === "UPDATE");
        else if (verb === "CREATE" && m.local && m.reply && this.#clusters().length > 1) {
          // A client of this server asks: the meta leader places the stream in this cluster by default.
          this.#o.sysBus.publish(ORIGIN_SUBJECT, encodeOrigin({ reply: m.reply, cluster: this.#o.clusterName }));
        }
        return true;
      }
      if (verb === "DELETE" && op.length === 3) {
        if (metaLeader) this.#streamDelete(m, op[2]);
        return true;
      }
    }
    const stream = streamOf(op);
    if (stream === undefined) return !metaLeader; // the meta leader answers what nobody else owns
    const a = this.meta.streams.get(stream);
    // An unknown stream: the meta leader's engine does not have it either and answers "not found".
    if (!a) {
      // A step-down of a stream nobody has: the meta leader says so (the engine would not answer it).
      const stepDown = unknownStreamStepDown(op);
      if (stepDown && metaLeader && !this.#engine.streams.has(stream)) return this.#fail(m, stepDown, Errors.streamNotFound()), true;
      return !metaLeader || this.#engine.streams.has(stream);
    }
    const r = this.replicas.get(stream);
    if (op[0] === "CONSUMER") return this.consumers.api(m, op, r);
    if (!r || !r.isLeader() || !r.ready) return true;
    if (op[0] === "STREAM" && op[1] === "LEADER" && op[2] === "STEPDOWN") {
      this.#respond(m.reply, { type: T + "stream_leader_stepdown_response", success: true });
      this.#stepDown(r.group);
      return true;
    }
    if (op[0] === "STREAM" && op[1] === "PURGE") return this.#purge(m, r), true;
    if (op[0] === "STREAM" && op[1] === "MSG" && op[2] === "DELETE") return this.#msgDelete(m, r), true;
    return false; // this server leads the stream: its engine answers
  }

  publish(s: Stream, m: BusMsg): void {
    this.replicas.get(s.name)?.publish(m);
  }

  consumerChanged(c: Consumer): void {
    this.consumers.changed(c);
  }

  consumerDeleted(c: Consumer): void {
    this.consumers.deleted(c);
  }

  consumerState(c: Consumer): void {
    this.consumers.state(c);
  }

  ackReply(c: Consumer, reply: string): boolean {
    return this.consumers.ackReply(c, reply);
  }

  consumerCluster(c: Consumer): Json | undefined {
    return this.consumers.cluster(c);
  }

  feedOf(stream: string, origin: string): ExternalFeed | undefined {
    return this.#feeds.feedOf(stream, origin);
  }

  streamCluster(s: Stream): Json {
    const r = this.replicas.get(s.name);
    const a = this.meta.streams.get(s.name);
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
      const d: Json = { name: p, current: online && joined && lag === 0, active: this.#activeNs(p), lag };
      if (!online) d.offline = true;
      replicas.push(d);
    }
    if (replicas.length > 0) out.replicas = replicas;
    return out;
  }

  jszCluster(s: Stream): Json {
    const r = this.replicas.get(s.name);
    const a = this.meta.streams.get(s.name);
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

  /** Raft groups on this server (`/jsz` `ha_assets`): the meta group and every replica's. */
  haAssets(): number {
    return this.host.groups.size;
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

  /** What `/healthz` reports while this server is not ready (nats-server's wording), undefined when it is. */
  healthProblem(): string | undefined {
    if (!this.metaGroup || this.metaGroup.leader === null) {
      return "JetStream has not established contact with a meta leader";
    }
    for (const [name, r] of this.replicas) {
      if (r.catchingUp || r.group.leader === null) return `JetStream stream '$G > ${name}' is not current`;
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

  /** Hands leadership to a caught-up other voter, chosen at random (or just steps down). */
  #stepDown(g: RaftGroup): void {
    const last = g.node.log.lastIndex();
    const current: string[] = [];
    for (const [p, pr] of g.node.progress()) {
      if (p !== this.self && this.#online(p) && g.node.isVoter(p) && pr.match >= last) current.push(p);
    }
    const pick = current.length > 0 ? current[Math.floor(this.#o.random() * current.length)] : undefined;
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
      else if (r.isLeader() && now - h.since > HANDOVER_MS && !this.#lameDuck) {
        this.#handovers.delete(name);
        r.cancelHandOff();
      }
    }
  }

  /** On the stream leader: the servers a move goes to hold everything; tell the meta leader (at most once a second). */
  #sayMoved(a: StreamAssignment): void {
    const now = this.#now();
    const last = this.#movedSaid.get(a.group);
    if (last !== undefined && now - last < 1_000) return;
    this.#movedSaid.set(a.group, now);
    this.#o.sysBus.publish(MOVED_SUBJECT, enc.encode(JSON.stringify({ stream: a.name, group: a.group })));
  }

  /** On the meta leader: a move's new servers caught up; the stream shrinks to them (the old ones leave). */
  #onMoved(m: BusMsg): void {
    if (!this.isMetaLeader()) return;
    const n = decodeMoved(m.payload);
    const a = n ? this.meta.streams.get(n.stream) : undefined;
    if (!n || !a || a.group !== n.group || !a.moveTo) return;
    const to = a.moveTo;
    const cluster = this.#peerInfos().find((p) => p.name === to[0])?.cluster ?? a.cluster;
    this.#proposeMeta({ op: "peers", name: a.name, peers: to, cluster, ts: this.#now() });
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
  #createFrom(m: BusMsg, name: string, update: boolean): void {
    if (update || m.local || !m.reply || this.#clusters().length === 1) {
      return this.#streamCreate(m, name, update, this.#o.clusterName);
    }
    this.#origins.wait(m.reply, this.#now(), (cluster) => {
      if (this.isMetaLeader()) this.#streamCreate(m, name, false, cluster);
    });
  }

  #streamCreate(m: BusMsg, name: string, update: boolean, origin?: string): void {
    const type = update ? "stream_update_response" : "stream_create_response";
    const req = parseBody(m);
    if (isErr(req)) return this.#fail(m, type, req);
    const parsed = streamConfigSchema.safeParse(req);
    if (!parsed.success) return this.#fail(m, type, Errors.invalidJson(describeZodError(parsed.error)));
    const cfg = parsed.data;
    if (cfg.name !== name) return this.#fail(m, type, Errors.streamMismatch());
    const err = checkStreamConfig(cfg, { clustered: true });
    if (err) return this.#fail(m, type, err);
    if (sourceCycle(cfg, (n) => this.meta.streams.get(n)?.config)) return this.#fail(m, type, Errors.streamInvalidConfig("detected cycle"));
    for (const other of this.meta.streams.values()) {
      if (other.name === name) continue;
      for (const x of other.config.subjects) {
        for (const y of cfg.subjects) if (subjectsIntersect(x, y)) return this.#fail(m, type, Errors.streamSubjectOverlap());
      }
    }
    const existing = this.meta.streams.get(name);
    const now = this.#now();
    if (update) {
      if (!existing) return this.#fail(m, type, Errors.streamNotFound());
      const uerr = checkStreamUpdate(existing.config, cfg);
      if (uerr) return this.#fail(m, type, uerr);
      let peers: string[] | undefined;
      const move = planMove(existing, cfg, this.#clusterOf(existing), this.#peerInfos(), this.meta.load());
      if (isErr(move)) return this.#fail(m, type, move);
      if (move.kind === "move") {
        // Old and new servers together until the new ones hold everything (moves.ts).
        const both = [...existing.peers, ...move.to.filter((p) => !existing.peers.includes(p))];
        this.#proposeMeta({ op: "update", name, config: cfg, reply: m.reply, ts: now });
        this.#proposeMeta({ op: "peers", name, peers: both, moveTo: move.to, cluster: existing.cluster, ts: now });
        return;
      }
      if (!existing.moveTo && cfg.num_replicas !== existing.peers.length) {
        const plan = planReplicaChange(existing, cfg.num_replicas, this.replicas.get(name)?.group.leader ?? undefined, this.#peerInfos(), this.meta.load());
        if (isErr(plan)) return this.#fail(m, type, plan);
        peers = plan;
      }
      this.#proposeMeta({ op: "update", name, config: cfg, reply: m.reply, ts: now });
      if (peers) this.#proposeMeta({ op: "peers", name, peers, ts: now });
      return;
    }
    if (existing) {
      if (JSON.stringify(existing.config) !== JSON.stringify(cfg)) return this.#fail(m, type, Errors.streamNameExist());
      return this.#respond(m.reply, { type: T + type, ...this.#infoOf(existing), did_create: false });
    }
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
    if (!peers) return this.#fail(m, type, placementFailure(infos, { replicas: cfg.num_replicas, tags: placement.tags, cluster: clusters[0] }));
    const id = Math.floor(this.#o.random() * 2 ** 32).toString(36);
    const a: StreamAssignment = {
      name,
      config: cfg,
      created: new Date(now).toISOString(),
      peers,
      group: `S-${peerToken(name)}-${id}`,
      reply: m.reply,
      ts: now,
      cluster,
    };
    this.#proposeMeta({ op: "stream", a });
  }

  /** Info of a stream from wherever it is known: this server's replica, or its assignment. */
  #infoOf(a: StreamAssignment): Json {
    const s = this.#engine.streams.get(a.name);
    if (s) return streamInfo(this.#engine, s);
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

  /** `$JS.API.STREAM.PEER.REMOVE.<stream>`: a new peer set, answered once proposed (as nats-server does). */
  #peerRemove(m: BusMsg, name: string): void {
    const type = "stream_remove_peer_response";
    const peer = parsePeerRemove(m.payload);
    if (typeof peer !== "string") return this.#fail(m, type, peer);
    const a = this.meta.streams.get(name);
    if (!a) return this.#fail(m, type, Errors.streamNotFound());
    const plan = planPeerRemove(a, peer, this.#peerInfos(), this.meta.load());
    if (isErr(plan)) return this.#fail(m, type, plan);
    if (a.peers.length === 1 && !plan.short && this.#online(peer)) {
      // A single replica is moved, not dropped: the new server joins and catches up, then the old one leaves (moves.ts).
      if (!this.#proposeMeta({ op: "peers", name, peers: [peer, ...plan.peers], moveTo: plan.peers, ts: this.#now() })) {
        return this.#fail(m, type, OpsErrors.peerRemap());
      }
      return this.#respond(m.reply, { type: T + type, success: true });
    }
    if (!this.#proposeMeta({ op: "peers", name, peers: plan.peers, ts: this.#now() })) {
      return this.#fail(m, type, OpsErrors.peerRemap());
    }
    if (plan.short) return this.#fail(m, type, OpsErrors.peerRemap());
    this.#respond(m.reply, { type: T + type, success: true });
  }

  /** `$JS.API.SERVER.REMOVE`: the server leaves the meta group and every stream it held is re-placed. */
  #serverRemove(m: BusMsg): void {
    const type = "meta_server_remove_response";
    const name = parseServerRemove(m.payload);
    if (typeof name !== "string") return this.#fail(m, type, name);
    const g = this.metaGroup!;
    if (!g.node.membership().voters.includes(name)) return this.#fail(m, type, OpsErrors.serverNotMember());
    const now = this.#now();
    // In the replicated meta state: a later meta leader does not bring it back either.
    this.#proposeMeta({ op: "removeServer", server: name, ts: now });
    for (const a of this.meta.streams.values()) {
      if (!a.peers.includes(name)) continue;
      const plan = planPeerRemove(a, name, this.#peerInfos().filter((p) => p.name !== name), this.meta.load());
      if (!isErr(plan)) this.#proposeMeta({ op: "peers", name: a.name, peers: plan.peers, ts: now });
    }
    if (name === this.self) this.#stepDown(g);
    else g.proposeMembership({ op: "remove", peer: name });
    this.#respond(m.reply, { type: T + type, success: true });
  }

  #streamDelete(m: BusMsg, name: string): void {
    if (!this.meta.streams.has(name)) return this.#fail(m, "stream_delete_response", Errors.streamNotFound());
    this.#proposeMeta({ op: "delete", name, reply: m.reply, ts: this.#now() });
  }

  #streamList(m: BusMsg, namesOnly: boolean): void {
    const type = namesOnly ? "stream_names_response" : "stream_list_response";
    const req = parseBody(m);
    if (isErr(req)) return this.#fail(m, type, req);
    const offset = typeof req.offset === "number" && req.offset > 0 ? req.offset : 0;
    const subject = typeof req.subject === "string" ? req.subject : undefined;
    let all = [...this.meta.streams.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    if (subject) {
      all = all.filter((a) => a.config.subjects.some((x) => subjectMatches(x, subject) || subjectMatches(subject, x)));
    }
    const limit = namesOnly ? 1024 : 256;
    const page = all.slice(offset, offset + limit);
    const out: Json = { type: T + type, total: all.length, offset, limit };
    if (namesOnly) out.streams = page.map((a) => a.name);
    else {
      out.streams = page.map((a) => this.#infoOf(a));
      out.missing = [];
    }
    this.#respond(m.reply, out);
  }

  #accountInfo(m: BusMsg): void {
    let memory = 0, storage = 0, consumers = 0;
    for (const a of this.meta.streams.values()) {
      const s = this.#engine.streams.get(a.name);
      const r = this.replicas.get(a.name);
      // Mirrors' and sources' consumers (`direct`) are not counted in a cluster (nats-server 2.9.10).
      for (const rec of r?.consumers.values() ?? []) if (rec.config.direct !== true) consumers++;
      if (!s) continue;
      if (s.cfg.storage === "memory") memory += s.state().bytes;
      else storage += s.state().bytes;
    }
    const info: Json = {
      type: T + "account_info_response",
      memory,
      storage,
      reserved_memory: 0,
      reserved_storage: 0,
      streams: this.meta.streams.size,
      consumers,
      limits: {
        max_memory: -1,
        max_storage: -1,
        max_streams: -1,
        max_consumers: -1,
        max_ack_pending: -1,
        memory_max_stream_bytes: -1,
        storage_max_stream_bytes: -1,
        max_bytes_required: false,
      },
      api: { total: this.#engine.apiStats.total, errors: this.#engine.apiStats.errors },
    };
    if (this.#engine.opts.domain) info.domain = this.#engine.opts.domain;
    this.#respond(m.reply, info);
  }

  // ---- the stream leader's API (changes that must go through the log) ----

  #purge(m: BusMsg, r: StreamReplica): void {
    const type = "stream_purge_response";
    const pfail = (e: ApiError) => this.#respond(m.reply, { type: T + type, error: e, purged: 0 });
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
      this.#respond(m.reply, { type: T + type, success: true, purged: typeof n === "number" ? n : 0 });
    });
  }

  #msgDelete(m: BusMsg, r: StreamReplica): void {
    const type = "stream_msg_delete_response";
    const s = r.stream;
    if (s.cfg.sealed) return this.#fail(m, type, Errors.streamSealed());
    if (s.cfg.deny_delete) return this.#fail(m, type, Errors.streamMsgDeleteFailed("message delete not permitted"));
    const req = parseBody(m);
    if (isErr(req)) return this.#fail(m, type, req);
    const seq = req.seq;
    if (typeof seq !== "number" || seq <= 0) return this.#fail(m, type, Errors.badRequest());
    if (!s.has(seq)) {
      return this.#fail(m, type, Errors.streamMsgDeleteFailed(seq > s.lastSequence ? "stream store EOF" : "no message found"));
    }
    r.propose({ op: "remove", seqs: [seq] }, (n) => {
      if (n === 1) this.#respond(m.reply, { type: T + type, success: true });
      else this.#fail(m, type, Errors.streamMsgDeleteFailed("no message found"));
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

function placementOf(cfg: StreamConfig): { cluster?: string; tags?: string[] } {
  const p = (cfg as Record<string, unknown>).placement;
  if (typeof p !== "object" || p === null) return {};
  const o = p as Record<string, unknown>;
  return {
    cluster: typeof o.cluster === "string" ? o.cluster : undefined,
    tags: Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === "string") : undefined,
  };
}

