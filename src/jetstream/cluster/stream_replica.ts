/**
 * One server's replica of a replicated stream: the stream (opened by the engine) bound to its Raft group.
 * The leader validates publishes and API changes, assigns sequence and time, proposes; every replica applies
 * committed entries through `Stream.apply` and the consumer records; the leader answers once its entry is
 * applied. The log also carries its consumers' assignments (`cadd`/`cdel`); each consumer runs in a Raft group
 * of its own (consumer_groups.ts, consumer_replica.ts).
 */
import type { RaftGroup } from "../../raft/host.ts";
import type { Entry, PeerId, Snapshot, SnapshotMeta } from "../../raft/types.ts";
import { LogBudget, type LogBudgetLimits } from "./log_budget.ts";
import type { ConsumerConfig } from "../config.ts";
import type { ConsumerState } from "../consumer.ts";
import { type JetStream, pubAckBytes } from "../engine.ts";
import type { ApiError } from "../errors.ts";
import { type ApplyResult, isEntry, type Stream, type StreamEntry } from "../stream.ts";
import type { FlowConsumer } from "../../server/flow.ts";
import type { BusMsg, ResendMark } from "../types.ts";
import { storedSize } from "../store/types.ts";
import { CmdArena, decodeCmd, encodeCmd, type GroupCmd, type SyncBatch } from "./entries.ts";
import { MAX_HOPS, REPEAT_WINDOW_MS, RepeatFilter } from "./forward.ts";

/** Publishes held while a new leader catches up with its log (beyond this, they are dropped: clients retry). */
const MAX_QUEUED = 10_000;
/**
 * A leader that took over by a hand-off holds its direct publishes for the old leader's end mark. The mark comes
 * after the old leader's route barrier (up to its 2 s cap, more on a loaded host), so a wall-time bound alone let
 * the held publishes go ahead of the old leader's passed-on ones on a stalled host (leader_forward's reorder under
 * load). The wait ends on the mark; without it, once at least HANDOFF_END_MS passed and the old leader has not
 * answered this leader's Raft traffic for HANDOFF_SILENT_TICKS ticks in a row (gone or cut off: it will send no
 * mark); or at HANDOFF_MAX_MS whatever happens (an old leader that answers but never sends a mark).
 */
const HANDOFF_END_MS = 500;
/** Ticks in a row (counted, not timed: a stalled host loses time, not ticks) the old leader must be silent. */
const HANDOFF_SILENT_TICKS = 6;
const HANDOFF_MAX_MS = 3_000;
/**
 * Ticks a client publish stranded here (no leader's interest) waits for the next leader to be known before it goes
 * to the leader known, stale or not (#misroute).
 */
const STRANDED_TICKS = 20;
/**
 * Bytes of this leader's proposals not applied yet past which the client publishing waits (JsBus.holdPublisher),
 * as it would for a slow subscriber; it goes on once under half of it. Nothing is dropped or refused.
 */
const INTAKE_MAX_BYTES = 8 << 20;
/** Compact the Raft log behind the stream's store (durably) every this many entries (default). */
const COMPACT_EVERY = 8192;
/** Messages in one catch-up batch. */
const SYNC_BATCH = 512;
/** Ticks without catch-up progress before asking again. */
const SYNC_RETRY_TICKS = 20;

/** What a stream group's snapshot holds: where the stream stands (its messages are in the store) and the consumers. */
interface SnapData {
  lastSeq: number;
  firstSeq: number;
  consumers: Array<[string, ConsumerRecord]>;
}

export interface ConsumerRecord {
  config: ConsumerConfig;
  created: string;
  /** The consumer's first state (its start position, computed once by the server that created it). */
  state?: ConsumerState;
  /** The consumer's Raft group and its founding peers (the first is the preferred first leader). */
  group?: string;
  peers?: readonly string[];
}

type Done = (r: ApplyResult) => void;
/** A proposal that will never be applied: dropped unproposed with the leadership, or replaced in the log. */
type Lost = () => void;

interface Pending {
  readonly term: number;
  /** A publish's reply subject (answered with its PubAck), or `done` for other proposals. */
  readonly reply: string | undefined;
  readonly done: Done | undefined;
  /** Told when another leader's log replaced the entry (`done` never runs then). */
  readonly lost: Lost | undefined;
  readonly msgId: string | undefined;
  /** Its entry's bytes (counted in the intake until applied). */
  readonly bytes: number;
  /** A message's stored size (counted against discard-new limits until applied; 0 for other commands). */
  readonly size: number;
  /** The entry (a view the log holds too): a publish whose entry another leader replaced is sent again from it. */
  readonly data: Uint8Array;
}

export interface ReplicaDeps {
  readonly engine: JetStream;
  readonly self: PeerId;
  readonly now: () => number;
  /** Called the first time this replica is the leader with everything applied (answers a create request). */
  readonly onLeaderReady?: (r: StreamReplica) => void;
  /** How a proposal batch is scheduled (default: a microtask); the simulator passes its own queue. */
  readonly schedule?: (fn: () => void) => void;
  /** Make the stream's store durable (before the log behind it is compacted away). */
  readonly syncStore?: () => void;
  /**
   * The same off the event loop: `done` once the store is durable. When given, compaction waits for it and only
   * then drops the log (the stream keeps applying meanwhile); `syncStore` is then not used.
   */
  readonly syncStoreAsync?: (done: () => void) => void;
  /**
   * Ask the group's other replicas for messages `from..to` as they stand once log entry `index` is applied
   * (answers come to `onSyncBatch`).
   */
  readonly requestSync?: (group: string, from: number, to: number, index: number, attempt: number) => void;
  /** Entries between log compactions (tests use small numbers). */
  readonly compactEvery?: number;
  /**
   * At most one compaction per this many milliseconds (by `now`): the log on disk holds a little more, the store
   * and snapshot are fsynced less often. What the log holds in memory is bounded by `logBudget` meanwhile.
   */
  readonly compactIntervalMs?: number;
  /** How much applied log stays in memory (log_budget.ts; tests use small numbers). */
  readonly logBudget?: Partial<LogBudgetLimits>;
  /** A consumer assignment was applied (added, updated or removed): the consumer groups follow. */
  readonly consumersChanged?: () => void;
  /**
   * A consumer's removal was applied (before `consumersChanged`): the server running it deletes it, and the one
   * whose API asked answers (consumer_groups.ts). `group`: the consumer's group the removal named, if any.
   */
  readonly consumerRemoved?: (name: string, group: string | undefined) => void;
  /**
   * A consumer's assignment was applied (after `consumersChanged`): the server whose API asked for it (a create,
   * an update) answers (consumer_groups.ts). `group`: the consumer's group.
   */
  readonly consumerAssigned?: (name: string, config: ConsumerConfig, group: string | undefined) => void;
  /** Pass a publish that reached this server after it stopped leading to the group's leader (forward.ts). */
  readonly forward?: (leader: PeerId, m: BusMsg) => void;
  /**
   * The subject to acknowledge a passed-on publish on: `reply` itself once this server heard of it, else one that
   * reaches the requester through `origin`, the server that first passed it on (answer_back.ts).
   */
  readonly answerBack?: (reply: string, origin: string) => string;
  /** Why the leader refuses `m` before proposing it (the account's storage limit), if it does. */
  readonly refuse?: (m: BusMsg) => ApiError | undefined;
  /** INTAKE_MAX_BYTES (tests use small numbers). */
  readonly intakeMaxBytes?: number;
}

export class StreamReplica implements FlowConsumer {
  readonly stream: Stream;
  group!: RaftGroup;
  readonly consumers = new Map<string, ConsumerRecord>();
  readonly #deps: ReplicaDeps;
  /** The last sequence this leader proposed (ahead of the stream's while entries are in flight). */
  #clseq = 0;
  #ready = false;
  /**
   * This leader's proposals by log index: who to answer (a publish's reply subject, or `done`). Nothing of the
   * message itself is kept here: the entry is decoded when applied, as on every replica, so a proposal in flight
   * holds its log entry only (what lives until the commit is what the runtimes promote to their old generation).
   */
  #pending = new Map<number, Pending>();
  /** The bytes of this leader's message commands (entries.ts). */
  readonly #arena = new CmdArena();
  /** Nats-Msg-Id of proposals not yet applied, with the replies of retries waiting for the same entry. */
  #inflightIds = new Map<string, string[]>();
  /** Proposed, not yet applied: each subject's latest sequence and the latest Msg-Id (for conditional publishes). */
  #inflightSubjects = new Map<string, number>();
  #inflightLast: { seq: number; msgId: string | null } | undefined;
  /** Messages proposed, not yet applied, and their stored bytes; per subject under discard new per subject. */
  #inflightMsgs = 0;
  #inflightStored = 0;
  readonly #inflightPerSubject = new Map<string, number>();
  #queue: BusMsg[] = [];
  #batch: Array<{ data: Uint8Array; reply: string | undefined; done: Done | undefined; lost: Lost | undefined; msgId: string | undefined; size: number }> = [];
  /**
   * Publishes this server took as leader and lost with the leadership (unproposed, or their entries replaced), in
   * the order it took them: sent again once none of its proposals' fate is open (#resendDeferred).
   */
  #deferred: BusMsg[] = [];
  /** Publishes a snapshot covered whose fate its stream's dedupe window tells, once caught up (#settleCovered). */
  #coveredIds: Array<{ msgId: string; replies: string[] }> = [];
  /** Message removals (the API's delete) a snapshot covered: answered by the restored store, once caught up. */
  #coveredRemovals: Array<{ seqs: readonly number[]; done: Done }> = [];
  #chains = 0;
  /** The last re-sent publish this leader took (or refused by its own checks), for the next of its chain. */
  #lastResend: { chain: string; k: number; seq: number; inPlace: boolean } | undefined;
  /**
   * For a while after this leader took over (while publishes of the old one may come again): per client (a
   * reply's inbox, up to its last token: one connection's), the last sequence taken from it and the chain it came
   * in, if re-sent. `#takenUntil` 0: not kept. `#readySeq`: the stream's last sequence when this leader took over.
   */
  readonly #takenBy = new Map<string, { seq: number; chain: string | undefined }>();
  #takenUntil = 0;
  #readySeq = 0;
  /** Bytes of this leader's proposals (batched or pending) not applied yet: what back-pressure is about. */
  #intake = 0;
  /** Publishers held for this leader's intake wait for these wakes (FlowConsumer.whenDrained). */
  #drainWaiters: Array<() => void> = [];
  /** A publisher waited a whole stall without the intake shrinking: hold nobody until it caught up (flow.ts). */
  stallExhausted = false;
  #batchScheduled = false;
  /** Applied commands (not counting no-ops), for tests and monitoring. */
  applied = 0;
  /** Catching up after a snapshot: the stream's store must reach `target` before the log goes on. */
  #sync: { target: number; firstSeq: number; index: number; idle: number; expect: number; attempt: number; asked: number } | undefined;
  /** The last log entry applied to the stream (a replica serving a catch-up must be at least there). */
  #appliedIndex = 0;
  #held: Entry[] = [];
  /** When this replica last compacted its log (by `now`). */
  #lastCompact = 0;
  /** Snapshots taken as entries are applied, to trim the log in memory by (log_budget.ts). */
  #budget!: LogBudget;
  /** An asynchronous compaction waits for the store's fsync. */
  #compacting = false;
  #closed = false;
  /** Set while this leader hands its leadership over (graceful stop): publishes wait in `#handoff`. */
  handingOff = false;
  #handoff: BusMsg[] = [];
  /**
   * This leader took over by a hand-off from `from` (a Raft transfer): the publishes that reach it directly wait in
   * `#direct` until the old leader's end mark (BusMsg.handoffEnd) says it passed on everything it held, or until
   * the wait is over without it (#handoffOver: `since` by `now`, `silent` ticks in a row without the old leader
   * answering). Taken first, a client's later publish that came here directly would be stored ahead of an
   * earlier one the old leader held during the hand-off (both acknowledged, out of order). Publishes another
   * server passed on (`origin` not the old leader: a third server's client publish stranded there between the old
   * leader's interest and this one's) wait with them: the old leader may still pass on an earlier one of the same
   * client that was routed to it (#sendEndMark); its own passed-on ones are taken meanwhile.
   */
  #awaiting: { from: PeerId; since: number; silent: number } | undefined;
  /**
   * This server led since it last told a successor it passed everything on: the next
   * leader it learns of gets an end mark, also when it lost the leadership in two steps (no leader first) after a
   * hand-off it had given up (cancelHandOff) while its transfer's target was already campaigning.
   */
  #markOwed = false;
  #direct: BusMsg[] = [];
  /** Publishes sent here for a leader this server no longer is, while no leader is known: forwarded to the next. */
  #misrouted: BusMsg[] = [];
  /** Ticks since `#misrouted` got its first publish (STRANDED_TICKS). */
  #misroutedTicks = 0;
  /** A new leader takes one copy of a publish that came both directly and forwarded (forward.ts). */
  readonly #repeats = new RepeatFilter();
  /** The same for API requests: one copy of a request that came directly and passed on (api_pass_on.ts). */
  readonly apiRepeats = new RepeatFilter();
  /**
   * Another server led the stream since this one started: only then can a copy come forwarded (the first leader
   * of a new stream, as in a benchmark, does not hash its publishes for the window).
   */
  #otherLed = false;

  constructor(stream: Stream, deps: ReplicaDeps) {
    this.stream = stream;
    this.#deps = deps;
    this.#budget = new LogBudget(deps.logBudget);
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

  /** Proposals of this server not applied yet (a server handing off waits for their answers before it stops). */
  get inFlight(): number {
    return this.#pending.size + this.#handoff.length;
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
    // Only a successor that is waiting for it takes a hand-off's end mark (#awaiting).
    if (m.handoffEnd === true && (this.handingOff || !this.isLeader())) return;
    if (this.handingOff) {
      // Leadership is moving (this server stops): until the successor leads, publishes wait here and then go
      // to it — also while the successor is only a candidate and no server would take them.
      if (this.#handoff.length < MAX_QUEUED) this.#handoff.push(m);
      return;
    }
    if (!this.isLeader()) {
      this.#misroute(m);
      return;
    }
    if (!this.#ready) {
      if (this.#queue.length < MAX_QUEUED) this.#queue.push(m);
      return;
    }
    if (m.handoffEnd === true) {
      if (this.#awaiting !== undefined) this.#takeDirect();
      return;
    }
    if (this.#awaiting !== undefined && m.resend === undefined && (m.forwarded !== true || (m.origin !== undefined && m.origin !== this.#awaiting.from))) {
      if (this.#direct.length < MAX_QUEUED) {
        this.#direct.push(m);
        return;
      }
      this.#takeDirect();
    }
    const now = this.#deps.now();
    // Matched by its reply as it came (the direct copy has the same), before the reply may be mapped below.
    if (this.#repeats.repeat(m, now)) return;
    const s = this.stream;
    // Not brought by the stream's own subscription: it must still be one of the stream's subjects (an update may
    // have changed them since it was first taken).
    if ((m.forwarded === true || m.resend !== undefined) && !s.capturesSubject(m.subject)) return;
    if (m.resend === undefined) return this.#take(m, now);
    const order = this.#inOrder(m.resend, m.reply, now);
    if (order === undefined) return;
    this.#take(m, now);
    // Taken, or refused by its own checks: the next of its chain follows right after.
    this.#lastResend = { chain: m.resend.chain, k: m.resend.k, seq: this.#clseq, inPlace: order === "in place" };
  }

  /**
   * A re-sent publish (ResendMark) is taken only where it cannot come after a publish its client sent later:
   * the first of its chain while this leader's last sequence is still the one its old leader had before it,
   * each next one right after the one before it; or, while this leader keeps who it took publishes from since it
   * took over at that point, when nothing of the same client (reply inbox) was taken since but this chain's own.
   * Otherwise it is dropped unanswered, as nats-server drops a publish whose proposal was lost (its client times
   * out and decides).
   */
  #inOrder(r: ResendMark, reply: string | undefined, now: number): "in place" | "by client" | undefined {
    const prev = this.#lastResend;
    const inPlace = r.k === 0
      ? this.#clseq === r.after
      : prev !== undefined && prev.inPlace && prev.chain === r.chain && prev.k === r.k - 1 && prev.seq === this.#clseq;
    if (inPlace) return "in place";
    // Everything after `after` taken here, and who from is known: other clients' publishes do not matter.
    if (!this.#keepsTaken(now) || this.#readySeq !== r.after || reply === undefined) return undefined;
    const t = this.#takenBy.get(inboxOf(reply));
    return t === undefined || t.seq <= r.after || t.chain === r.chain ? "by client" : undefined;
  }

  /** Is `#takenBy` still kept (the window after taking over)? Dropped once past it. */
  #keepsTaken(now: number): boolean {
    if (this.#takenUntil === 0) return false;
    if (now <= this.#takenUntil) return true;
    this.#takenUntil = 0;
    this.#takenBy.clear();
    return false;
  }

  /** A publish the leader validates and proposes (or answers with its error). */
  #take(m: BusMsg, now: number): void {
    const s = this.stream;
    let reply = m.reply && !s.cfg.no_ack ? m.reply : undefined;
    // A passed-on copy may have come ahead of the interest in its reply: acknowledged through its origin.
    if (reply !== undefined && m.origin !== undefined && m.forwarded === true) reply = this.#deps.answerBack?.(reply, m.origin) ?? reply;
    const refused = this.#deps.refuse?.(m);
    if (refused !== undefined) {
      if (reply) this.#answer(reply, refused);
      return;
    }
    const hdr = m.headers && m.headers.length > 0 ? m.headers : undefined;
    const e = s.prepare(m.subject, hdr, m.payload, now, this.#clseq, {
      subjects: this.#inflightSubjects,
      lastMsgId: this.#inflightLast?.msgId,
      msgs: this.#inflightMsgs,
      bytes: this.#inflightStored,
      subjectCounts: this.#inflightPerSubject,
    });
    if (!isEntry(e)) {
      if (reply) this.#answer(reply, e);
      return;
    }
    if (e.op !== "msg") throw new Error("prepare returned a non-message entry");
    if (e.msgId) {
      // A retry of a publish still in flight is answered when (and only if) that one is applied.
      const waiting = this.#inflightIds.get(e.msgId);
      if (waiting !== undefined) {
        if (reply) waiting.push(reply);
        return;
      }
      this.#inflightIds.set(e.msgId, []);
    }
    this.#clseq = e.seq;
    this.#inflightSubjects.set(e.subject, e.seq);
    this.#inflightLast = { seq: e.seq, msgId: e.msgId ?? null };
    const size = storedSize(e.subject.length, hdr ? hdr.length : 0, e.data.length, s.cfg.storage === "file");
    this.#inflightMsgs++;
    this.#inflightStored += size;
    if (s.cfg.discard === "new" && s.cfg.discard_new_per_subject && s.cfg.max_msgs_per_subject > 0) {
      this.#inflightPerSubject.set(e.subject, (this.#inflightPerSubject.get(e.subject) ?? 0) + 1);
    }
    this.#enqueue(encodeCmd(e, this.#arena), reply, undefined, undefined, e.msgId, size);
    if (this.#takenUntil !== 0 && m.reply && this.#keepsTaken(now)) {
      this.#takenBy.set(inboxOf(m.reply), { seq: e.seq, chain: m.resend?.chain });
    }
    if (!this.stallExhausted && this.isBehind()) this.#deps.engine.bus.holdPublisher?.(this);
  }

  // ---- back-pressure (FlowConsumer): the publisher waits while too much waits for its commit ----

  isClosed(): boolean {
    return this.#closed || !this.#ready;
  }

  isBehind(): boolean {
    return this.#intake > (this.#deps.intakeMaxBytes ?? INTAKE_MAX_BYTES);
  }

  caughtUp(): boolean {
    return this.#intake <= (this.#deps.intakeMaxBytes ?? INTAKE_MAX_BYTES) / 2;
  }

  backlog(): number {
    return this.#intake;
  }

  whenDrained(wake: () => void): void {
    if (!this.#drainWaiters.includes(wake)) this.#drainWaiters.push(wake);
  }

  /** Proposals were applied or dropped: publishers held for them go on once the intake is under half the bound. */
  #intakeShrank(): void {
    if (!this.caughtUp() && !this.#closed && this.#ready) return;
    this.stallExhausted = false;
    if (this.#drainWaiters.length === 0) return;
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  #answer(reply: string, r: ApplyResult | ApiError): void {
    if (typeof r === "number") return;
    this.#deps.engine.bus.publish(reply, pubAckBytes(r, this.stream.name, this.#deps.engine.opts.domain));
  }

  /**
   * Propose a command; `done` runs on this server once it is applied (on this server as a follower too, if the
   * next leader commits it). `lost` runs instead once it is known never to be: dropped unproposed with the
   * leadership, or replaced in the log by another leader's entries (false here: not proposed, neither runs).
   */
  propose(cmd: GroupCmd, done: Done | undefined, lost?: Lost): boolean {
    if (!this.isLeader() || !this.#ready) return false;
    this.#enqueue(encodeCmd(cmd), undefined, done, lost, undefined, 0);
    return true;
  }

  #enqueue(data: Uint8Array, reply: string | undefined, done: Done | undefined, lost: Lost | undefined, msgId: string | undefined, size: number): void {
    this.#batch.push({ data, reply, done, lost, msgId, size });
    this.#intake += data.length;
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
      // Refused: either the leadership is being transferred and this server still leads (the transfer may not
      // happen): the batch waits, in order, for the transfer's end — proposed then (tick) if this server still
      // leads, passed on with the leadership otherwise (#lost); or the Raft node lost the leadership before this
      // replica heard of it (a higher term in the same flush): the batch goes to the next leader now. Dropped
      // here, it lost its answers (its publishers waited out their timeouts) and its bytes stayed in the intake.
      // Publishes meanwhile wait in the hand-off (see handingOff).
      this.#batch = batch.concat(this.#batch);
      if (r.error !== "transferring") this.#lost();
      return;
    }
    const first = r.index - batch.length + 1;
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i];
      // This server leads again with a shorter log: what it had proposed at this index was replaced (its
      // publish is dropped: this leader's newer publishes are ahead of it now).
      const old = this.#pending.get(first + i);
      if (old !== undefined) this.#replaced(first + i, old, []);
      this.#pending.set(first + i, { term: r.term, reply: b.reply, done: b.done, lost: b.lost, msgId: b.msgId, bytes: b.data.length, size: b.size, data: b.data });
    }
  }

  /**
   * Leadership lost. What was proposed stays pending: an entry this server proposed that the next leader
   * commits (a hand-off waits for the successor to hold every entry) is answered here once applied with the
   * same term; one another leader's log replaced goes to the leader then (#replaced). What was not proposed yet
   * goes after those, in order (#resendDeferred).
   */
  #lost(handedOff?: readonly BusMsg[]): void {
    this.#ready = false;
    const batch = this.#batch;
    const queue = this.#queue;
    this.#batch = [];
    this.#queue = [];
    // A hand-off (graceful stop, step-down): its successor holds every entry proposed here, so nothing will be
    // replaced and sent again after these; they go to it now, unmarked, as before (a later publish of the same
    // client that reached the successor directly first still comes ahead of them: see RESULTS, jsends, "Left").
    const lost: BusMsg[] = handedOff === undefined ? this.#deferred : [];
    for (const b of batch) {
      this.#intake -= b.data.length;
      b.lost?.();
      const retries = this.#takeRetries(b.msgId);
      // Not proposed, nor the publishes that waited for this leader to be ready: they go to the next leader
      // (dropped here before, their clients timed out).
      if (b.reply === undefined || this.#closed) continue;
      const cmd = decodeCmd(b.data);
      if (cmd instanceof Error || cmd.op !== "msg" || cmd.mirrored) continue;
      for (const reply of [b.reply, ...(retries ?? [])]) lost.push({ subject: cmd.subject, reply, headers: cmd.headers, payload: cmd.data });
    }
    if (!this.#closed) for (const m of queue) lost.push(m);
    if (!this.#closed) for (const m of this.#direct) lost.push(m);
    this.#direct = [];
    this.#awaiting = undefined;
    if (!this.#closed) for (const m of handedOff ?? []) lost.push(m);
    else this.#deferred = [];
    this.#resetInflight();
    if (handedOff !== undefined && !this.#closed) for (const m of lost) this.#toLeader(m);
    this.#resendDeferred();
    // Publishers held for this leader's intake go on (to whoever leads now).
    this.#intakeShrank();
  }

  // ---- every replica ----

  /** The group's apply handler: a committed entry, in log order. */
  apply(entry: Entry): void {
    if (this.#sync) {
      // The store is behind the snapshot this log continues from: keep the entries until it caught up.
      this.#held.push(entry);
      return;
    }
    this.#applyEntry(entry);
    this.#appliedIndex = entry.index;
    const node = this.group.node;
    if (this.#budget.applied(entry, node.log.snapIndex)) {
      const snap = this.group.snapshotAt(entry.index, this.#snapData());
      if (snap !== null) this.#budget.trim(snap, this.group, this.isLeader());
    }
    const every = this.#deps.compactEvery ?? COMPACT_EVERY;
    const behind = entry.index - node.persistedIndex;
    if (behind >= every && !this.#compacting && behind >= this.#staggered(every) && this.#compactDue()) this.#compact(entry.index);
  }

  /**
   * `every` for this replica: the replicas apply the same index at about the same moment, and compacting all at
   * once stalled every server of the group together (fsyncs on 2 cores, the p99.9). The leader compacts at
   * `every`; the k-th other voter by name (k = 1, 2, ...) waits k/3 more.
   */
  #staggered(every: number): number {
    if (this.isLeader()) return every;
    const leader = this.group.leader;
    let rank = 1;
    for (const v of this.group.node.membership().voters) if (v !== leader && v < this.#deps.self) rank++;
    return every + Math.floor((every * (rank % 3)) / 3);
  }

  #applyEntry(entry: Entry): void {
    if (entry.kind !== "cmd") {
      // A leader's first entry (its no-op) or a membership change: a proposal of this server at this index or
      // after it from an older term was replaced (see #replaced).
      if (this.#pending.size > 0) this.#sweepReplaced(entry);
      // The new leader's no-op: everything before it is applied, so its view is complete.
      if (entry.kind === "noop" && this.isLeader() && entry.term === this.group.node.term) this.#becomeReady();
      return;
    }
    let p = this.#pending.get(entry.index);
    if (p !== undefined && p.term !== entry.term) {
      this.#sweepReplaced(entry);
      p = undefined;
    }
    const cmd = decodeCmd(entry.data);
    if (cmd instanceof Error) throw new Error(`stream ${this.stream.name}: corrupted log entry ${entry.index}: ${cmd.message}`);
    const result = this.#applyCmd(cmd);
    this.applied++;
    if (cmd.op === "msg") {
      if (this.#inflightSubjects.get(cmd.subject) === cmd.seq) this.#inflightSubjects.delete(cmd.subject);
      if (this.#inflightLast?.seq === cmd.seq) this.#inflightLast = undefined;
    }
    if (p !== undefined) {
      this.#pending.delete(entry.index);
      this.#intake -= p.bytes;
      if (cmd.op === "msg") this.#settled(cmd.subject, p.size);
      if (this.#drainWaiters.length > 0 || this.stallExhausted) this.#intakeShrank();
      const retries = this.#takeRetries(p.msgId);
      // The entry this leader proposed at this index in this term is the one committed there (one entry per
      // index per term): its publisher is answered.
      if (p.term === entry.term) {
        if (p.reply !== undefined) this.#answer(p.reply, result);
        p.done?.(result);
        if (typeof result !== "number") {
          for (const r of retries ?? []) this.#answer(r, { ...result, duplicate: true });
        }
      }
      // The last of this server's open proposals is settled: what it lost unproposed goes on after it.
      if (this.#deferred.length > 0) this.#resendDeferred();
    }
  }

  /**
   * The replies of the retries that waited for the publish with `msgId` in flight (#take), handed over as that
   * publish leaves the open ones (applied, replaced, lost unproposed or covered by a snapshot).
   */
  #takeRetries(msgId: string | undefined): string[] | undefined {
    if (msgId === undefined) return undefined;
    const retries = this.#inflightIds.get(msgId);
    this.#inflightIds.delete(msgId);
    return retries;
  }

  /**
   * Every proposal of this server from an older term at or after `entry`'s index was replaced by another leader's
   * log (called before `entry` is applied: the stream holds what came before it). The publishes among them go
   * again, in index order and ahead of those lost unproposed, which came later.
   */
  #sweepReplaced(entry: Entry): void {
    const again: BusMsg[] = [];
    for (const [index, p] of [...this.#pending].sort((a, b) => a[0] - b[0])) {
      if (index >= entry.index && p.term < entry.term) this.#replaced(index, p, again);
    }
    if (again.length > 0) this.#deferred = again.concat(this.#deferred);
    this.#resendDeferred();
  }

  /**
   * A proposal of this server replaced in the log by another leader's entries: never committed (Raft overwrites
   * only what is not) and never to be. A publish goes again, as it came, to whoever leads now (its Nats-Msg-Id,
   * if any, keeps it once): dropped unanswered before, its client waited out its whole timeout — a sequential
   * publisher for good (ops_sigusr2's 10 s without an acknowledged publish: the stream's leader lost its
   * leadership for a moment under load, a shorter log won the election, the publish in flight went with it).
   * Other proposals are dropped, their proposer told (`lost`: a consumer create goes to the next leader,
   * consumer_groups.ts); a mirror's copies are asked for again by its feed.
   */
  #replaced(index: number, p: Pending, again: BusMsg[]): void {
    this.#pending.delete(index);
    this.#intake -= p.bytes;
    p.lost?.();
    const retries = this.#takeRetries(p.msgId);
    if (p.size > 0 || p.reply !== undefined) {
      const cmd = decodeCmd(p.data);
      if (!(cmd instanceof Error) && cmd.op === "msg") {
        this.#settled(cmd.subject, p.size);
        if (p.reply !== undefined && !cmd.mirrored) {
          for (const reply of [p.reply, ...(retries ?? [])]) again.push({ subject: cmd.subject, reply, headers: cmd.headers, payload: cmd.data });
        }
      }
    }
    this.#intakeShrank();
  }

  /**
   * The publishes this server lost with a leadership go again, once none of its proposals is open any more (each
   * applied, or its entry replaced), as one chain (ResendMark) after the stream's last sequence now: the point
   * where the next leader took over (a hand-off's are sent at once: #lost). A publish lost unproposed waits for the
   * open ones before it, so that it cannot overtake one of them that is replaced and sent again.
   *
   * Why a chain. nats-server sends nothing again: a proposal lost with its leader is not acknowledged, the client
   * times out and retries (or not). Sending it again spares the client its timeout (a sequential publisher waited
   * its whole timeout for every publish lost so), and its checks (Nats-Msg-Id window, expected last sequence,
   * subject sequence and Msg-Id, discard-new limits, sealed, the stream's subjects) are made again by the leader
   * against the stream as it is then. But it could be stored after a publish its client sent later: an async
   * publisher (several in flight) whose later publish reached the new leader first, or a KV put overtaken by a
   * later put of the same key — the older value would win. Re-evaluated expected-sequence headers refuse such a
   * publish, a plain one would not. So a re-sent publish is taken only where it would have been: the first of the
   * chain while nothing was stored after the takeover point, each next one right after the one before it; or, for
   * a few seconds after the new leader took over (it keeps whose publishes it took: a reply's inbox is one
   * connection's), when nothing of the same client was stored since but this chain's own — other clients' order
   * relative to it was never promised. Anything else is dropped unanswered, as nats-server would have (#inOrder).
   * A sync publisher (one in flight) is always in order.
   */
  #resendDeferred(): void {
    if (this.#deferred.length === 0 || this.#closed) return;
    // Still open: a proposal of this server's time as leader whose fate the log has not told yet.
    if (this.#pending.size > 0 && !(this.isLeader() && this.#ready)) return;
    // Catching up after a snapshot: the store's last sequence is not the takeover point yet (onSyncBatch).
    if (this.#sync !== undefined) return;
    const chain = `${this.#deps.self}.${++this.#chains}`;
    const after = this.stream.lastSequence;
    const msgs = this.#deferred;
    this.#deferred = [];
    for (let k = 0; k < msgs.length; k++) this.#sendAgain({ ...msgs[k], resend: { chain, k, after } });
  }

  /** A publish to the stream's leader: taken here if this server leads, else passed on (or held until one is known). */
  #sendAgain(m: BusMsg): void {
    if (this.isLeader()) this.publish({ ...m, local: true });
    else this.#toLeader(m);
  }

  // ---- snapshots and catch-up ----

  #compactDue(): boolean {
    const gap = this.#deps.compactIntervalMs ?? 0;
    return gap <= 0 || this.#deps.now() - this.#lastCompact >= gap;
  }

  /** The stream's state as a snapshot holds it (its messages are in the store). */
  #snapData(): Uint8Array {
    const data: SnapData = {
      lastSeq: this.stream.lastSequence,
      firstSeq: this.stream.firstSequence,
      consumers: [...this.consumers],
    };
    return new TextEncoder().encode(JSON.stringify(data));
  }

  /** The store holds everything through `index`: make it durable and drop the log behind it. */
  #compact(index: number): void {
    this.#lastCompact = this.#deps.now();
    this.stream.flush();
    const snap = this.group.snapshotAt(index, this.#snapData());
    if (snap === null) return;
    const syncAsync = this.#deps.syncStoreAsync;
    if (syncAsync === undefined) {
      this.#deps.syncStore?.();
      this.group.persistSnapshot(snap);
      return;
    }
    // The snapshot is the state at `index` (taken now); the log behind it goes only once the store holding that
    // state is durable. Entries applied meanwhile stay in the log, and a snapshot installed meanwhile wins
    // (persistSnapshot refuses an index at or behind the one storage holds).
    this.#compacting = true;
    syncAsync(() => {
      this.#compacting = false;
      if (!this.#closed && this.#sync === undefined) this.group.persistSnapshot(snap);
    });
  }

  /** The group's restore handler: a snapshot (on start, or sent by the leader to a replica far behind). */
  restore(snap: Snapshot): void {
    const d = JSON.parse(new TextDecoder().decode(snap.data)) as SnapData;
    this.#appliedIndex = snap.meta.index;
    this.#budget.reset();
    this.consumers.clear();
    for (const [name, rec] of d.consumers) this.consumers.set(name, rec);
    this.#held = [];
    this.#settleCovered(snap.meta);
    // On start (the group is not bound yet) the snapshot is this replica's own: the store was made durable
    // before the log behind it was dropped, so unless it was lost it holds at least that state. A snapshot
    // sent by the leader may cover removals this store never saw: the range is reconciled with another replica.
    if (!this.group && this.stream.lastSequence >= d.lastSeq) {
      this.#sync = undefined;
      this.#trimTo(d.firstSeq, d.lastSeq);
      return;
    }
    this.#sync = { target: d.lastSeq, firstSeq: d.firstSeq, index: snap.meta.index, idle: 0, expect: 0, attempt: 0, asked: 0 };
    this.#askSync();
  }

  /**
   * This server's open proposals (it led, lost the leadership, and is now sent a snapshot) that `meta` covers:
   * their entries' fate is decided here, since the log that would have told it is gone — left open, they and
   * what waits for them (#deferred, the intake they hold) waited for good. A snapshot covers committed entries
   * only, so every index up to `meta.index` is committed, but with whose entry the snapshot says only through
   * `meta.term`, the term of the entry at `meta.index`. Terms only grow along a log, and only one leader appends
   * in a term, so a proposal of term `t` at an index up to `meta.index` was:
   * - committed, this server's own, when `t` is `meta.term` (that leader was this server; its log up to there is
   *   the committed one): answered with the sequence it was proposed with, as its apply would have;
   * - replaced when `t` is above `meta.term`: sent again like any replaced entry (#replaced);
   * - not known when `t` is below (another leader committed something at or after it): a publish with a
   *   Nats-Msg-Id is answered from the restored stream's dedupe window once the store caught up (#answerCovered:
   *   stored under that id, at that sequence, by this entry or a retry of it), the rest dropped unanswered, as
   *   nats-server drops a lost proposal (the client times out and decides). A consumer's assignment is told
   *   applied or lost by the snapshot's consumers (is its group there).
   * The stream's other commands, whatever `t`:
   * - a message removal (the API's delete of seq N, checked present when proposed) is answered by the restored
   *   store once caught up (#answerCovered): N gone is what the client asked for, and a sequence once removed never
   *   comes back, so N absent means the stream is as a successful delete leaves it (by this entry, or by another
   *   removal, a purge or a limit that took it first) — answered as removed; N still there means this entry was
   *   not applied (an applied removal takes it) and the removal did not happen: dropped unanswered, as nats-server
   *   drops a lost proposal (the client times out and retries, and the retry is checked against the stream then).
   *   A removal without a waiter (age, interest, limits: the stream's own) needs no answer.
   * - a purge is dropped unanswered: its answer carries how many messages it removed, which no state after the
   *   snapshot tells (the count depends on what the stream held when it applied; a wrong count would be a false
   *   answer), and nats-server answers a lost purge with nothing either.
   * - a consumer's removal carries no waiter here: consumer_groups proposes it again until it sees it applied (or
   *   answers its retryable error), and reads the restored consumers as any apply. `cstate` comes from older logs
   *   only (nothing proposes it now).
   */
  #settleCovered(meta: SnapshotMeta): void {
    if (this.#pending.size === 0) return;
    const again: BusMsg[] = [];
    for (const [index, p] of [...this.#pending].sort((a, b) => a[0] - b[0])) {
      if (index > meta.index) continue;
      if (p.term > meta.term) {
        this.#replaced(index, p, again);
        continue;
      }
      this.#pending.delete(index);
      this.#intake -= p.bytes;
      const retries = this.#takeRetries(p.msgId);
      const cmd = decodeCmd(p.data);
      if (cmd instanceof Error) throw new Error(`stream ${this.stream.name}: corrupted proposal ${index}: ${cmd.message}`);
      const ours = p.term === meta.term;
      switch (cmd.op) {
        case "msg": {
          this.#settled(cmd.subject, p.size);
          if (p.reply === undefined) break;
          const replies = [p.reply, ...(retries ?? [])];
          if (ours) {
            const ack = { stream: this.stream.name, seq: cmd.seq };
            this.#answer(p.reply, ack);
            for (const r of retries ?? []) this.#answer(r, { ...ack, duplicate: true });
          } else if (p.msgId !== undefined) this.#coveredIds.push({ msgId: p.msgId, replies });
          break;
        }
        case "cadd":
          if (ours || (cmd.group !== undefined && this.consumers.get(cmd.name)?.group === cmd.group)) p.done?.(0);
          else p.lost?.();
          break;
        case "remove":
          if (p.done !== undefined) this.#coveredRemovals.push({ seqs: cmd.seqs, done: p.done });
          break;
        case "cdel":
        case "cstate":
          if (ours) p.done?.(0);
          break;
      }
    }
    if (again.length > 0) this.#deferred = again.concat(this.#deferred);
    for (const index of this.#pending.keys()) {
      if (index <= meta.index) throw new Error(`stream ${this.stream.name}: proposal ${index} still open under snapshot ${meta.index}`);
    }
    this.#intakeShrank();
  }

  /** Publishes with a Nats-Msg-Id a snapshot covered, fate unknown (#settleCovered): the restored stream tells. */
  #answerCovered(): void {
    const covered = this.#coveredIds;
    this.#coveredIds = [];
    for (const c of covered) {
      const seq = this.stream.storedMsgIdSeq(c.msgId);
      if (seq === undefined) continue;
      for (const r of c.replies) this.#answer(r, { stream: this.stream.name, seq, duplicate: true });
    }
    const removals = this.#coveredRemovals;
    this.#coveredRemovals = [];
    for (const c of removals) if (c.seqs.every((seq) => !this.stream.has(seq))) c.done(c.seqs.length);
  }

  get catchingUp(): boolean {
    return this.#sync !== undefined;
  }

  #askSync(): void {
    const s = this.#sync;
    if (!s || !this.group) return;
    // From the store's first message: the range is reconciled, so removals the store missed are caught too. A
    // retry goes on from where the last answer left off (what came before is reconciled already): starting over
    // each time, a chain that keeps stalling after its first batch never got anywhere (found by the chaos
    // harness: two replicas catching up at once, each asking the other for the rest).
    if (s.expect === 0) s.expect = Math.min(this.stream.firstSequence, this.stream.lastSequence + 1);
    s.asked = s.attempt++;
    this.#deps.requestSync?.(this.group.id, s.expect, s.target, s.index, s.asked);
  }

  /** Called on every host tick: a catch-up that stalled asks again. */
  tick(): void {
    // A batch a leadership transfer refused, once the transfer is over.
    if (this.#batch.length > 0 && !this.#batchScheduled && this.isLeader() && !this.group.node.transferring) this.#flushBatch();
    if (this.#awaiting !== undefined && this.isLeader() && this.#handoffOver(this.#awaiting)) this.#takeDirect();
    // Stranded publishes whose next leader this server has not heard of: to the one it knows, late rather than never.
    if (this.#misrouted.length > 0 && ++this.#misroutedTicks >= STRANDED_TICKS) {
      const leader = this.group.leader;
      if (leader !== null && leader !== this.#deps.self) this.#sendMisrouted(leader);
    }
    const s = this.#sync;
    if (s && ++s.idle >= SYNC_RETRY_TICKS) {
      s.idle = 0;
      this.#askSync();
    }
  }

  /**
   * Messages `from..to` this replica can give one that is catching up to the snapshot at log `index`
   * (undefined: it cannot, its stream is not there yet).
   */
  serveSync(from: number, to: number, index: number): SyncBatch | undefined {
    const s = this.stream;
    if (this.#sync || this.#appliedIndex < index || s.lastSequence < to) return undefined;
    const msgs: Array<Extract<StreamEntry, { op: "msg" }>> = [];
    let next = to + 1;
    for (let q = s.nextMatching(from, []); q !== undefined && q <= to; q = s.nextMatching(q + 1, [])) {
      if (msgs.length === SYNC_BATCH) {
        next = q;
        break;
      }
      const m = s.load(q);
      if (m) msgs.push({ op: "msg", seq: m.seq, ts: m.time, subject: m.subject, headers: m.headers, data: m.data, restored: true });
    }
    return { group: this.group.id, from, msgs, next };
  }

  onSyncBatch(b: SyncBatch): void {
    const sync = this.#sync;
    // Only the answer to the outstanding request counts (a retry may bring two).
    if (!sync || b.from !== sync.expect) return;
    const s = this.stream;
    // Messages this store holds in the batch's range that the sender no longer has were removed meanwhile.
    const end = Math.min(b.next - 1, sync.target, s.lastSequence);
    const have = new Set(b.msgs.map((m) => m.seq));
    const gone: number[] = [];
    for (let q = s.nextMatching(b.from, []); q !== undefined && q <= end; q = s.nextMatching(q + 1, [])) {
      if (!have.has(q)) gone.push(q);
    }
    if (gone.length > 0) s.apply({ op: "remove", seqs: gone });
    for (const m of b.msgs) if (m.seq > s.lastSequence && m.seq <= sync.target) s.apply(m);
    sync.idle = 0;
    if (b.next <= sync.target) {
      sync.expect = b.next;
      // The rest from the replica that answered (the same attempt picks the same one): it can serve the range.
      this.#deps.requestSync?.(this.group.id, b.next, sync.target, sync.index, sync.asked);
      return;
    }
    this.#trimTo(sync.firstSeq, sync.target);
    this.#sync = undefined;
    if (this.#coveredIds.length > 0 || this.#coveredRemovals.length > 0) this.#answerCovered();
    const held = this.#held;
    this.#held = [];
    for (const e of held) this.apply(e);
    // What this server lost as leader went on waiting for the store (its chain's takeover point): it goes now.
    this.#resendDeferred();
  }

  /** Make the store's range `firstSeq..lastSeq` what the snapshot says (purged heads, deleted tails). */
  #trimTo(firstSeq: number, lastSeq: number): void {
    const s = this.stream;
    if (s.lastSequence < lastSeq) s.apply({ op: "purge", req: { seq: lastSeq + 1, upTo: 0 } });
    if (s.firstSequence < firstSeq) s.apply({ op: "purge", req: { seq: firstSeq } });
  }

  #applyCmd(cmd: GroupCmd): ApplyResult {
    const s = this.stream;
    switch (cmd.op) {
      case "msg": {
        // Replayed after a restart: the store already holds it.
        if (cmd.seq <= s.lastSequence) return { stream: s.name, seq: cmd.seq };
        if (this.isLeader() || s.republish === undefined) return s.apply(cmd);
        // `republish` is a side effect for the world: only the leader sends it, not every replica.
        const rp = s.republish;
        s.republish = undefined;
        try {
          return s.apply(cmd);
        } finally {
          s.republish = rp;
        }
      }
      case "purge":
      case "remove":
        return s.apply(cmd);
      case "cadd": {
        const rec = this.consumers.get(cmd.name);
        // An update naming another group is of a consumer deleted and created again under its name since (an
        // update is proposed again until applied: consumer_groups.ts): not this one's.
        if (rec?.group !== undefined && cmd.group !== undefined && rec.group !== cmd.group) return 0;
        // An update keeps the consumer's group; a new assignment brings its group, peers and first state.
        const group = rec?.group ?? cmd.group;
        const peers = rec?.group ? rec.peers : cmd.peers;
        this.consumers.set(cmd.name, { config: cmd.config, created: rec?.created ?? cmd.created, state: rec?.state ?? cmd.state, group, peers });
        this.#deps.consumersChanged?.();
        this.#deps.consumerAssigned?.(cmd.name, cmd.config, group);
        return 0;
      }
      case "cdel": {
        // A removal that names a group removes that consumer only, not one created again under its name since (a
        // removal is proposed again until applied: consumer_groups.ts).
        const group = this.consumers.get(cmd.name)?.group;
        if (cmd.group !== undefined && group !== undefined && group !== cmd.group) return 0;
        this.consumers.delete(cmd.name);
        this.#deps.consumerRemoved?.(cmd.name, cmd.group);
        this.#deps.consumersChanged?.();
        return 0;
      }
      case "cstate": {
        // Logs written before consumers had groups of their own: the state becomes the first state.
        const rec = this.consumers.get(cmd.name);
        if (rec && !rec.group) rec.state = cmd.state;
        return 0;
      }
    }
  }

  /**
   * A publish for the leader that reached this replica: another server sent it here by an interest this server
   * no longer has (it stopped leading; its RS- was on its way), or one of this server's clients published it
   * while no leader's interest was known here. It goes on to the leader, or waits for one. A routed publish
   * without a reply is not passed on (nobody waits for its acknowledgement, and only a reply tells a copy that
   * came both ways; nats-server drops it too).
   */
  #misroute(m: BusMsg): void {
    if (this.#deps.forward === undefined || this.#closed) return;
    if (m.forwarded === true) {
      // Passed on here by a server with a stale view of the leader: on to the leader this server knows.
      if ((m.hops ?? 1) >= MAX_HOPS) return;
      this.#toLeader(m);
      return;
    }
    // A client of this server: its publish reached the leader by the leader's interest, unless none was known
    // here at that moment (the old leader's withdrawn, the new one's not in yet); then only this replica has it.
    const stranded = m.local === true && this.#deps.engine.bus.routeInterest?.(m.subject) === false;
    if (!stranded && (m.viaRoute !== true || !m.reply)) return;
    // A leader announces its interest before its first appends reach this server, so a leader known here without
    // interest withdrew it: it no longer leads (a hand-off's old leader). Sent there, the publish went back over
    // that server's route and reached the successor after the client's later publishes, which this server routes
    // there directly once it reads the successor's interest (leader_forward's order test, Deno): it waits for
    // the next leader instead (leaderChanged), as while none is known; and what waits, later ones wait behind.
    if (stranded || this.#misrouted.length > 0) {
      if (this.#misrouted.length < MAX_QUEUED) this.#misrouted.push(m);
      return;
    }
    this.#toLeader(m);
  }

  /** To the leader this server knows, or held until one is known. */
  #toLeader(m: BusMsg): void {
    const leader = this.group.leader;
    if (leader !== null && leader !== this.#deps.self) this.#deps.forward?.(leader, m);
    else if (this.#misrouted.length < MAX_QUEUED) this.#misrouted.push(m);
  }

  #resetInflight(): void {
    this.#inflightSubjects.clear();
    this.#inflightLast = undefined;
    this.#inflightMsgs = 0;
    this.#inflightStored = 0;
    this.#inflightPerSubject.clear();
  }

  /** One of this leader's messages left the in-flight counts (applied, or its entry replaced). */
  #settled(subject: string, size: number): void {
    if (size === 0) return;
    this.#inflightMsgs = Math.max(0, this.#inflightMsgs - 1);
    this.#inflightStored = Math.max(0, this.#inflightStored - size);
    const n = this.#inflightPerSubject.get(subject);
    if (n === undefined) return;
    if (n <= 1) this.#inflightPerSubject.delete(subject);
    else this.#inflightPerSubject.set(subject, n - 1);
  }

  #becomeReady(): void {
    this.#ready = true;
    if (this.#otherLed) {
      this.#repeats.start(this.#deps.now());
      this.apiRepeats.start(this.#deps.now());
    }
    this.#clseq = this.stream.lastSequence;
    this.#resetInflight();
    // Publishes of the old leader may come again for a while: who this leader takes publishes from is kept.
    this.#readySeq = this.#clseq;
    this.#takenBy.clear();
    this.#takenUntil = this.#otherLed ? this.#deps.now() + REPEAT_WINDOW_MS : 0;
    this.#deps.onLeaderReady?.(this);
    // A hand-off's successor: the old leader's held publishes come passed on, then its end mark.
    const from = this.group.node.transferredFrom;
    this.#awaiting = typeof from === "string" && from !== this.#deps.self ? { from, since: this.#deps.now(), silent: 0 } : undefined;
    this.#markOwed = true;
    const q = this.#queue;
    this.#queue = [];
    for (const m of q) this.publish(m);
  }

  leaderChanged(leader: PeerId | null): void {
    // The successor leads: the publishes that came during the hand-off go to it after the rest, at once (#lost).
    let handedOff: BusMsg[] | undefined;
    if (leader !== null && leader !== this.#deps.self && this.handingOff) {
      handedOff = this.#handoff;
      this.#handoff = [];
      this.handingOff = false;
    }
    // Leading, ready or not: a transfer can start before the no-op commits (a lame duck elected again).
    if (leader === this.#deps.self) this.#markOwed = true;
    const led = this.#markOwed || this.#ready || handedOff !== undefined;
    if (leader !== this.#deps.self) this.#lost(handedOff);
    // After what it passed on (#lost, on the same route): a successor that took over by a hand-off waits for this.
    if (led && leader !== null && leader !== this.#deps.self && !this.#closed) {
      this.#markOwed = false;
      this.#sendEndMark(leader);
    }
    if (leader !== null && leader !== this.#deps.self) this.#otherLed = true;
    // Publishes that waited for a leader: to it, or taken here if this server leads again.
    if (leader !== null && this.#misrouted.length > 0) this.#sendMisrouted(leader);
  }

  #sendMisrouted(leader: PeerId): void {
    const waiting = this.#misrouted;
    this.#misrouted = [];
    this.#misroutedTicks = 0;
    for (const m of waiting) {
      if (leader === this.#deps.self) this.publish({ ...m, viaRoute: false });
      else this.#deps.forward?.(leader, m);
    }
  }

  /**
   * A hand-off's end mark, to the successor `leader`, after what this server passed on to it. A publish a third
   * server routed here by this server's interest can still be on its way: the third server sent it before it read
   * this server's withdrawal (the RS- the controller queues on every route right after this call, when it
   * recaptures the stream). Taken here, it goes on to the successor (#misroute) — after a mark sent at once, and a
   * later publish of its client, routed to the successor directly, would be stored first. So the mark waits until
   * every route's peer has read that withdrawal (a PING queued after it; its PONG follows whatever the peer had
   * sent here before, which this server has then read and passed on), bounded by the barrier's cap for a peer that
   * does not answer. No barrier (no routes): nothing can be on its way, the mark goes at once.
   */
  #sendEndMark(leader: PeerId): void {
    const send = () => {
      if (!this.#closed) this.#deps.forward?.(leader, { subject: this.stream.name, payload: new Uint8Array(0), handoffEnd: true });
    };
    const bus = this.#deps.engine.bus;
    const spread = bus.afterInterestSpread;
    if (spread === undefined) return send();
    // After the withdrawal is queued (the caller's recapture, in the same turn), then the barrier.
    (this.#deps.schedule ?? queueMicrotask)(() => spread.call(bus, send, true));
  }

  /**
   * On a tick of a successor still waiting for the end mark: is the wait over without it? The old leader is
   * silent on a tick when this leader's Raft progress does not show it answering (Raft marks every follower
   * inactive once per election timeout, and active again on its next answer: a live follower is silent for a tick
   * or two at most; one that is gone, or no longer a member, stays silent).
   */
  #handoffOver(a: { from: PeerId; since: number; silent: number }): boolean {
    const waited = this.#deps.now() - a.since;
    if (waited >= HANDOFF_MAX_MS) return true;
    const answering = this.group.node.progress().get(a.from)?.active === true;
    a.silent = answering ? 0 : a.silent + 1;
    return waited >= HANDOFF_END_MS && a.silent >= HANDOFF_SILENT_TICKS;
  }

  /** The old leader's held publishes are all here (its end mark), or the wait for it is over (#handoffOver). */
  #takeDirect(): void {
    this.#awaiting = undefined;
    const direct = this.#direct;
    this.#direct = [];
    // Passed on by a third server first: it passes on a client's publish only when it knows no leader's interest
    // (the old one's withdrawn, this one's not read yet), so before it routed any of that client's publishes here
    // directly, which can still arrive first (its route carries them as soon as it reads this leader's interest).
    for (const m of direct) if (m.forwarded === true) this.publish(m);
    for (const m of direct) if (m.forwarded !== true) this.publish(m);
  }

  /** A hand-off that did not happen (still leading): the publishes held meanwhile are taken up here again. */
  cancelHandOff(): void {
    if (!this.handingOff) return;
    const held = this.#handoff;
    this.#handoff = [];
    this.handingOff = false;
    for (const m of held) this.publish(m);
  }

  /** Stops leading (the group itself is removed by the host; the consumer groups close their own). */
  close(): void {
    this.#closed = true;
    this.#misrouted = [];
    this.#lost();
  }
}

/** One client's part of a reply subject: up to its last token (a connection's inbox, nats clients' `_INBOX.<id>.`). */
function inboxOf(reply: string): string {
  const i = reply.lastIndexOf(".");
  return i < 0 ? reply : reply.slice(0, i);
}
