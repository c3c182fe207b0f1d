/**
 * A server's Raft host: many groups (one per stream, per consumer, plus the meta group) share one transport
 * and one batch per peer per flush. Each group's heartbeats are lifted out of its messages and coalesced into
 * one list per peer, so a thousand idle groups cost one small message per peer per tick, not a thousand.
 *
 * The host is as deterministic as the nodes: time enters only through `tick()`, and `flush()` runs when the
 * injected scheduler says so (a microtask by default).
 */
import { type MembershipChange, type ProposeResult, RaftNode, type RaftNodeConfig, type Ready } from "./node.ts";
import { persistReady } from "./persist.ts";
import type { RaftStorage } from "./storage.ts";
import type {
  BeatAck,
  BeatItem,
  Entry,
  Envelope,
  GroupId,
  Membership,
  PeerId,
  RaftTransport,
  Random,
  Snapshot,
  WireBatch,
} from "./types.ts";

/** What a group's owner (a stream, a consumer, the meta layer) does with the replicated log. */
export interface GroupHandlers {
  /** A committed entry, in log order, exactly once per incarnation (again after a restart, from the snapshot on). */
  apply(entry: Entry): void;
  /** The leader sent a snapshot: replace the state machine with it. */
  restore(snapshot: Snapshot): void;
  /** Leadership changed (null: no known leader). */
  leaderChanged?(leader: PeerId | null, term: number): void;
  /**
   * This node became (true) or stopped being (false) the group's leader: called inside the flush, before the
   * messages of that flush are handed to the transport (what the owner sends from here, an interest
   * announcement say, reaches each peer ahead of the new leader's first appends), unlike `leaderChanged`.
   */
  roleChanged?(leading: boolean): void;
}

export interface GroupOptions {
  readonly group: GroupId;
  readonly storage: RaftStorage;
  readonly initial: Membership;
  readonly handlers: GroupHandlers;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly maxBatch?: number;
  readonly maxInflight?: number;
  readonly maxInflightBytes?: number;
}

export interface HostOptions {
  readonly id: PeerId;
  readonly transport: RaftTransport;
  readonly random: Random;
  /** How a flush is scheduled after proposals and received batches. Default: queueMicrotask. */
  readonly schedule?: (fn: () => void) => void;
  /**
   * When set, what a flush would apply (committed entries, installed snapshots, leader changes) runs in a job
   * handed to this scheduler once the flush has sent its batches, in order: a follower's acknowledgement and a
   * leader's appends leave before the state machines do their work, which is then off the commit path. A
   * leader's own new entries are stored in such a job too (after they were sent). A scheduler that runs jobs
   * after the transport's own (queueMicrotask with a microtask-flushed transport) lets the bytes reach the peers
   * first, and no answer from a peer can be handled before the jobs ran. Default: stored and applied inside
   * the flush.
   */
  readonly deferApply?: (fn: () => void) => void;
}

/** Work a flush left for after its sends: one group's snapshot, committed entries and leader change, in order. */
interface ApplyJob {
  readonly g: RaftGroup;
  readonly snapshot: Snapshot | null;
  readonly committed: readonly Entry[];
  /** Write the leader's own entries that the flush sent before storing them. */
  readonly persist?: boolean;
}

export class RaftGroup {
  readonly id: GroupId;
  readonly node: RaftNode;
  readonly storage: RaftStorage;
  readonly handlers: GroupHandlers;
  #host: RaftHost;
  #lastLeader: PeerId | null = null;
  #lastTerm = 0;
  #leading = false;

  constructor(host: RaftHost, id: GroupId, node: RaftNode, storage: RaftStorage, handlers: GroupHandlers) {
    this.#host = host;
    this.id = id;
    this.node = node;
    this.storage = storage;
    this.handlers = handlers;
  }

  get leader(): PeerId | null {
    return this.node.leader;
  }

  isLeader(): boolean {
    return this.node.role === "leader";
  }

  propose(data: Uint8Array): ProposeResult {
    return this.#touch(this.node.propose(data));
  }

  proposeBatch(data: readonly Uint8Array[]): ProposeResult {
    return this.#touch(this.node.proposeBatch(data));
  }

  proposeMembership(change: MembershipChange): ProposeResult {
    return this.#touch(this.node.proposeMembership(change));
  }

  transferLeadership(to: PeerId): ProposeResult {
    return this.#touch(this.node.transferLeadership(to));
  }

  stepDown(): void {
    this.node.stepDown();
    this.#host.markDirty(this);
  }

  /** The state machine captured everything through `index` in `data`: compact the log behind it. */
  compact(index: number, data: Uint8Array): boolean {
    const ok = this.node.compact(index, data);
    if (ok) this.#host.markDirty(this);
    return ok;
  }

  /** The state through `index` (<= applied) as a snapshot, for `trim` now and `persistSnapshot` later. */
  snapshotAt(index: number, data: Uint8Array): Snapshot | null {
    return this.node.snapshotAt(index, data);
  }

  /** Drop the log `snap` covers from memory (storage keeps it until a snapshot is persisted). */
  trim(snap: Snapshot): boolean {
    return this.node.trim(snap);
  }

  /** The state `snap` captures is durable: storage drops the log behind it. */
  persistSnapshot(snap: Snapshot): boolean {
    const ok = this.node.persistSnapshot(snap);
    if (ok) this.#host.markDirty(this);
    return ok;
  }

  /** @internal Called by the host's flush before it sends. */
  notifyRole(): void {
    const leading = this.node.role === "leader";
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.handlers.roleChanged?.(leading);
  }

  /** @internal Called by the host's flush. */
  notifyLeader(): void {
    const n = this.node;
    if (n.leader === this.#lastLeader && n.term === this.#lastTerm) return;
    this.#lastLeader = n.leader;
    this.#lastTerm = n.term;
    this.handlers.leaderChanged?.(n.leader, n.term);
  }

  #touch(r: ProposeResult): ProposeResult {
    this.#host.markDirty(this);
    return r;
  }
}

interface Outbox {
  envelopes: Envelope[];
  beats: BeatItem[];
  beatAcks: BeatAck[];
}

export class RaftHost {
  readonly id: PeerId;
  #transport: RaftTransport;
  #random: Random;
  #schedule: (fn: () => void) => void;
  #groups = new Map<GroupId, RaftGroup>();
  #dirty = new Set<RaftGroup>();
  #out = new Map<PeerId, Outbox>();
  #scheduled = false;
  readonly #deferApply: ((fn: () => void) => void) | undefined;
  #jobs: ApplyJob[] = [];
  /**
   * A leader's own new entries, sent to the followers before they are stored here (Raft lets a leader write its
   * log in parallel with replicating it; it counts itself towards a commit only through a follower's answer,
   * which cannot arrive before the job that stores them has run). Stored, in order, before anything else
   * of the group is.
   */
  #unstored = new Map<RaftGroup, Entry[]>();
  #jobsScheduled = false;
  /** Batches sent, for tests and monitoring. */
  batchesSent = 0;

  constructor(opts: HostOptions) {
    this.id = opts.id;
    this.#transport = opts.transport;
    this.#random = opts.random;
    this.#schedule = opts.schedule ?? queueMicrotask;
    this.#deferApply = opts.deferApply;
  }

  get groups(): ReadonlyMap<GroupId, RaftGroup> {
    return this.#groups;
  }

  addGroup(opts: GroupOptions): RaftGroup {
    if (this.#groups.has(opts.group)) throw new Error(`raft group ${opts.group} already exists`);
    const stored = opts.storage.load();
    const cfg: RaftNodeConfig = {
      id: this.id,
      initial: opts.initial,
      random: this.#random,
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      maxBatch: opts.maxBatch,
      maxInflight: opts.maxInflight,
      maxInflightBytes: opts.maxInflightBytes,
    };
    const node = new RaftNode(cfg, stored);
    if (stored.snapshot) opts.handlers.restore(stored.snapshot);
    const g = new RaftGroup(this, opts.group, node, opts.storage, opts.handlers);
    this.#groups.set(opts.group, g);
    return g;
  }

  removeGroup(group: GroupId): void {
    const g = this.#groups.get(group);
    if (!g) return;
    this.#groups.delete(group);
    this.#dirty.delete(g);
    this.#store(g);
    g.storage.close();
  }

  /** @internal */
  markDirty(g: RaftGroup): void {
    this.#dirty.add(g);
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Advance every group's clock by one tick, then flush. */
  tick(): void {
    for (const g of this.#groups.values()) {
      g.node.tick();
      this.#dirty.add(g);
    }
    this.flush();
  }

  /** A batch from a peer (its groups' messages and coalesced heartbeats). */
  receive(batch: WireBatch): void {
    for (const env of batch.envelopes) {
      const g = this.#groups.get(env.group);
      if (!g) continue;
      g.node.step(batch.from, env.msg);
      this.markDirty(g);
    }
    for (const b of batch.beats) {
      const g = this.#groups.get(b.group);
      if (!g) continue;
      g.node.step(batch.from, { type: "heartbeat", term: b.term, commit: b.commit });
      this.markDirty(g);
    }
    for (const a of batch.beatAcks) {
      const g = this.#groups.get(a.group);
      if (!g) continue;
      g.node.step(batch.from, { type: "heartbeatResp", term: a.term });
      this.markDirty(g);
    }
  }

  /** Persist, send and apply everything the dirty groups produced; one batch per peer. */
  flush(): void {
    for (let round = 0; this.#dirty.size > 0 && round < 8; round++) {
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const g of dirty) {
        // A group removed while an earlier one applied its entries (a stream dropped from this server) has
        // closed its storage: nothing more of it is persisted, sent or applied.
        while (this.#groups.get(g.id) === g && g.node.hasReady()) this.#handle(g, g.node.ready());
        if (this.#groups.get(g.id) !== g) continue;
        g.notifyRole();
        if (this.#deferApply === undefined) g.notifyLeader();
        else this.#jobs.push({ g, snapshot: null, committed: [] });
      }
    }
    for (const [to, box] of this.#out) {
      if (box.envelopes.length === 0 && box.beats.length === 0 && box.beatAcks.length === 0) continue;
      this.#out.set(to, { envelopes: [], beats: [], beatAcks: [] });
      this.batchesSent++;
      this.#transport.send({ from: this.id, to, envelopes: box.envelopes, beats: box.beats, beatAcks: box.beatAcks });
    }
    if (this.#jobs.length > 0 && !this.#jobsScheduled && this.#deferApply !== undefined) {
      this.#jobsScheduled = true;
      this.#deferApply(this.#runJobs);
    }
  }

  /** The deferred applies, in the order the flushes produced them (a later flush's jobs wait for these). */
  readonly #runJobs = (): void => {
    this.#jobsScheduled = false;
    const jobs = this.#jobs;
    this.#jobs = [];
    for (const j of jobs) {
      const g = j.g;
      // A group removed meanwhile (its stream dropped from this server) applies nothing more.
      if (this.#groups.get(g.id) !== g) continue;
      if (j.persist === true) {
        this.#store(g);
        continue;
      }
      if (j.snapshot !== null) g.handlers.restore(j.snapshot);
      for (const e of j.committed) {
        g.handlers.apply(e);
        if (this.#groups.get(g.id) !== g) break;
      }
      if (this.#groups.get(g.id) === g) g.notifyLeader();
    }
  };

  /** Stores a leader's entries that were sent before they were stored (see #unstored). */
  #store(g: RaftGroup): void {
    const q = this.#unstored.get(g);
    if (q === undefined) return;
    this.#unstored.delete(g);
    g.storage.append(q);
    g.storage.sync();
  }

  /** Runs the applies still waiting for their job now (before a stop, say). */
  drainApplies(): void {
    if (this.#jobs.length > 0) this.#runJobs();
  }

  #handle(g: RaftGroup, rd: Ready): void {
    if (this.#deferApply !== undefined && g.node.role === "leader" && rd.hardState === null && rd.snapshot === null && rd.entries.length > 0) {
      let q = this.#unstored.get(g);
      if (q === undefined) this.#unstored.set(g, q = []);
      for (const e of rd.entries) q.push(e);
      this.#jobs.push({ g, snapshot: null, committed: [], persist: true });
    } else {
      this.#store(g);
      persistReady(g.storage, rd);
    }
    for (const m of rd.messages) {
      let box = this.#out.get(m.to);
      if (!box) this.#out.set(m.to, box = { envelopes: [], beats: [], beatAcks: [] });
      const msg = m.msg;
      if (msg.type === "heartbeat") box.beats.push({ group: g.id, term: msg.term, commit: msg.commit });
      else if (msg.type === "heartbeatResp") box.beatAcks.push({ group: g.id, term: msg.term });
      else box.envelopes.push({ group: g.id, from: this.id, to: m.to, msg });
    }
    const snap = rd.snapshot && rd.installed ? rd.snapshot : null;
    if (this.#deferApply !== undefined) {
      if (snap !== null || rd.committed.length > 0) this.#jobs.push({ g, snapshot: snap, committed: rd.committed });
      return;
    }
    if (snap !== null) g.handlers.restore(snap);
    for (const e of rd.committed) g.handlers.apply(e);
  }
}
