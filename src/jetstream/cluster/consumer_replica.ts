/**
 * One server's replica of a consumer of a replicated stream, bound to the consumer's own Raft group (placed on
 * the stream's peers; its leader may differ from the stream's). The group's log carries the changes of the
 * consumer's state — deliveries, acks, messages given up, restarted ack waits (consumer_log.ts) — and every
 * replica (the leader too, a restart, the simulator) changes its copy only through `apply(entry)`, which asserts
 * that the ack floor and the delivered sequence never go back. Snapshots hold the whole state: the log is
 * compacted behind them and a new or lagging replica catches up from one.
 *
 * The leader runs the live `Consumer` (it delivers, takes acks and pull requests) from the replicated state
 * once it has applied its whole log; the live consumer tells its changes to a `DeltaWriter` as they happen, and
 * they are proposed as one entry per turn (coalesced). What a failed leader had not proposed is lost with it, as
 * in nats-server: its successor resumes from the log (an ack for a delivery it does not know is taken over,
 * consumer.ts). Acks that ask for a reply are answered only once an entry holding them is applied: an
 * acknowledged ack survives a leader change. The other replicas keep a passive stream listener that tells the
 * stream what the consumer still needs (interest and work-queue retention), from the replicated state.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { Entry, PeerId, Snapshot } from "../../raft/types.ts";
import { type ConsumerConfig, consumerConfigJson, consumerFilters } from "../config.ts";
import type { Consumer, ConsumerState } from "../consumer.ts";
import type { PullRequest } from "../pull.ts";
import type { JetStream } from "../engine.ts";
import type { Stream, StreamListener } from "../stream.ts";
import { subjectMatches } from "../../subjects/subject.ts";
import * as acks from "../acks.ts";
import {
  applyEvent,
  assertForward,
  bookMarks,
  type ConsumerCmd,
  decodeConsumerCmd,
  decodeConsumerSnapshot,
  DeltaWriter,
  encodeConsumerCmd,
  encodeConsumerSnapshot,
  marksOf,
  replicated,
  type ReplicatedConsumer,
  snapshotOf,
} from "./consumer_log.ts";

export { type ConsumerCmd, type ConsumerEvent, decodeConsumerCmd, encodeConsumerCmd } from "./consumer_log.ts";

const enc = new TextEncoder();
/**
 * Compact the consumer's log behind a snapshot once this many entries were applied since the last one and they
 * hold at least about as many bytes as the snapshot will (so writing snapshots costs O(1) per logged byte).
 */
const COMPACT_EVERY = 64;

/** A replica's stand-in on the stream while another server runs the consumer: what it still needs. */
class PassiveListener implements StreamListener {
  #filters: string[];
  constructor(readonly rep: ConsumerReplica) {
    this.#filters = consumerFilters(rep.config);
  }
  refresh(): void {
    this.#filters = consumerFilters(this.rep.config);
  }
  onStored(): void {}
  onRemoved(): void {}
  filters(): string[] {
    return this.#filters;
  }
  matchesSubject(subject: string): boolean {
    if (this.#filters.length === 0) return true;
    for (const f of this.#filters) if (subjectMatches(subject, f)) return true;
    return false;
  }
  needs(seq: number, subject: string): boolean {
    if (!this.matchesSubject(subject)) return false;
    const rc = this.rep.replicated;
    if (!rc) return true;
    return seq >= rc.cursor || rc.book.pending.has(seq);
  }
}

export interface ConsumerReplicaDeps {
  readonly engine: JetStream;
  readonly self: PeerId;
  /** How a state proposal is scheduled (default: a microtask); the simulator passes its own queue. */
  readonly schedule?: (fn: () => void) => void;
  /** The first time this replica leads with its log applied (answers what waited for a leader). */
  readonly onLeaderReady?: (r: ConsumerReplica) => void;
  /**
   * Test-only seam (the simulator plants bugs here; production never sets it): rewrites a command before it is
   * applied on this replica.
   */
  readonly tamper?: (cmd: ConsumerCmd) => ConsumerCmd;
  readonly compactEvery?: number;
}

export class ConsumerReplica {
  group!: RaftGroup;
  config: ConsumerConfig;
  readonly created: string;
  /** The replicated state (what `apply` made of the log); undefined before the first state. */
  #rc: ReplicatedConsumer | undefined;
  /** The leader's changes not proposed yet. */
  readonly #writer = new DeltaWriter();
  /** Bytes of the entries applied since the last snapshot. */
  #sinceSnap = 0;
  readonly #deps: ConsumerReplicaDeps;
  #ready = false;
  #live: Consumer | undefined;
  #passive: PassiveListener | undefined;
  /** Ack replies waiting for a state that holds their ack, then those riding on proposed entries. */
  #replies: string[] = [];
  #riding = new Map<number, { term: number; replies: string[] }>();
  #scheduled = false;
  #closed = false;
  /** The last entry this leader proposed (a step-down waits until it is applied). */
  #lastIndex = 0;
  #stepAfter: { index: number; fn: () => void; ticks: number } | undefined;
  /** Pull requests the consumer held when it stopped running here: they go to whoever runs it next. */
  #orphans: PullRequest[] = [];
  #heldPulls: Array<{ reply: string; body: Uint8Array }> = [];
  /** A step-down asked for before this replica led with its log applied. */
  #stepWhenReady: (() => void) | undefined;
  /** Applied entries (tests, monitoring) and their bytes. */
  applied = 0;
  appliedBytes = 0;
  /** Snapshots installed from the leader (catching up), not counting the one loaded at start. */
  installed = 0;
  /** No state from the log yet (none applied, no snapshot): only then may a just-created consumer be adopted. */
  #fresh = true;

  constructor(
    readonly stream: Stream,
    readonly name: string,
    config: ConsumerConfig,
    created: string,
    initial: ConsumerState | undefined,
    deps: ConsumerReplicaDeps,
  ) {
    this.config = config;
    this.created = created;
    this.#rc = initial ? replicated(initial) : undefined;
    this.#deps = deps;
    // The server whose API just created the consumer runs it already; the others stand in for it.
    if (!this.#engineConsumer()) this.#setPassive(true);
  }

  #engineConsumer(): Consumer | undefined {
    return this.#deps.engine.consumers.get(this.stream.name)?.get(this.name);
  }

  isLeader(): boolean {
    return this.group.isLeader();
  }

  get ready(): boolean {
    return this.#ready;
  }

  get live(): Consumer | undefined {
    return this.#live;
  }

  /** The replicated state as this replica holds it (the passive listener reads it). */
  get replicated(): ReplicatedConsumer | undefined {
    return this.#rc;
  }

  /** The replicated state, whole (a copy). */
  get state(): ConsumerState | undefined {
    return this.#rc ? snapshotOf(this.#rc) : undefined;
  }

  /** The group's apply handler: a committed entry, in log order. */
  apply(entry: Entry): void {
    if (entry.kind !== "cmd") {
      if (entry.kind === "noop" && this.isLeader() && entry.term === this.group.node.term) this.#becomeReady();
      return;
    }
    let cmd = decodeConsumerCmd(entry.data);
    if (cmd instanceof Error) throw new Error(`consumer ${this.stream.name} > ${this.name}: corrupted log entry ${entry.index}: ${cmd.message}`);
    if (this.#deps.tamper) cmd = this.#deps.tamper(cmd);
    if (cmd.op === "state") this.#applyState(cmd.state);
    else this.#applyDelta(cmd);
    this.#fresh = false;
    this.applied++;
    this.appliedBytes += entry.data.length;
    this.#sinceSnap += entry.data.length;
    const r = this.#riding.get(entry.index);
    if (r !== undefined) {
      this.#riding.delete(entry.index);
      if (r.term === entry.term) for (const reply of r.replies) this.#deps.engine.bus.publish(reply, new Uint8Array(0));
    }
    const st = this.#stepAfter;
    if (st && entry.index >= st.index) {
      this.#stepAfter = undefined;
      st.fn();
    }
    const every = this.#deps.compactEvery ?? COMPACT_EVERY;
    if (entry.index - this.group.node.log.snapIndex >= every && this.#sinceSnap >= 32 + 8 * (this.#rc?.book.pending.size ?? 0)) {
      this.group.compact(entry.index, encodeConsumerSnapshot(this.state));
      this.#sinceSnap = 0;
    }
  }

  #where(): string {
    return `consumer ${this.stream.name} > ${this.name} on ${this.#deps.self}`;
  }

  /** Interest and work-queue retention: a message the consumer no longer needs may leave the stream (its
   * leader proposes the removal; elsewhere `submit` does nothing). The live consumer does this itself. */
  readonly #released = (seq: number): void => {
    const s = this.stream;
    if (s.cfg.retention === "limits" || this.#live) return;
    const subject = s.index.subjectOf(seq);
    if (subject !== undefined) s.checkInterest(seq, subject);
  };

  #applyDelta(cmd: Extract<ConsumerCmd, { op: "delta" }>): void {
    // A consumer with no state yet (an assignment from an older log): it starts from nothing delivered.
    const rc = this.#rc ??= { book: acks.newAckState(0), cursor: 0 };
    const before = bookMarks(rc.book);
    const where = this.#where();
    for (const e of cmd.events) applyEvent(rc, e, this.#released, where);
    assertForward(where, before, bookMarks(rc.book));
  }

  /** A whole state (the first leader adopting the consumer its API created, or an older log). */
  #applyState(next: ConsumerState): void {
    const prev = this.#rc;
    assertForward(this.#where(), prev && bookMarks(prev.book), marksOf(next));
    this.#rc = replicated(next);
    const s = this.stream;
    if (s.cfg.retention === "limits" || this.#live || !prev) return;
    const rc = this.#rc;
    const check = (seq: number) => {
      if (!rc.book.pending.has(seq)) this.#released(seq);
    };
    for (const seq of [...prev.book.pending.keys()]) check(seq);
    const to = Math.min(next.cursor - 1, s.lastSequence);
    for (let q = s.nextMatching(Math.max(prev.cursor, s.firstSequence), []); q !== undefined && q <= to; q = s.nextMatching(q + 1, [])) check(q);
  }

  /** The group's restore handler: a snapshot holds the whole state. */
  restore(snap: Snapshot): void {
    const st = decodeConsumerSnapshot(snap.data);
    if (st instanceof Error) throw new Error(`${this.#where()}: corrupted snapshot ${snap.meta.index}: ${st.message}`);
    this.#sinceSnap = 0;
    if (!st) return;
    if (this.group) this.installed++;
    // A snapshot sent by the leader replaces an older state; it never goes back either.
    if (this.group) assertForward(`${this.#where()} (snapshot)`, this.#rc && bookMarks(this.#rc.book), marksOf(st));
    this.#rc = replicated(st);
    this.#fresh = false;
  }

  #becomeReady(): void {
    if (this.#closed) return;
    this.#ready = true;
    const engine = this.#deps.engine;
    const existing = this.#engineConsumer();
    this.#writer.clear();
    if (existing && this.#fresh) {
      // The consumer this server's API just created runs now; its state goes into the log whole, once, so the
      // deltas that follow apply to exactly what it holds.
      this.#live = existing;
      existing.paused = false;
      const r = this.group.propose(encodeConsumerCmd({ op: "state", state: existing.state() }));
      if (r.ok) this.#lastIndex = r.index;
    } else {
      if (existing) this.#detach(existing);
      this.#live = engine.attachConsumer(this.stream.name, structuredClone(this.config), this.created, this.state);
    }
    // Its acks come here from now on, subscribed before it delivers (its first delivery is a turn away).
    if (this.#live) engine.routeAcks(this.#live, true);
    this.#live?.setJournal(this.#writer);
    this.#setPassive(false);
    // A pull consumer started from a state whose deliveries are due again: let it look.
    this.#live?.kick();
    this.#handOverOrphans();
    this.noteState();
    this.#deps.onLeaderReady?.(this);
    const sd = this.#stepWhenReady;
    this.#stepWhenReady = undefined;
    if (sd) this.stepDownAfterFlush(sd);
  }

  /** Leadership changed: a server that no longer leads stops delivering and keeps the replicated state. */
  leaderChanged(leader: PeerId | null): void {
    if (leader === this.#deps.self) return;
    if (leader !== null) this.#stepWhenReady = undefined;
    this.#lost();
    // Another server leads: a consumer this server's API created meanwhile does not run here.
    const stray = leader !== null ? this.#engineConsumer() : undefined;
    if (stray) {
      this.#detach(stray);
      if (!this.#closed) this.#setPassive(true);
    }
    if (leader !== null) this.#handOverOrphans();
  }

  /** A pull request that came while this leader applies its log: served once it runs the consumer. */
  holdPull(reply: string, body: Uint8Array): void {
    if (this.#heldPulls.length < 1000) this.#heldPulls.push({ reply, body });
  }

  /** Waiting pull requests left here go to the consumer's runner: this server's live consumer, or its leader. */
  #handOverOrphans(): void {
    const held = this.#heldPulls;
    this.#heldPulls = [];
    if (this.#live) for (const h of held) this.#live.pullRequest(h.reply, h.body);
    const reqs = this.#orphans;
    if (reqs.length === 0) return;
    this.#orphans = [];
    const engine = this.#deps.engine;
    const now = engine.now();
    for (const r of reqs) {
      const left = r.batch - r.delivered;
      if (left <= 0 || (r.expiresAt > 0 && r.expiresAt <= now)) continue;
      const body: Record<string, unknown> = { batch: left };
      if (r.expiresAt > 0) body.expires = (r.expiresAt - now) * 1_000_000;
      if (r.maxBytes > 0) body.max_bytes = r.maxBytes;
      if (r.heartbeat > 0) body.idle_heartbeat = r.heartbeat * 1_000_000;
      const payload = enc.encode(JSON.stringify(body));
      if (this.#live) this.#live.pullRequest(r.reply, payload);
      else engine.bus.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream.name}.${this.name}`, payload, { reply: r.reply });
    }
  }

  #lost(): void {
    this.#ready = false;
    this.#replies = [];
    this.#writer.clear();
    const live = this.#live;
    this.#live = undefined;
    if (live) this.#detach(live);
    if (!this.#closed && !this.#engineConsumer()) this.#setPassive(true);
  }

  /** An engine copy of this consumer that this replica does not run (and that is not a fresh creation): stopped. */
  reapStray(): void {
    const c = this.#engineConsumer();
    if (!c || c === this.#live || c.paused) return;
    this.#detach(c);
    if (!this.#closed) this.#setPassive(true);
  }

  #detach(c: Consumer): void {
    // Acks in flight go nowhere until the next leader subscribes; their messages come back after the ack wait.
    this.#deps.engine.routeAcks(c, false);
    c.setJournal(undefined);
    if (!this.#closed) this.#orphans.push(...c.takeWaiting());
    c.close(false);
    this.stream.listeners.delete(c);
    const map = this.#deps.engine.consumers.get(this.stream.name);
    if (map?.get(this.name) === c) map.delete(this.name);
  }

  #setPassive(on: boolean): void {
    if (on && !this.#passive) {
      this.#passive = new PassiveListener(this);
      this.stream.listeners.add(this.#passive);
    } else if (!on && this.#passive) {
      this.stream.listeners.delete(this.#passive);
      this.#passive = undefined;
    }
  }

  /** The consumer's config changed (a replicated update). */
  configure(cfg: ConsumerConfig): void {
    this.config = cfg;
    this.#passive?.refresh();
    if (this.#live) this.#live.cfg = structuredClone(cfg);
  }

  /** The live consumer's state changed: propose what changed (coalesced into one entry per turn). */
  noteState(): void {
    if (!this.#live || !this.#ready || this.#scheduled) return;
    this.#scheduled = true;
    (this.#deps.schedule ?? queueMicrotask)(() => this.flush());
  }

  /** An ack asked for a reply: it is sent once an entry holding the ack is applied. */
  holdAckReply(reply: string): void {
    this.#replies.push(reply);
    this.noteState();
  }

  /** Proposes the live consumer's changes now (also before a hand-off). */
  flush(): void {
    this.#scheduled = false;
    const live = this.#live;
    if (!live || !this.#ready || !this.isLeader()) return;
    // Nothing changed: an entry only to carry ack replies (an ack of something already acknowledged).
    if (this.#writer.empty && this.#replies.length === 0) return;
    const r = this.group.propose(this.#writer.take());
    if (!r.ok) return this.#lost();
    this.#lastIndex = r.index;
    if (this.#replies.length > 0) {
      this.#riding.set(r.index, { term: r.term, replies: this.#replies });
      this.#replies = [];
    }
  }

  /**
   * A step-down: the live consumer's latest state goes into the log first, and leadership moves once it is
   * applied here (committed), so the successor resumes from every ack this leader took.
   */
  stepDownAfterFlush(fn: () => void): void {
    if (!this.isLeader() || !this.#ready) {
      this.#stepWhenReady = fn;
      return;
    }
    this.flush();
    if (this.#lastIndex <= this.group.node.applied) return queueMicrotask(fn);
    this.#stepAfter = { index: this.#lastIndex, fn, ticks: 0 };
  }

  /** Called on every host tick: a step-down whose entry never commits (no quorum) goes ahead after a while. */
  tick(): void {
    const st = this.#stepAfter;
    if (st && ++st.ticks > 40) {
      this.#stepAfter = undefined;
      st.fn();
    }
  }

  /** The consumer was deleted or this server no longer holds it. */
  close(): void {
    this.#closed = true;
    this.#lost();
    const stray = this.#engineConsumer();
    if (stray) this.#detach(stray);
    this.#setPassive(false);
  }

  /** Consumer info from the replicated state (a server that does not run the consumer: list, step-down). */
  info(): Record<string, unknown> {
    const b = this.#rc?.book;
    const s = this.stream;
    const cursor = this.#rc?.cursor ?? s.firstSequence;
    return {
      stream_name: s.name,
      name: this.name,
      created: this.created,
      config: consumerConfigJson(this.config),
      delivered: b ? { consumer_seq: b.dseq, stream_seq: b.lastDeliveredSseq } : { consumer_seq: 0, stream_seq: 0 },
      ack_floor: b ? { ...b.ackFloor } : { consumer_seq: 0, stream_seq: 0 },
      num_ack_pending: b?.pending.size ?? 0,
      num_redelivered: b ? acks.redeliveredPending(b) : 0,
      num_waiting: 0,
      num_pending: s.countFrom(cursor, consumerFilters(this.config)),
    };
  }
}
