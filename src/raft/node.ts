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
 */
import { RaftLog } from "./log.ts";
import { Progress, quorumMatch } from "./progress.ts";
import type { HardState, StoredState } from "./storage.ts";
import type { Entry, Membership, Message, PeerId, Random, Snapshot } from "./types.ts";

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Deliberate protocol bugs, switched on only by tests to prove the simulator's checkers catch them. */
export type BugName =
  | "doubleVote"
  | "voteIgnoresLog"
  | "skipPrevCheck"
  | "commitOldTerm"
  | "commitBeyondMatch"
  | "ackBeforeSync";

export const BUG_NAMES: readonly BugName[] = [
  "doubleVote",
  "voteIgnoresLog",
  "skipPrevCheck",
  "commitOldTerm",
  "commitBeyondMatch",
  "ackBeforeSync",
];

export interface RaftNodeConfig {
  readonly id: PeerId;
  /** Membership used when storage holds none (bootstrap). A joining node passes an empty one. */
  readonly initial: Membership;
  readonly random: Random;
  /** Election timeout in ticks; the real timeout is randomized in [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Most entries in one append message. */
  readonly maxBatch?: number;
  /** Most bytes of entry data in one append message. */
  readonly maxBatchBytes?: number;
  /** Most append messages in flight to one follower (pipelining). */
  readonly maxInflight?: number;
  readonly bugs?: ReadonlySet<BugName>;
}

export interface OutMessage {
  readonly to: PeerId;
  readonly msg: Message;
}

export interface Ready {
  readonly hardState: HardState | null;
  /** A snapshot to store: `installed` means it replaces the log and the application state. */
  readonly snapshot: Snapshot | null;
  readonly installed: boolean;
  /** Entries to store; any stored entry at or after entries[0].index is discarded first. */
  readonly entries: readonly Entry[];
  readonly mustSync: boolean;
  readonly messages: readonly OutMessage[];
  /** Committed entries to apply, in order. */
  readonly committed: readonly Entry[];
}

export type ProposeError = "not_leader" | "transferring" | "change_pending" | "invalid";
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly leader: PeerId | null };

export type MembershipChange =
  | { readonly op: "addVoter"; readonly peer: PeerId }
  | { readonly op: "addObserver"; readonly peer: PeerId }
  | { readonly op: "remove"; readonly peer: PeerId };

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
  #maxBatch: number;
  #maxBatchBytes: number;
  #maxInflight: number;
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

  constructor(cfg: RaftNodeConfig, stored: StoredState) {
    this.id = cfg.id;
    this.#random = cfg.random;
    this.#electionTicks = cfg.electionTicks ?? 10;
    this.#heartbeatTicks = cfg.heartbeatTicks ?? 1;
    this.#maxBatch = cfg.maxBatch ?? 512;
    this.#maxBatchBytes = cfg.maxBatchBytes ?? 1 << 20;
    this.#maxInflight = cfg.maxInflight ?? 64;
    this.#bugs = cfg.bugs ?? new Set();
    this.term = stored.hard.term;
    this.vote = stored.hard.vote;
    this.log = RaftLog.restore(stored.snapshot, stored.entries, cfg.initial);
    this.commit = this.log.snapIndex;
    this.applied = this.log.snapIndex;
    this.#resetTimeout();
  }

  // ---- queries ----

  membership(): Membership {
    return this.log.membership();
  }

  isVoter(peer: PeerId = this.id): boolean {
    return this.log.membership().voters.includes(peer);
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
        if (!this.#quorumActive()) {
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
    const err = this.#checkPropose();
    if (err) return { ok: false, error: err, leader: this.leader };
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind: "cmd", data };
    this.log.push(e);
    this.#bcastAppend();
    this.#maybeCommit();
    return { ok: true, index: e.index, term: e.term };
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
    const m = this.log.membership();
    const voters = m.voters.filter((p) => p !== change.peer);
    const observers = m.observers.filter((p) => p !== change.peer);
    if (change.op === "addVoter") voters.push(change.peer);
    if (change.op === "addObserver") observers.push(change.peer);
    if (voters.length === 0) return { ok: false, error: "invalid", leader: this.leader };
    const e: Entry = {
      index: this.log.lastIndex() + 1,
      term: this.term,
      kind: "conf",
      data: EMPTY,
      conf: { voters, observers },
    };
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
    const snap: Snapshot = {
      meta: { index, term: this.log.termAt(index), membership: this.log.membershipAt(index) },
      data,
    };
    this.log.compact(snap);
    this.#snap = snap;
    this.#snapInstalled = false;
    return true;
  }

  step(from: PeerId, msg: Message): void {
    if (msg.term > this.term) {
      if (msg.type === "preVote" || msg.type === "vote") {
        const force = msg.type === "vote" && msg.transfer;
        if (!force && this.#inLease()) return;
      }
      if (msg.type === "preVote" || (msg.type === "preVoteResp" && msg.granted)) {
        // A pre-vote never moves terms: that is its whole point.
      } else {
        const isLeaderMsg = msg.type === "append" || msg.type === "heartbeat" || msg.type === "snapshot";
        this.#becomeFollower(msg.term, isLeaderMsg ? from : null);
      }
    } else if (msg.term < this.term) {
      switch (msg.type) {
        case "append":
        case "heartbeat":
        case "snapshot":
          // Tell a stale leader about the newer term so it steps down.
          this.#send(from, { type: "heartbeatResp", term: this.term });
          break;
        case "preVote":
          this.#send(from, { type: "preVoteResp", term: this.term, granted: false });
          break;
        case "vote":
          this.#send(from, { type: "voteResp", term: this.term, granted: false });
          break;
      }
      return;
    }

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
        if (this.isVoter() && this.role !== "leader") this.#campaign("transfer");
        return;
    }
  }

  // ---- elections ----

  #inLease(): boolean {
    return this.leader !== null && this.#electionElapsed < this.#electionTicks;
  }

  #resetTimeout(): void {
    this.#timeout = this.#electionTicks + Math.floor(this.#random() * this.#electionTicks);
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

  #campaign(kind: "pre" | "real" | "transfer"): void {
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
    const lastIndex = this.log.lastIndex(), lastTerm = this.log.lastTerm();
    for (const p of this.log.membership().voters) {
      if (p === this.id) continue;
      if (kind === "pre") this.#send(p, { type: "preVote", term, lastIndex, lastTerm });
      else this.#send(p, { type: "vote", term, lastIndex, lastTerm, transfer: kind === "transfer" });
    }
    this.#tally();
  }

  #handleVoteRequest(from: PeerId, msg: Extract<Message, { type: "preVote" | "vote" }>): void {
    const canVote = this.#bugs.has("doubleVote") || this.vote === from ||
      (this.vote === null && this.leader === null) || (msg.type === "preVote" && msg.term > this.term);
    const upToDate = this.#bugs.has("voteIgnoresLog") || this.log.isUpToDate(msg.lastIndex, msg.lastTerm);
    const grant = canVote && upToDate;
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
    const voters = this.log.membership().voters;
    const q = Math.floor(voters.length / 2) + 1;
    let yes = 0, no = 0;
    for (const p of voters) {
      const v = this.#votes.get(p);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    if (yes >= q) {
      if (this.role === "preCandidate") this.#campaign("real");
      else if (this.role === "candidate") this.#becomeLeader();
    } else if (no >= q) {
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

  #quorumActive(): boolean {
    const voters = this.log.membership().voters;
    let active = 0;
    for (const p of voters) if (p === this.id || this.#progress.get(p)?.recentActive) active++;
    return active >= Math.floor(voters.length / 2) + 1;
  }

  // ---- replication (leader) ----

  #checkPropose(): ProposeError | null {
    if (this.role !== "leader") return "not_leader";
    if (this.#transferee !== null) return "transferring";
    return null;
  }

  /** Keep one Progress per member other than self (leader only). */
  #membershipChanged(): void {
    if (this.role !== "leader") return;
    const m = this.log.membership();
    const members = new Set([...m.voters, ...m.observers]);
    members.delete(this.id);
    for (const p of [...this.#progress.keys()]) if (!members.has(p)) this.#progress.delete(p);
    for (const p of members) {
      if (!this.#progress.has(p)) this.#progress.set(p, new Progress(this.log.lastIndex() + 1));
    }
  }

  #bcastAppend(): void {
    for (const p of this.#progress.keys()) this.#sendAppend(p, false);
  }

  #bcastHeartbeat(): void {
    for (const [p, pr] of this.#progress) {
      const commit = this.#bugs.has("commitBeyondMatch") ? this.commit : Math.min(pr.match, this.commit);
      this.#send(p, { type: "heartbeat", term: this.term, commit });
    }
  }

  #sendAppend(to: PeerId, allowEmpty: boolean): void {
    const pr = this.#progress.get(to);
    if (!pr) return;
    const last = this.log.lastIndex();
    while (pr.canSend(this.#maxInflight)) {
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.termAt(prevIndex);
      if (prevTerm < 0) {
        // The entries it needs are compacted away: send the snapshot instead.
        const snap = this.log.snapshot;
        if (!snap) return;
        pr.sendingSnapshot();
        this.#send(to, { type: "snapshot", term: this.term, snapshot: snap });
        return;
      }
      const entries = this.#batch(pr.next, last);
      if (entries.length === 0 && !allowEmpty) return;
      this.#send(to, { type: "append", term: this.term, prevIndex, prevTerm, entries, commit: this.commit });
      pr.sent(entries.length > 0 ? entries[entries.length - 1].index : prevIndex);
      if (entries.length === 0 || pr.next > last) return;
    }
  }

  #batch(from: number, last: number): Entry[] {
    const hi = Math.min(last, from + this.#maxBatch - 1);
    const entries = this.log.slice(from, hi);
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      bytes += entries[i].data.length;
      if (bytes > this.#maxBatchBytes && i > 0) return entries.slice(0, i);
    }
    return entries;
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
    const voters = this.log.membership().voters;
    if (voters.length === 0) return false;
    const candidate = quorumMatch(
      voters.map((p) => p === this.id ? this.log.lastIndex() : this.#progress.get(p)?.match ?? 0),
    );
    if (candidate <= this.commit) return false;
    if (this.log.termAt(candidate) !== this.term && !this.#bugs.has("commitOldTerm")) return false;
    this.commit = candidate;
    // A leader that removed itself hands over once the change is committed.
    if (!this.isVoter() && this.commit >= this.log.lastConfIndex()) this.#becomeFollower(this.term, null);
    return true;
  }

  // ---- replication (follower) ----

  #handleAppend(from: PeerId, msg: Extract<Message, { type: "append" }>): void {
    if (msg.prevIndex < this.commit) {
      // Everything up to our commit is settled; accept only what follows it.
      const rest = msg.entries.filter((e) => e.index > this.commit);
      const prevIndex = this.commit, prevTerm = this.log.termAt(this.commit);
      if (rest.length === 0) {
        this.#send(from, { type: "appendResp", term: this.term, success: true, index: this.commit, hint: 0 });
        return;
      }
      return this.#handleAppend(from, { ...msg, prevIndex, prevTerm, entries: rest });
    }
    const prevOk = this.log.matchTerm(msg.prevIndex, msg.prevTerm) ||
      (this.#bugs.has("skipPrevCheck") && msg.prevIndex <= this.log.lastIndex());
    if (!prevOk) {
      const hint = Math.min(msg.prevIndex - 1, this.log.lastIndex());
      this.#send(from, { type: "appendResp", term: this.term, success: false, index: msg.prevIndex, hint });
      return;
    }
    const hadConfs = this.log.confs.length;
    const lastConf = this.log.lastConfIndex();
    this.log.merge(msg.entries);
    if (this.log.confs.length !== hadConfs || this.log.lastConfIndex() !== lastConf) this.#membershipChanged();
    // Entries past the last new one are not known to match the leader's, so they cannot be committed yet.
    const lastNew = msg.prevIndex + msg.entries.length;
    const commitable = this.#bugs.has("commitBeyondMatch") ? this.log.lastIndex() : lastNew;
    if (msg.commit > this.commit) this.commit = Math.min(msg.commit, commitable);
    this.#send(from, { type: "appendResp", term: this.term, success: true, index: lastNew, hint: 0 });
  }

  #handleSnapshot(from: PeerId, snap: Snapshot): void {
    const idx = snap.meta.index;
    if (idx <= this.commit) {
      this.#send(from, { type: "appendResp", term: this.term, success: true, index: this.commit, hint: 0 });
      return;
    }
    if (this.log.matchTerm(idx, snap.meta.term)) {
      this.commit = idx;
    } else {
      this.log.install(snap);
      this.commit = idx;
      this.applied = idx;
      this.#snap = snap;
      this.#snapInstalled = true;
    }
    this.#send(from, { type: "appendResp", term: this.term, success: true, index: idx, hint: 0 });
  }

  #send(to: PeerId, msg: Message): void {
    this.#msgs.push({ to, msg });
  }
}
