/**
 * The Raft core as a deterministic state machine. Inputs: `tick`, `step` (a message arrived), `propose`,
 * `proposeMembership`, `transferLeadership`, `stepDown`, `compact`. Outputs are collected in a `Ready`: state
 * and entries to persist, messages to send, committed entries to apply. No clock, no timers, no I/O: time is
 * ticks and randomness is injected, so a simulator replays it exactly.
 *
 * Contract with the driver: after any input, take `ready()` and, in this order, write the snapshot, entries
 * and hard state to storage, `sync()` when `mustSync`, then send the messages and apply the committed
 * entries, before the next input. Sending only after the sync is what makes votes and acknowledgements
 * durable, and it is also why the leader may count its own log in the commit quorum.
 *
 * This class owns the state and the role transitions; the rules live in term_gate.ts, election.ts,
 * replication.ts (leader), follower.ts and membership.ts.
 */
import { type CampaignKind, grantsVote, quorumActive, randomTimeout, tally, voteRequests } from "./election.ts";
import { acceptAppend, acceptSnapshot } from "./follower.ts";
import { RaftLog } from "./log.ts";
import { applyChange } from "./membership.ts";
import type {
  BugName,
  MembershipChange,
  OutMessage,
  ProposeError,
  ProposeResult,
  RaftNodeConfig,
  Ready,
  Role,
} from "./node_types.ts";
import type { Progress } from "./progress.ts";
import { type AppendLimits, appendsFor, heartbeatCommit, nextCommit, syncProgress } from "./replication.ts";
import type { StoredState } from "./storage.ts";
import { judgeTerm } from "./term_gate.ts";
import type { Entry, Membership, Message, PeerId, Random, Snapshot } from "./types.ts";

export {
  BUG_NAMES,
  type BugName,
  type MembershipChange,
  type OutMessage,
  type ProposeError,
  type ProposeResult,
  type RaftNodeConfig,
  type Ready,
  type Role,
} from "./node_types.ts";

const EMPTY = new Uint8Array(0);

export class RaftNode {
  readonly id: PeerId;
  term = 0;
  vote: PeerId | null = null;
  role: Role = "follower";
  leader: PeerId | null = null;
  commit = 0;
  applied = 0;
  readonly log: RaftLog;

  #random: Random;
  #electionTicks: number;
  #heartbeatTicks: number;
  #limits: AppendLimits;
  #bugs: ReadonlySet<BugName>;

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #timeout = 0;
  #votes = new Map<PeerId, boolean>();
  #progress = new Map<PeerId, Progress>();
  #termStart = 0;
  #transferee: PeerId | null = null;
  #transferElapsed = 0;

  #msgs: OutMessage[] = [];
  #hardDirty = false;
  #snap: Snapshot | null = null;
  #snapInstalled = false;
  /** The index of the newest snapshot handed to storage (or loaded from it): `trim` may run ahead of it. */
  #persisted = 0;

  constructor(cfg: RaftNodeConfig, stored: StoredState) {
    this.id = cfg.id;
    this.#random = cfg.random;
    this.#electionTicks = cfg.electionTicks ?? 10;
    this.#heartbeatTicks = cfg.heartbeatTicks ?? 1;
    this.#limits = {
      maxBatch: cfg.maxBatch ?? 512,
      maxBatchBytes: cfg.maxBatchBytes ?? 1 << 20,
      maxInflight: cfg.maxInflight ?? 64,
      maxInflightBytes: cfg.maxInflightBytes ?? 8 << 20,
    };
    this.#bugs = cfg.bugs ?? new Set();
    this.term = stored.hard.term;
    this.vote = stored.hard.vote;
    this.log = RaftLog.restore(stored.snapshot, stored.entries, cfg.initial);
    this.commit = this.log.snapIndex;
    this.applied = this.log.snapIndex;
    this.#persisted = this.log.snapIndex;
    this.#resetTimeout();
  }

  // ---- queries ----

  membership(): Membership {
    return this.log.membership();
  }

  isVoter(peer: PeerId = this.id): boolean {
    return this.log.membership().voters.includes(peer);
  }

  /** The index of the newest snapshot storage holds or was handed (the log may be trimmed in memory past it). */
  get persistedIndex(): number {
    return this.#persisted;
  }

  /** Per-follower replication state, for monitoring (leader only). */
  progress(): ReadonlyMap<PeerId, { readonly match: number; readonly next: number; readonly active: boolean }> {
    const out = new Map<PeerId, { match: number; next: number; active: boolean }>();
    for (const [p, pr] of this.#progress) out.set(p, { match: pr.match, next: pr.next, active: pr.recentActive });
    return out;
  }

  hasReady(): boolean {
    return this.#msgs.length > 0 || this.#hardDirty || this.#snap !== null ||
      this.log.stable < this.log.lastIndex() || this.applied < this.commit;
  }

  ready(): Ready {
    this.#checkInvariants();
    const entries = this.log.unstable();
    const hardState = this.#hardDirty ? { term: this.term, vote: this.vote } : null;
    const snapshot = this.#snap;
    const mustSync = !this.#bugs.has("ackBeforeSync") &&
      (hardState !== null || entries.length > 0 || snapshot !== null);
    const committed = this.commit > this.applied ? this.log.slice(this.applied + 1, this.commit) : [];
    const r: Ready = {
      hardState,
      snapshot,
      installed: this.#snapInstalled,
      entries,
      mustSync,
      messages: this.#msgs,
      committed,
    };
    this.log.stable = this.log.lastIndex();
    this.applied = this.commit;
    this.#msgs = [];
    this.#hardDirty = false;
    this.#snap = null;
    this.#snapInstalled = false;
    return r;
  }

  /** `applied <= commit <= lastIndex`: a node that breaks it holds a corrupted log and must stop loudly. */
  #checkInvariants(): void {
    const last = this.log.lastIndex();
    if (this.commit > last || this.applied > this.commit || this.applied < this.log.snapIndex) {
      throw new Error(
        `raft ${this.id}: invariant broken: applied ${this.applied}, commit ${this.commit}, last ${last}, snapshot ${this.log.snapIndex}`,
      );
    }
  }

  // ---- inputs ----

  tick(): void {
    if (this.role === "leader") {
      this.#heartbeatElapsed++;
      this.#electionElapsed++;
      if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
        this.#heartbeatElapsed = 0;
        this.#bcastHeartbeat();
      }
      if (this.#transferee !== null && ++this.#transferElapsed >= this.#electionTicks) this.#transferee = null;
      if (this.#electionElapsed >= this.#electionTicks) {
        this.#electionElapsed = 0;
        if (!quorumActive(this.log.membership().voters, this.id, this.#progress)) {
          this.#becomeFollower(this.term, null);
          return;
        }
        for (const pr of this.#progress.values()) pr.recentActive = false;
      }
      return;
    }
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#timeout && this.isVoter()) this.#campaign("pre");
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeBatch([data]);
  }

  /** Propose several commands as one batch (one append per follower). */
  proposeBatch(data: readonly Uint8Array[]): ProposeResult {
    const err = this.#checkPropose();
    if (err) return { ok: false, error: err, leader: this.leader };
    let index = 0;
    for (const d of data) {
      index = this.log.lastIndex() + 1;
      this.log.push({ index, term: this.term, kind: "cmd", data: d });
    }
    this.#bcastAppend();
    this.#maybeCommit();
    return { ok: true, index, term: this.term };
  }

  /** One change at a time, and only once the leader has committed an entry of its own term. */
  proposeMembership(change: MembershipChange): ProposeResult {
    const err = this.#checkPropose();
    if (err) return { ok: false, error: err, leader: this.leader };
    if (this.log.lastConfIndex() > this.commit || this.commit < this.#termStart) {
      return { ok: false, error: "change_pending", leader: this.leader };
    }
    const conf = applyChange(this.log.membership(), change);
    if (conf === null) return { ok: false, error: "invalid", leader: this.leader };
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind: "conf", data: EMPTY, conf };
    this.log.push(e);
    this.#membershipChanged();
    this.#bcastAppend();
    this.#maybeCommit();
    return { ok: true, index: e.index, term: e.term };
  }

  transferLeadership(to: PeerId): ProposeResult {
    if (this.role !== "leader") return { ok: false, error: "not_leader", leader: this.leader };
    if (to === this.id || !this.isVoter(to)) return { ok: false, error: "invalid", leader: this.leader };
    this.#transferee = to;
    this.#transferElapsed = 0;
    const pr = this.#progress.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.#send(to, { type: "timeoutNow", term: this.term });
    else this.#sendAppend(to, false);
    return { ok: true, index: this.log.lastIndex(), term: this.term };
  }

  /**
   * The leader whose transfer (its timeoutNow) started this server's campaign in the term it leads now: the old
   * leader of a hand-off (null if this server won its term by an ordinary election, or does not lead).
   */
  get transferredFrom(): PeerId | null {
    return this.role === "leader" && this.#transferFrom?.term === this.term ? this.#transferFrom.from : null;
  }

  /** A leadership transfer is under way (proposals are refused until it ends, either way). */
  get transferring(): boolean {
    return this.#transferee !== null;
  }

  /** Give up leadership now; someone else will win the next election. */
  stepDown(): void {
    if (this.role === "leader") this.#becomeFollower(this.term, null);
  }

  /**
   * The application has captured its state through `index` (<= applied) in `data`: keep it as the snapshot
   * and drop the log it covers.
   */
  compact(index: number, data: Uint8Array): boolean {
    if (index > this.applied || index <= this.log.snapIndex) return false;
    const snap = this.snapshotAt(index, data);
    return snap !== null && this.trim(snap) && this.persistSnapshot(snap);
  }

  /**
   * The application's state through `index` (<= applied) as a snapshot, for `trim` and `persistSnapshot` later
   * (null when `index` is not in the log any more: its term is gone).
   */
  snapshotAt(index: number, data: Uint8Array): Snapshot | null {
    if (index > this.applied || index < this.log.snapIndex) return null;
    return { meta: { index, term: this.log.termAt(index), membership: this.log.membershipAt(index) }, data };
  }

  /**
   * Drops from memory the log `snap` covers, storage keeping it until a snapshot is persisted (`persistSnapshot`):
   * a restart replays it from there. A follower that needs what was dropped gets `snap`.
   */
  trim(snap: Snapshot): boolean {
    const index = snap.meta.index;
    if (index > this.applied || index <= this.log.snapIndex) return false;
    if (this.log.termAt(index) !== snap.meta.term) throw new Error(`raft ${this.id}: trim at ${index} with a snapshot of another term`);
    this.log.compact(snap);
    return true;
  }

  /**
   * Storage keeps `snap` and drops the log it covers (the application made the state it captures durable). The
   * log in memory is not trimmed by this (`trim`): it may keep entries a lagging follower still needs. False when
   * storage holds a newer snapshot already.
   */
  persistSnapshot(snap: Snapshot): boolean {
    const index = snap.meta.index;
    if (index > this.applied || index <= this.#persisted) return false;
    this.#persisted = index;
    this.#snap = snap;
    this.#snapInstalled = false;
    return true;
  }

  step(from: PeerId, msg: Message): void {
    const verdict = judgeTerm(msg, this.term, this.#inLease());
    if (verdict.kind === "drop") return;
    if (verdict.kind === "stale") {
      if (verdict.reply) this.#send(from, verdict.reply);
      return;
    }
    if (verdict.kind === "adopt") this.#becomeFollower(msg.term, verdict.fromLeader ? from : null);

    switch (msg.type) {
      case "preVote":
      case "vote":
        return this.#handleVoteRequest(from, msg);
      case "preVoteResp":
        if (this.role === "preCandidate" && (msg.term === this.term + 1 || !msg.granted)) {
          this.#poll(from, msg.granted);
        }
        return;
      case "voteResp":
        if (this.role === "candidate" && msg.term === this.term) this.#poll(from, msg.granted);
        return;
      case "append":
        this.#followLeader(from);
        return this.#handleAppend(from, msg);
      case "heartbeat":
        this.#followLeader(from);
        if (msg.commit > this.commit) this.commit = Math.min(msg.commit, this.log.lastIndex());
        this.#send(from, { type: "heartbeatResp", term: this.term });
        return;
      case "snapshot":
        this.#followLeader(from);
        return this.#handleSnapshot(from, msg.snapshot);
      case "appendResp":
        if (this.role === "leader") this.#handleAppendResp(from, msg);
        return;
      case "heartbeatResp":
        if (this.role === "leader") this.#handleHeartbeatResp(from);
        return;
      case "timeoutNow":
        if (this.isVoter() && this.role !== "leader") {
          this.#transferFrom = { from, term: this.term + 1 };
          this.#campaign("transfer");
        }
        return;
    }
  }

  // ---- role transitions ----

  #inLease(): boolean {
    return this.leader !== null && this.#electionElapsed < this.#electionTicks;
  }

  #resetTimeout(): void {
    this.#timeout = randomTimeout(this.#electionTicks, this.#random);
  }

  #becomeFollower(term: number, leader: PeerId | null): void {
    if (term > this.term) {
      this.term = term;
      this.vote = null;
      this.#hardDirty = true;
    }
    this.role = "follower";
    this.leader = leader;
    this.#electionElapsed = 0;
    this.#resetTimeout();
    this.#votes.clear();
    this.#progress.clear();
    this.#transferee = null;
  }

  #followLeader(from: PeerId): void {
    if (this.role !== "follower") this.#becomeFollower(this.term, from);
    this.leader = from;
    this.#electionElapsed = 0;
  }

  #transferFrom: { from: PeerId; term: number } | null = null;

  #campaign(kind: CampaignKind): void {
    this.#votes.clear();
    this.leader = null;
    this.#electionElapsed = 0;
    this.#resetTimeout();
    let term: number;
    if (kind === "pre") {
      this.role = "preCandidate";
      term = this.term + 1;
    } else {
      this.role = "candidate";
      this.term++;
      this.vote = this.id;
      this.#hardDirty = true;
      term = this.term;
    }
    this.#votes.set(this.id, true);
    for (const m of voteRequests(kind, term, this.id, this.log.membership().voters, this.log)) this.#msgs.push(m);
    this.#tally();
  }

  #handleVoteRequest(from: PeerId, msg: Extract<Message, { type: "preVote" | "vote" }>): void {
    const grant = grantsVote(this, from, msg, {
      doubleVote: this.#bugs.has("doubleVote"),
      voteIgnoresLog: this.#bugs.has("voteIgnoresLog"),
    });
    if (msg.type === "preVote") {
      this.#send(from, { type: "preVoteResp", term: grant ? msg.term : this.term, granted: grant });
      return;
    }
    if (grant) {
      this.vote = from;
      this.#hardDirty = true;
      this.#electionElapsed = 0;
    }
    this.#send(from, { type: "voteResp", term: this.term, granted: grant });
  }

  #poll(from: PeerId, granted: boolean): void {
    if (!this.#votes.has(from)) this.#votes.set(from, granted);
    this.#tally();
  }

  #tally(): void {
    const result = tally(this.log.membership().voters, this.#votes);
    if (result === "won") {
      if (this.role === "preCandidate") this.#campaign("real");
      else if (this.role === "candidate") this.#becomeLeader();
    } else if (result === "lost") {
      this.#becomeFollower(this.term, null);
    }
  }

  #becomeLeader(): void {
    this.role = "leader";
    this.leader = this.id;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#transferee = null;
    this.#progress.clear();
    this.#membershipChanged();
    for (const pr of this.#progress.values()) pr.recentActive = true;
    // A no-op of the new term lets earlier entries commit (they never commit by counting alone).
    this.#termStart = this.log.lastIndex() + 1;
    if (!this.#bugs.has("commitOldTerm")) {
      this.log.push({ index: this.#termStart, term: this.term, kind: "noop", data: EMPTY });
    }
    this.#bcastAppend();
    this.#maybeCommit();
  }

  // ---- replication (leader) ----

  #checkPropose(): ProposeError | null {
    if (this.role !== "leader") return "not_leader";
    if (this.#transferee !== null) return "transferring";
    return null;
  }

  #membershipChanged(): void {
    if (this.role === "leader") syncProgress(this.#progress, this.log.membership(), this.id, this.log.lastIndex());
  }

  #bcastAppend(): void {
    for (const p of this.#progress.keys()) this.#sendAppend(p, false);
  }

  #bcastHeartbeat(): void {
    const beyondMatch = this.#bugs.has("commitBeyondMatch");
    for (const [p, pr] of this.#progress) {
      this.#send(p, { type: "heartbeat", term: this.term, commit: heartbeatCommit(pr, this.commit, beyondMatch) });
    }
  }

  #sendAppend(to: PeerId, allowEmpty: boolean): void {
    const pr = this.#progress.get(to);
    if (!pr) return;
    for (const msg of appendsFor(pr, this.log, this.term, this.commit, this.#limits, allowEmpty)) this.#send(to, msg);
  }

  #handleAppendResp(from: PeerId, msg: Extract<Message, { type: "appendResp" }>): void {
    const pr = this.#progress.get(from);
    if (!pr) return;
    pr.recentActive = true;
    if (!msg.success) {
      if (pr.rejected(msg.index, msg.hint)) this.#sendAppend(from, true);
      return;
    }
    pr.acked(msg.index);
    if (this.#maybeCommit()) {
      if (this.role !== "leader") return;
      this.#bcastAppend();
    } else {
      this.#sendAppend(from, false);
    }
    if (from === this.#transferee && pr.match === this.log.lastIndex()) {
      this.#send(from, { type: "timeoutNow", term: this.term });
    }
  }

  #handleHeartbeatResp(from: PeerId): void {
    const pr = this.#progress.get(from);
    if (!pr) return;
    const last = this.log.lastIndex();
    pr.heartbeat(last);
    if (pr.match < last) this.#sendAppend(from, true);
  }

  #maybeCommit(): boolean {
    const next = nextCommit(
      this.log.membership().voters,
      this.id,
      this.log,
      this.#progress,
      this.commit,
      this.term,
      this.#bugs.has("commitOldTerm"),
    );
    if (next === null) return false;
    this.commit = next;
    // A leader that removed itself hands over once the change is committed.
    if (!this.isVoter() && this.commit >= this.log.lastConfIndex()) this.#becomeFollower(this.term, null);
    return true;
  }

  // ---- replication (follower) ----

  #handleAppend(from: PeerId, msg: Extract<Message, { type: "append" }>): void {
    const out = acceptAppend(this.log, this.commit, msg, {
      skipPrevCheck: this.#bugs.has("skipPrevCheck"),
      commitBeyondMatch: this.#bugs.has("commitBeyondMatch"),
    });
    if (out.confChanged) this.#membershipChanged();
    this.commit = out.commit;
    this.#send(from, { type: "appendResp", term: this.term, ...out.answer });
  }

  #handleSnapshot(from: PeerId, snap: Snapshot): void {
    const out = acceptSnapshot(this.log, this.commit, snap);
    this.commit = out.commit;
    if (out.kind === "installed") {
      this.applied = out.commit;
      this.#persisted = out.commit;
      this.#snap = snap;
      this.#snapInstalled = true;
    }
    this.#send(from, { type: "appendResp", term: this.term, success: true, index: out.commit, hint: 0 });
  }

  #send(to: PeerId, msg: Message): void {
    this.#msgs.push({ to, msg });
  }
}
