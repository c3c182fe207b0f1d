/**
 * One server's replica of a consumer of a replicated stream, bound to the consumer's own Raft group (placed on
 * the stream's peers; its leader may differ from the stream's). The group's log carries the consumer's state —
 * delivered, ack floor, pending with delivery counts and times, redelivered count, cursor — and every replica
 * (the leader too, a restart, the simulator) changes its copy only through `apply(entry)`, which asserts that
 * the ack floor and the delivered sequence never go back.
 *
 * The leader runs the live `Consumer` (it delivers, takes acks and pull requests) from the replicated state
 * once it has applied its whole log, and proposes the live consumer's state as it changes (coalesced, a full
 * state per entry, so an entry lost with a failed leader is made good by the next one). Acks that ask for a
 * reply are answered only once a state holding them is applied: an acknowledged ack survives a leader change.
 * The other replicas keep a passive stream listener that tells the stream what the consumer still needs
 * (interest and work-queue retention), from the replicated state.
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { Entry, PeerId, Snapshot } from "../../raft/types.ts";
import { type ConsumerConfig, consumerConfigJson, consumerFilters } from "../config.ts";
import type { Consumer, ConsumerState } from "../consumer.ts";
import type { PullRequest } from "../pull.ts";
import type { JetStream } from "../engine.ts";
import type { Stream, StreamListener } from "../stream.ts";
import { subjectMatches } from "../../subjects/subject.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Compact the consumer's log behind its state every this many entries (a state entry is the whole state). */
const COMPACT_EVERY = 64;

/** What the consumer group's log carries: the consumer's whole replicated state. */
export type ConsumerCmd = { readonly op: "state"; readonly state: ConsumerState };

export function encodeConsumerCmd(c: ConsumerCmd): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeConsumerCmd(b: Uint8Array): ConsumerCmd | Error {
  try {
    const v = JSON.parse(dec.decode(b)) as ConsumerCmd;
    if (v?.op !== "state" || typeof v.state !== "object" || v.state === null) return new Error("not a consumer command");
    return v;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/**
 * The invariant of a consumer's replicated state: its ack floor and delivered sequence never go back. Throws
 * (a bug: a replica applied something out of order or twice) naming what went back.
 */
export function assertForward(where: string, prev: ConsumerState | undefined, next: ConsumerState): void {
  if (!prev) return;
  const back = (what: string, a: number, b: number) => {
    if (b < a) throw new Error(`${where}: ${what} went backwards (${a} -> ${b})`);
  };
  back("ack floor stream seq", prev.ack_floor.stream_seq, next.ack_floor.stream_seq);
  back("ack floor consumer seq", prev.ack_floor.consumer_seq, next.ack_floor.consumer_seq);
  back("delivered consumer seq", prev.delivered.consumer_seq, next.delivered.consumer_seq);
}

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
    const st = this.rep.state;
    if (!st) return true;
    return seq >= st.cursor || this.rep.pendingSeqs.has(seq);
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
  state: ConsumerState | undefined;
  /** The stream sequences pending in `state` (what a passive replica tells its stream it still needs). */
  pendingSeqs = new Set<number>();
  readonly #deps: ConsumerReplicaDeps;
  #ready = false;
  #live: Consumer | undefined;
  #passive: PassiveListener | undefined;
  /** Ack replies waiting for a state that holds their ack, then those riding on proposed entries. */
  #replies: string[] = [];
  #riding = new Map<number, { term: number; replies: string[] }>();
  #scheduled = false;
  #lastProposed = "";
  #closed = false;
  /** The last entry this leader proposed (a step-down waits until it is applied). */
  #lastIndex = 0;
  #stepAfter: { index: number; fn: () => void; ticks: number } | undefined;
  /** Pull requests the consumer held when it stopped running here: they go to whoever runs it next. */
  #orphans: PullRequest[] = [];
  #heldPulls: Array<{ reply: string; body: Uint8Array }> = [];
  /** A step-down asked for before this replica led with its log applied. */
  #stepWhenReady: (() => void) | undefined;
  /** Applied state entries (tests, monitoring). */
  applied = 0;
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
    this.state = initial;
    if (initial) this.pendingSeqs = new Set(initial.pending.map((p) => p[0]));
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

  /** The group's apply handler: a committed entry, in log order. */
  apply(entry: Entry): void {
    if (entry.kind !== "cmd") {
      if (entry.kind === "noop" && this.isLeader() && entry.term === this.group.node.term) this.#becomeReady();
      return;
    }
    let cmd = decodeConsumerCmd(entry.data);
    if (cmd instanceof Error) throw new Error(`consumer ${this.stream.name} > ${this.name}: corrupted log entry ${entry.index}: ${cmd.message}`);
    if (this.#deps.tamper) cmd = this.#deps.tamper(cmd);
    this.#applyState(cmd.state);
    this.applied++;
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
    if (entry.index - this.group.node.log.snapIndex >= every) {
      this.group.compact(entry.index, enc.encode(JSON.stringify(this.state ?? null)));
    }
  }

  #applyState(next: ConsumerState): void {
    const prev = this.state;
    assertForward(`consumer ${this.stream.name} > ${this.name} on ${this.#deps.self}`, prev, next);
    this.state = next;
    this.#fresh = false;
    this.pendingSeqs = new Set(next.pending.map((p) => p[0]));
    // Interest and work-queue retention: what this state acknowledged may leave the stream (its leader
    // proposes the removal; elsewhere `submit` does nothing).
    const s = this.stream;
    if (s.cfg.retention === "limits" || this.#live || !prev) return;
    const check = (seq: number) => {
      if (this.pendingSeqs.has(seq)) return;
      const subject = s.index.subjectOf(seq);
      if (subject !== undefined) s.checkInterest(seq, subject);
    };
    for (const p of prev.pending) check(p[0]);
    const to = Math.min(next.cursor - 1, s.lastSequence);
    for (let q = s.nextMatching(Math.max(prev.cursor, s.firstSequence), []); q !== undefined && q <= to; q = s.nextMatching(q + 1, [])) check(q);
  }

  /** The group's restore handler: a snapshot holds the whole state. */
  restore(snap: Snapshot): void {
    const st = JSON.parse(dec.decode(snap.data)) as ConsumerState | null;
    if (st) {
      // A snapshot sent by the leader replaces an older state; it never goes back either.
      if (this.group) assertForward(`consumer ${this.stream.name} > ${this.name} on ${this.#deps.self} (snapshot)`, this.state, st);
      this.state = st;
      this.pendingSeqs = new Set(st.pending.map((p) => p[0]));
      this.#fresh = false;
    }
  }

  #becomeReady(): void {
    if (this.#closed) return;
    this.#ready = true;
    const engine = this.#deps.engine;
    const existing = this.#engineConsumer();
    if (existing && this.#fresh) {
      // The consumer this server's API just created (its first state is not replicated yet): it runs now.
      this.#live = existing;
      existing.paused = false;
    } else {
      if (existing) this.#detach(existing);
      this.#live = engine.attachConsumer(this.stream.name, structuredClone(this.config), this.created, this.state ? structuredClone(this.state) : undefined);
    }
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

  /** The live consumer's state changed: propose it (coalesced into one entry per turn). */
  noteState(): void {
    if (!this.#live || !this.#ready || this.#scheduled) return;
    this.#scheduled = true;
    (this.#deps.schedule ?? queueMicrotask)(() => this.flush());
  }

  /** An ack asked for a reply: it is sent once a state holding the ack is applied. */
  holdAckReply(reply: string): void {
    this.#replies.push(reply);
    this.noteState();
  }

  /** Proposes the live consumer's current state now (also before a hand-off). */
  flush(): void {
    this.#scheduled = false;
    const live = this.#live;
    if (!live || !this.#ready || !this.isLeader()) return;
    const state = live.state();
    const text = JSON.stringify(state);
    if (text === this.#lastProposed && this.#replies.length === 0) return;
    const r = this.group.propose(encodeConsumerCmd({ op: "state", state }));
    if (!r.ok) return this.#lost();
    this.#lastProposed = text;
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
    const st = this.state;
    const s = this.stream;
    const pending = st?.pending ?? [];
    const cursor = st?.cursor ?? s.firstSequence;
    return {
      stream_name: s.name,
      name: this.name,
      created: this.created,
      config: consumerConfigJson(this.config),
      delivered: st?.delivered ?? { consumer_seq: 0, stream_seq: 0 },
      ack_floor: st?.ack_floor ?? { consumer_seq: 0, stream_seq: 0 },
      num_ack_pending: pending.length,
      num_redelivered: pending.filter((p) => p[3] > 1).length,
      num_waiting: 0,
      num_pending: s.countFrom(cursor, consumerFilters(this.config)),
    };
  }
}
