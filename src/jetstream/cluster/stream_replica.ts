/**
 * One server's replica of a replicated stream: the stream (opened by the engine) bound to its Raft group.
 * The leader validates publishes and API changes, assigns sequence and time, proposes; every replica applies
 * committed entries through `Stream.apply` and the consumer records; the leader answers once its entry is
 * applied. Consumers run on the leader only; the others keep their replicated config and state and take over
 * from it when they become leader.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { Entry, PeerId } from "../../raft/types.ts";
import type { ConsumerConfig } from "../config.ts";
import type { Consumer, ConsumerState } from "../consumer.ts";
import { type JetStream, pubAckBytes } from "../engine.ts";
import type { ApiError } from "../errors.ts";
import { type ApplyResult, isEntry, type Stream, type StreamEntry } from "../stream.ts";
import type { BusMsg } from "../types.ts";
import { decodeCmd, encodeCmd, type GroupCmd } from "./entries.ts";

/** Publishes held while a new leader catches up with its log (beyond this, they are dropped: clients retry). */
const MAX_QUEUED = 10_000;

export interface ConsumerRecord {
  config: ConsumerConfig;
  created: string;
  state?: ConsumerState;
}

type Done = (r: ApplyResult) => void;

export interface ReplicaDeps {
  readonly engine: JetStream;
  readonly self: PeerId;
  readonly now: () => number;
  /** Called the first time this replica is the leader with everything applied (answers a create request). */
  readonly onLeaderReady?: (r: StreamReplica) => void;
  /** How a proposal batch is scheduled (default: a microtask); the simulator passes its own queue. */
  readonly schedule?: (fn: () => void) => void;
}

export class StreamReplica {
  readonly stream: Stream;
  group!: RaftGroup;
  readonly consumers = new Map<string, ConsumerRecord>();
  readonly #deps: ReplicaDeps;
  /** The last sequence this leader proposed (ahead of the stream's while entries are in flight). */
  #clseq = 0;
  #ready = false;
  #pending = new Map<number, { term: number; done: Done | undefined; msgId: string | undefined }>();
  #inflightIds = new Map<string, number>();
  #queue: BusMsg[] = [];
  #batch: Array<{ data: Uint8Array; done: Done | undefined; msgId?: string }> = [];
  #batchScheduled = false;
  /** Applied commands (not counting no-ops), for tests and monitoring. */
  applied = 0;

  constructor(stream: Stream, deps: ReplicaDeps) {
    this.stream = stream;
    this.#deps = deps;
    // Changes the stream makes by itself (age expiry, interest removals) and API purges/deletes become
    // proposals of the leader; a follower's own timers change nothing.
    stream.submit = (_s, e) => {
      if (this.isLeader() && this.#ready) this.propose(this.#idempotent(e), undefined);
      return undefined;
    };
  }

  isLeader(): boolean {
    return this.group.isLeader();
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** A purge records how far it reaches, so replaying it after a restart takes nothing newer. */
  #idempotent(e: StreamEntry): StreamEntry {
    return e.op === "purge" ? { op: "purge", req: { ...e.req, upTo: this.#clseq } } : e;
  }

  // ---- leader side ----

  /** A message on the stream's subjects: the leader prepares and proposes it; the others ignore it. */
  publish(m: BusMsg): void {
    if (!this.isLeader()) return;
    if (!this.#ready) {
      if (this.#queue.length < MAX_QUEUED) this.#queue.push(m);
      return;
    }
    const s = this.stream;
    const hdr = m.headers && m.headers.length > 0 ? m.headers : undefined;
    const e = s.prepare(m.subject, hdr, m.payload, this.#deps.now(), this.#clseq);
    const reply = m.reply && !s.cfg.no_ack ? m.reply : undefined;
    if (!isEntry(e)) {
      if (reply) this.#answer(reply, e);
      return;
    }
    if (e.op !== "msg") throw new Error("prepare returned a non-message entry");
    if (e.msgId) {
      const inflight = this.#inflightIds.get(e.msgId);
      if (inflight !== undefined) {
        if (reply) this.#answer(reply, { stream: s.name, seq: inflight, duplicate: true });
        return;
      }
      this.#inflightIds.set(e.msgId, e.seq);
    }
    this.#clseq = e.seq;
    this.#enqueue(encodeCmd(e), reply ? (r) => this.#answer(reply, r) : undefined, e.msgId);
  }

  #answer(reply: string, r: ApplyResult | ApiError): void {
    if (typeof r === "number") return;
    this.#deps.engine.bus.publish(reply, pubAckBytes(r, this.stream.name, this.#deps.engine.opts.domain));
  }

  /** Propose a command; `done` runs on this server once it is applied (never, if leadership is lost first). */
  propose(cmd: GroupCmd, done: Done | undefined): boolean {
    if (!this.isLeader() || !this.#ready) return false;
    this.#enqueue(encodeCmd(cmd), done);
    return true;
  }

  #enqueue(data: Uint8Array, done: Done | undefined, msgId?: string): void {
    this.#batch.push({ data, done, msgId });
    if (this.#batchScheduled) return;
    this.#batchScheduled = true;
    (this.#deps.schedule ?? queueMicrotask)(() => this.#flushBatch());
  }

  /** Proposes what is queued now (on shutdown: the last consumer states reach the followers). */
  flushNow(): void {
    this.#flushBatch();
  }

  /** Everything proposed in one turn goes out as one batch (one append per follower). */
  #flushBatch(): void {
    this.#batchScheduled = false;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    const r = this.group.proposeBatch(batch.map((b) => b.data));
    if (!r.ok) {
      this.#lost();
      return;
    }
    const first = r.index - batch.length + 1;
    for (let i = 0; i < batch.length; i++) {
      this.#pending.set(first + i, { term: r.term, done: batch[i].done, msgId: batch[i].msgId });
    }
  }

  /** Leadership lost: nothing in flight will be answered here; clients retry (with Nats-Msg-Id, safely). */
  #lost(): void {
    this.#ready = false;
    this.#pending.clear();
    this.#inflightIds.clear();
    this.#batch = [];
    this.#queue = [];
    this.#stopConsumers();
  }

  // ---- every replica ----

  /** The group's apply handler: a committed entry, in log order. */
  apply(entry: Entry): void {
    if (entry.kind !== "cmd") {
      // The new leader's no-op: everything before it is applied, so its view is complete.
      if (entry.kind === "noop" && this.isLeader() && entry.term === this.group.node.term) this.#becomeReady();
      return;
    }
    const cmd = decodeCmd(entry.data);
    if (cmd instanceof Error) throw new Error(`stream ${this.stream.name}: corrupted log entry ${entry.index}: ${cmd.message}`);
    const result = this.#applyCmd(cmd);
    this.applied++;
    const p = this.#pending.get(entry.index);
    if (p !== undefined) {
      this.#pending.delete(entry.index);
      if (p.msgId !== undefined) this.#inflightIds.delete(p.msgId);
      if (p.term === entry.term) p.done?.(result);
    }
  }

  #applyCmd(cmd: GroupCmd): ApplyResult {
    const s = this.stream;
    switch (cmd.op) {
      case "msg":
        // Replayed after a restart: the store already holds it.
        if (cmd.seq <= s.lastSequence) return { stream: s.name, seq: cmd.seq };
        return s.apply(cmd);
      case "purge":
      case "remove":
        return s.apply(cmd);
      case "cadd": {
        const rec = this.consumers.get(cmd.name);
        this.consumers.set(cmd.name, { config: cmd.config, created: cmd.created, state: rec?.state });
        const live = this.#live(cmd.name);
        if (live) live.cfg = cmd.config;
        else if (this.isLeader() && this.#ready) this.#startConsumer(cmd.name);
        return 0;
      }
      case "cdel": {
        this.consumers.delete(cmd.name);
        const live = this.#live(cmd.name);
        if (live) this.#deps.engine.deleteConsumer(live);
        return 0;
      }
      case "cstate": {
        const rec = this.consumers.get(cmd.name);
        if (rec) rec.state = cmd.state;
        return 0;
      }
    }
  }

  #becomeReady(): void {
    this.#ready = true;
    this.#clseq = this.stream.lastSequence;
    for (const name of this.consumers.keys()) if (!this.#live(name)) this.#startConsumer(name);
    this.#deps.onLeaderReady?.(this);
    const q = this.#queue;
    this.#queue = [];
    for (const m of q) this.publish(m);
  }

  leaderChanged(leader: PeerId | null): void {
    if (leader !== this.#deps.self) this.#lost();
  }

  // ---- consumers (live on the leader only) ----

  #live(name: string): Consumer | undefined {
    return this.#deps.engine.consumers.get(this.stream.name)?.get(name);
  }

  #startConsumer(name: string): void {
    const rec = this.consumers.get(name);
    if (!rec) return;
    this.#deps.engine.attachConsumer(this.stream.name, structuredClone(rec.config), rec.created, rec.state);
  }

  #stopConsumers(): void {
    const map = this.#deps.engine.consumers.get(this.stream.name);
    if (!map) return;
    for (const c of map.values()) {
      c.close(false);
      this.stream.listeners.delete(c);
    }
    map.clear();
  }

  /** The leader's API created or updated a consumer: replicate its config. */
  consumerChanged(c: Consumer): void {
    this.propose({ op: "cadd", name: c.name, config: c.cfg, created: c.created }, undefined);
  }

  consumerDeleted(c: Consumer): void {
    if (!this.consumers.has(c.name)) return;
    this.propose({ op: "cdel", name: c.name }, undefined);
  }

  consumerState(c: Consumer): void {
    if (!this.consumers.has(c.name)) return;
    this.propose({ op: "cstate", name: c.name, state: c.state() }, undefined);
  }

  /** Closes the consumers this replica runs (the group itself is removed by the host). */
  close(): void {
    this.#lost();
  }
}
