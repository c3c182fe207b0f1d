import { findHeader } from "../protocol/headers.ts";
import { isLiteral, subjectMatches } from "../subjects/subject.ts";
import type { StreamConfig } from "./config.ts";
import { type ApiError, Errors } from "./errors.ts";
import { MemoryIndex, type MsgIndex } from "./store/msg_index.ts";
import { type StorageProvider, storedSize, type StoredMsg, type StreamBackend } from "./store/types.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

/** The stream's half of a consumer: what the stream tells its consumers and asks them. */
export interface StreamListener {
  /** A message was stored. */
  onStored(seq: number, subject: string): void;
  /** Messages `gone` were removed (purge, limits, acks); `firstSeq` is the stream's new first sequence. */
  onRemoved(firstSeq: number, gone: number[]): void;
  /** For interest/workqueue retention: does this consumer still need `seq`? */
  needs(seq: number, subject: string): boolean;
  filters(): string[];
  matchesSubject(subject: string): boolean;
}

export interface PubAck {
  stream: string;
  seq: number;
  duplicate?: boolean;
  domain?: string;
}

export interface StreamState {
  messages: number;
  bytes: number;
  first_seq: number;
  first_ts: string;
  last_seq: number;
  last_ts: string;
  num_subjects: number;
  num_deleted?: number;
  consumer_count: number;
}

export interface PurgeRequest {
  filter?: string;
  seq?: number;
  keep?: number;
  /**
   * Only messages up to this sequence (the last one when the purge was proposed): replaying a purge from a
   * replicated log after a restart then never takes messages stored after it.
   */
  upTo?: number;
}

/**
 * A state change of a stream, as it travels through the log (a log of one on a single server). `apply`
 * takes everything it needs from the entry: sequence and time are assigned once, by whoever proposes.
 */
export type StreamEntry =
  | {
    readonly op: "msg";
    readonly seq: number;
    /** Store time, milliseconds since the epoch. */
    readonly ts: number;
    readonly subject: string;
    readonly headers: Uint8Array | undefined;
    readonly data: Uint8Array;
    /** A mirror's copy: the origin's sequence, no dedupe, rollup or republish. */
    readonly mirrored?: boolean;
    /**
     * A replica catching up copies a message another replica already applied: gaps in sequence are fine and
     * its Nats-Msg-Id is remembered, but rollups, republish and retention already happened there.
     */
    readonly restored?: boolean;
    /** Parsed by `prepare` from the headers (re-parsed by `apply` when absent). */
    readonly msgId?: string;
    readonly rollup?: string;
  }
  | { readonly op: "purge"; readonly req: PurgeRequest }
  /** Explicit removals: message deletes, acknowledged work-queue/interest messages, max_age expiry. */
  | { readonly op: "remove"; readonly seqs: readonly number[] };

/** A message entry. */
type MsgEntry = Extract<StreamEntry, { op: "msg" }>;
/** publishSeq's entry, rewritten for each publish. */
type ScratchEntry = { -readonly [K in keyof MsgEntry]: MsgEntry[K] };

const EMPTY = new Uint8Array(0);

/** What `apply` returns: the PubAck of a message, or how many messages a purge/remove took. */
export type ApplyResult = PubAck | number;

/** Proposes an entry: a single server applies it at once; a replicated stream hands it to its Raft group. */
export type Submit = (s: Stream, e: StreamEntry) => ApplyResult | undefined;

const ZERO_TS = "0001-01-01T00:00:00Z";
const NS = 1_000_000;

export function tsString(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : ZERO_TS;
}

export function isEntry(v: StreamEntry | PubAck | ApiError): v is StreamEntry {
  return "op" in v;
}

function matchesAny(subject: string, filters: string[]): boolean {
  if (filters.length === 0) return true;
  for (const f of filters) if (subjectMatches(subject, f)) return true;
  return false;
}

export { SubjectSeqs } from "./store/msg_index.ts";

/**
 * What a replicated leader has proposed but not applied yet: two compare-and-set publishes on one subject in
 * flight at once must not both pass against the applied state (the second is checked against the first).
 */
export interface InFlight {
  /** Subject -> sequence of its latest proposal not applied yet. */
  readonly subjects: ReadonlyMap<string, number>;
  /** Msg-Id of the latest proposal when one is in flight (null: it had none), undefined when nothing is. */
  readonly lastMsgId: string | null | undefined;
  /**
   * Messages and their stored bytes in flight, and per subject how many (kept only under discard new with a
   * per-subject limit): a discard-new limit counts them as stored, or two publishes in flight at once both passed
   * it (the older one, acknowledged, was then removed by the per-subject limit; max_msgs/max_bytes were exceeded).
   */
  readonly msgs?: number;
  readonly bytes?: number;
  readonly subjectCounts?: ReadonlyMap<string, number>;
}

/** The smallest first seq >= `from` among `subjects`. */
function minCeil(ix: MsgIndex, subjects: Iterable<string>, from: number): number | undefined {
  let best: number | undefined;
  for (const subj of subjects) {
    const c = ix.subjectCeil(subj, from);
    if (c !== undefined && (best === undefined || c < best)) best = c;
  }
  return best;
}

/** One stream: config, in-memory index over its backend, limits, dedupe and publish preconditions. */
export class Stream {
  /**
   * Which messages are stored, with subject, size and time, and the per-subject state: the backend's own
   * index when it keeps one (the file store, on disk), else one in memory.
   */
  readonly index: MsgIndex;
  /** Whether `index` is the backend's (kept by append/remove) or ours (kept here). */
  private readonly ownIndex: boolean;
  readonly listeners = new Set<StreamListener>();
  /** On the engine's list of streams to flush (engine.ts markDirty): a flag, since a Set's add and delete allocate on V8. */
  flushListed = false;
  private readonly backend: StreamBackend;
  private lastSeq = 0;
  /**
   * The last stored message's time, in a typed array behind `lastTime`: as a number field it was given a new
   * number object at every stored message on V8 (12 B per publish, bench/alloc_per_msg.ts jsa; bench/RESULTS.md
   * `denojs`); a typed array's slot is written in place.
   */
  readonly #lastTime = new Float64Array(1);
  private get lastTime(): number {
    return this.#lastTime[0];
  }
  private set lastTime(t: number) {
    this.#lastTime[0] = t;
  }
  /** Nats-Msg-Id -> seq, insertion-ordered by time for expiry. */
  private readonly dedupe = new Map<string, { seq: number; time: number }>();
  private lastMsgId: string | undefined;
  /** A light timer (a runtime setTimeout loads Node's timer layer on Deno for good; light_timers.ts). */
  private ageTimer: Timer | undefined;
  private closed = false;
  /** Set by the engine when the config has `republish`: called with every stored message and the prior last seq. */
  republish: ((m: StoredMsg, lastSeq: number) => void) | undefined;
  /** Streams fed by this one (mirrors and sources on the same server). */
  readonly downstream = new Set<(m: StoredMsg) => void>();
  /**
   * A single server's publish: its entry, rewritten for each publish, as nothing keeps it once applied (undefined
   * while one is applied: a publish nested in it, a source feeding back, gets its own), and the message handed to
   * the backend, which copies what it keeps (StreamBackend.append). No object per publish for either.
   */
  #entry: ScratchEntry | undefined = {
    op: "msg",
    seq: 0,
    ts: 0,
    subject: "",
    headers: undefined,
    data: EMPTY,
    mirrored: undefined,
    restored: undefined,
    msgId: undefined,
    rollup: undefined,
  };
  readonly #appended: StoredMsg = { seq: 0, subject: "", headers: undefined, data: EMPTY, time: 0 };
  /**
   * Where state changes that do not come from a publish go (age expiry, interest acks, API deletes and
   * purges). Default: apply now. Clustering replaces it with a proposal to the stream's group.
   */
  submit: Submit = (st, e) => st.apply(e);

  constructor(
    public cfg: StreamConfig,
    public readonly created: string,
    private readonly storage: StorageProvider,
    private readonly now: () => number,
    /** Called when the backend holds unflushed writes; the engine flushes before acknowledging. */
    private readonly markDirty: (s: Stream) => void = (st) => st.flush(),
  ) {
    this.backend = storage.openStream(cfg.name);
    const own = this.backend.ownIndex?.();
    this.ownIndex = own !== undefined;
    this.index = own ?? new MemoryIndex();
    if (own === undefined) {
      const file = cfg.storage === "file";
      let prev = 0;
      const visit = (seq: number, subject: string, size: number, time: number, hdr: number) => {
        if (seq <= prev) throw new Error(`stream ${cfg.name}: store read back seq ${seq} after ${prev}`);
        prev = seq;
        const h = Math.max(hdr, 0);
        this.index.add(seq, subject, file ? size - 16 - h + storedSize(0, h, 0, true) : size, time, hdr);
      };
      if (this.backend.scanEach !== undefined) this.backend.scanEach(visit);
      else for (const m of this.backend.scan()) visit(m.seq, m.subject, m.size, m.time, m.hdr ?? -1);
    }
    const top = this.index.last();
    if (top !== undefined) {
      this.lastSeq = top;
      this.lastTime = this.index.timeOf(top);
    }
    const st = storage.getMeta(cfg.name, "state");
    if (st) {
      const parsed = JSON.parse(st) as { last_seq?: number; last_ts?: number };
      if ((parsed.last_seq ?? 0) > this.lastSeq) {
        this.lastSeq = parsed.last_seq ?? 0;
        this.lastTime = parsed.last_ts ?? 0;
      }
    }
    if (this.lastSeq === 0 && cfg.first_seq && cfg.first_seq > 1) this.lastSeq = cfg.first_seq - 1;
    this.rebuildDedupe();
    this.scheduleAge();
  }

  get name(): string {
    return this.cfg.name;
  }

  /** The sequence stored under Nats-Msg-Id `id` within the dedupe window, if any. */
  storedMsgIdSeq(id: string): number | undefined {
    return this.dedupe.get(id)?.seq;
  }

  /** The Nats-Msg-Ids of the dedupe window, from the newest stored messages that have headers. */
  private rebuildDedupe(): void {
    const cutoff = this.now() - this.cfg.duplicate_window / NS;
    const recent: Array<[string, { seq: number; time: number }]> = [];
    this.index.forEachWithHeaders(cutoff, (seq, time) => {
      const m = this.backend.load(seq);
      const id = m?.headers ? findHeader(m.headers, "Nats-Msg-Id") : undefined;
      if (id) recent.push([id, { seq, time }]);
    });
    for (let i = recent.length - 1; i >= 0; i--) this.dedupe.set(recent[i][0], recent[i][1]);
  }

  /** Seqs of the messages with exactly `subject`, ascending, at most `max`. */
  private subjectSeqs(subject: string, max = Infinity): number[] {
    const out: number[] = [];
    let s = this.index.subjectFirst(subject);
    while (s !== undefined && out.length < max) {
      out.push(s);
      s = this.index.subjectCeil(subject, s + 1);
    }
    return out;
  }

  state(): StreamState {
    const first = this.index.first();
    const firstTime = first !== undefined ? this.index.timeOf(first) : NaN;
    const msgs = this.index.count;
    const st: StreamState = {
      messages: msgs,
      bytes: this.index.bytes,
      // nats-server reports 0 for a stream that never held a message.
      first_seq: first ?? (this.lastSeq > 0 ? this.lastSeq + 1 : 0),
      first_ts: tsString(firstTime >= 0 ? firstTime : 0),
      last_seq: this.lastSeq,
      last_ts: tsString(this.lastTime),
      num_subjects: this.index.numSubjects,
      consumer_count: this.listeners.size,
    };
    const deleted = msgs > 0 ? this.lastSeq - (first ?? 0) + 1 - msgs : 0;
    if (deleted > 0) st.num_deleted = deleted;
    return st;
  }

  get lastSequence(): number {
    return this.lastSeq;
  }
  /** Bytes stored, as nats-server counts them (cheap: account limits read it on every publish). */
  get storedBytes(): number {
    return this.index.bytes;
  }
  get firstSequence(): number {
    return this.index.first() ?? this.lastSeq + 1;
  }
  /** Stored messages. */
  get count(): number {
    return this.index.count;
  }
  has(seq: number): boolean {
    return this.index.has(seq);
  }
  subjectOf(seq: number): string | undefined {
    return this.index.subjectOf(seq);
  }

  load(seq: number): StoredMsg | undefined {
    return this.index.has(seq) ? this.backend.load(seq) : undefined;
  }

  /** Stored subjects matching `filter`, with their message counts. */
  subjectCounts(filter: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const subj of this.index.subjects()) if (subjectMatches(subj, filter)) out[subj] = this.index.subjectCount(subj);
    return out;
  }

  /** First stored seq >= `from` whose subject matches one of `filters` (all when empty). */
  nextMatching(from: number, filters: string[]): number | undefined {
    const ix = this.index;
    if (filters.length === 0) return ix.ceil(from);
    if (filters.length === 1 && (isLiteral(filters[0]) || ix.subjectCount(filters[0]) > 0)) {
      return ix.subjectCeil(filters[0], from);
    }
    // Walk forward in sequence order for a while (a match is usually close), then ask each subject.
    let steps = 0;
    let found: number | undefined;
    // On a disk index the walk is always bounded first: asking a subject there reads blocks too.
    const many = ix.numSubjects > 64 || this.ownIndex;
    const walk = (start: number, limit: number) => {
      ix.forEach(start, (seq, subject) => {
        if (matchesAny(subject, filters)) {
          found = seq;
          return false;
        }
        if (++steps >= limit) return false;
      });
    };
    walk(from, many ? 256 : Infinity);
    if (found !== undefined || steps < 256 || !many) return found;
    if (this.ownIndex) {
      // The subjects that still have a message at or after `from`: few, ask each; many, walk on.
      const live: string[] = [];
      for (const subj of ix.subjects()) {
        if (!matchesAny(subj, filters) || !((ix.subjectLast(subj) ?? -1) >= from)) continue;
        live.push(subj);
        if (live.length > 16) break;
      }
      if (live.length > 16) {
        walk(from, Infinity);
        return found;
      }
      return minCeil(ix, live, from);
    }
    const all: string[] = [];
    for (const subj of ix.subjects()) if (matchesAny(subj, filters)) all.push(subj);
    return minCeil(ix, all, from);
  }

  /** Count of stored messages with seq >= from matching `filters`. */
  countFrom(from: number, filters: string[]): number {
    const ix = this.index;
    if (filters.length === 0) return ix.countFrom(from);
    if (filters.length === 1 && isLiteral(filters[0])) return ix.subjectCountFrom(filters[0], from);
    let n = 0;
    if (ix.countFromWhere !== undefined) return ix.countFromWhere(from, (subj) => matchesAny(subj, filters));
    if (!this.ownIndex) {
      for (const subj of ix.subjects()) if (matchesAny(subj, filters)) n += ix.subjectCountFrom(subj, from);
      return n;
    }
    // On a disk index: whole subjects from their bounds; the ones `from` cuts through counted per subject
    // when few, else in one pass over the messages from `from`.
    const cut = new Set<string>();
    for (const subj of ix.subjects()) {
      if (!matchesAny(subj, filters)) continue;
      if ((ix.subjectFirst(subj) ?? Infinity) >= from) n += ix.subjectCount(subj);
      else if ((ix.subjectLast(subj) ?? -1) >= from) cut.add(subj);
    }
    if (cut.size <= 16) for (const subj of cut) n += ix.subjectCountFrom(subj, from);
    else {
      ix.forEach(from, (_seq, subj) => {
        if (cut.has(subj)) n++;
      });
    }
    return n;
  }

  lastBySubject(subject: string): number | undefined {
    const ix = this.index;
    const l = ix.subjectLast(subject);
    if (l !== undefined) return l;
    let best: number | undefined;
    for (const subj of ix.subjects()) {
      if (!subjectMatches(subj, subject)) continue;
      const c = ix.subjectLast(subj);
      if (c !== undefined && (best === undefined || c > best)) best = c;
    }
    return best;
  }

  /** Last message seq of each subject matching `filters`, ascending (deliver_policy last_per_subject). */
  lastPerSubject(filters: string[]): number[] {
    const out: number[] = [];
    for (const subj of this.index.subjects()) {
      if (!matchesAny(subj, filters)) continue;
      const l = this.index.subjectLast(subj);
      if (l !== undefined) out.push(l);
    }
    return out.sort((a, b) => a - b);
  }

  /** First seq whose time >= ms. */
  seqForTime(ms: number): number {
    let found = this.lastSeq + 1;
    this.index.forEach(0, (seq, _subject, _size, time) => {
      if (time >= ms) {
        found = seq;
        return false;
      }
    });
    return found;
  }

  /**
   * The write path of a single server: `prepare` then `apply`. Returns the PubAck or an API error; nothing
   * is stored when an error is returned.
   */
  publish(subject: string, headers: Uint8Array | undefined, data: Uint8Array): PubAck | ApiError {
    const r = this.publishSeq(subject, headers, data);
    return typeof r === "number" ? { stream: this.cfg.name, seq: r } : r;
  }

  /**
   * The write path itself, as `publish`, giving the stored message's sequence instead of a PubAck object (a single
   * server's capture: one object less per sync publish, bench/RESULTS.md `tail`); a duplicate's PubAck or an API
   * error as `publish` gives them.
   */
  publishSeq(subject: string, headers: Uint8Array | undefined, data: Uint8Array): number | PubAck | ApiError {
    const into = this.#entry;
    this.#entry = undefined;
    try {
      const e = this.prepare(subject, headers, data, this.now(), this.lastSeq, undefined, into);
      if (!isEntry(e)) return e;
      if (e.op !== "msg") return this.apply(e) as PubAck;
      return this.applyMsgSeq(e);
    } finally {
      if (into !== undefined) {
        // Nothing of the publish is held until the next one (its bytes may be a read buffer's).
        into.headers = undefined;
        into.data = EMPTY;
        into.msgId = into.rollup = undefined;
        this.#entry = into;
      }
    }
  }

  /** Is `subject` one of the stream's subjects (what its capture listens on)? */
  capturesSubject(subject: string): boolean {
    for (const f of this.cfg.subjects) if (subjectMatches(subject, f)) return true;
    return false;
  }

  /**
   * Validates a publish against the stream's state and turns it into an entry with the next sequence after
   * `lastSeq` (a replicated leader passes the last sequence it proposed) and the time `now`. A duplicate
   * `Nats-Msg-Id` yields its PubAck; a failed precondition its API error. Changes nothing.
   */
  prepare(
    subject: string,
    headers: Uint8Array | undefined,
    data: Uint8Array,
    now: number,
    lastSeq: number,
    /** A replicated leader's proposals not applied yet: conditions are checked against them too. */
    inflight?: InFlight,
    /** The entry to fill in and return instead of a new one (publishSeq's, which nothing keeps). */
    into?: ScratchEntry,
  ): StreamEntry | PubAck | ApiError {
    const cfg = this.cfg;
    if (cfg.sealed) return Errors.streamSealed();
    const hlen = headers ? headers.length : 0;
    if (cfg.max_msg_size >= 0 && hlen + data.length > cfg.max_msg_size) return Errors.streamMessageExceedsMaximum();
    let msgId: string | undefined;
    let rollup: string | undefined;
    if (headers) {
      const refused = this.#checkHeaders(subject, headers, now, lastSeq, inflight);
      if (refused !== undefined) return refused;
      msgId = this.#hdrMsgId;
      rollup = this.#hdrRollup;
      this.#hdrMsgId = this.#hdrRollup = undefined;
    }
    if (cfg.discard === "new") {
      const refused = this.#discardNew(subject, storedSize(subject.length, hlen, data.length, cfg.storage === "file"), rollup, inflight);
      if (refused !== undefined) return refused;
    }
    if (into === undefined) return { op: "msg", seq: lastSeq + 1, ts: now, subject, headers, data, msgId, rollup };
    into.seq = lastSeq + 1;
    into.ts = now;
    into.subject = subject;
    into.headers = headers;
    into.data = data;
    into.msgId = msgId;
    into.rollup = rollup;
    return into;
  }

  /** What #checkHeaders found for prepare (fields, not an object: nothing allocated per publish). */
  #hdrMsgId: string | undefined = undefined;
  #hdrRollup: string | undefined = undefined;

  /**
   * prepare's checks of a publish's headers (dedupe, expectations, rollup), apart from it: most publishes carry no
   * headers, and the optimizing compilers compile all of a function's code (bench/RESULTS.md `hotcode`). Returns
   * the duplicate's PubAck or the refusal; otherwise leaves the message id and rollup in #hdrMsgId / #hdrRollup.
   */
  #checkHeaders(subject: string, headers: Uint8Array, now: number, lastSeq: number, inflight: InFlight | undefined): PubAck | ApiError | undefined {
    const cfg = this.cfg;
    const msgId = findHeader(headers, "Nats-Msg-Id");
    if (msgId) {
      this.expireDedupe(now);
      const d = this.dedupe.get(msgId);
      if (d) return { stream: cfg.name, seq: d.seq, duplicate: true };
    }
    const es = findHeader(headers, "Nats-Expected-Stream");
    if (es !== undefined && es !== cfg.name) return Errors.streamNotMatch();
    const els = findHeader(headers, "Nats-Expected-Last-Sequence");
    if (els !== undefined && Number(els) !== lastSeq) return Errors.streamWrongLastSequence(lastSeq);
    const elss = findHeader(headers, "Nats-Expected-Last-Subject-Sequence");
    if (elss !== undefined) {
      const last = inflight?.subjects.get(subject) ?? this.index.subjectLast(subject) ?? 0;
      if (Number(elss) !== last) return Errors.streamWrongLastSequence(last);
    }
    const elid = findHeader(headers, "Nats-Expected-Last-Msg-Id");
    const lastId = inflight?.lastMsgId !== undefined ? inflight.lastMsgId : this.lastMsgId;
    if (elid !== undefined && elid !== (lastId ?? "")) {
      return Errors.streamWrongLastMsgId(lastId ?? "");
    }
    const rollup = findHeader(headers, "Nats-Rollup");
    if (rollup !== undefined) {
      if (!cfg.allow_rollup_hdrs) return Errors.streamRollupFailed("rollup not permitted");
      if (rollup !== "sub" && rollup !== "all") return Errors.streamRollupFailed(`rollup value invalid: ${rollup}`);
      if (rollup === "all" && cfg.deny_purge) return Errors.streamRollupFailed("rollup not permitted");
    }
    this.#hdrMsgId = msgId;
    this.#hdrRollup = rollup;
    return undefined;
  }

  /** prepare's refusals of a stream with `discard: new` that is full (apart from it, as #checkHeaders). */
  #discardNew(subject: string, size: number, rollup: string | undefined, inflight: InFlight | undefined): ApiError | undefined {
    const cfg = this.cfg;
    const perSubj = cfg.max_msgs_per_subject > 0 && cfg.discard_new_per_subject &&
      this.index.subjectCount(subject) + (inflight?.subjectCounts?.get(subject) ?? 0) >= cfg.max_msgs_per_subject;
    if (perSubj) return Errors.streamStoreFailed("maximum messages per subject exceeded");
    if (cfg.max_msgs > 0 && this.index.count + (inflight?.msgs ?? 0) >= cfg.max_msgs && rollup === undefined) {
      return Errors.streamStoreFailed("maximum messages exceeded");
    }
    if (cfg.max_bytes > 0 && this.index.bytes + (inflight?.bytes ?? 0) + size > cfg.max_bytes && rollup === undefined) {
      return Errors.streamStoreFailed("maximum bytes exceeded");
    }
    return undefined;
  }

  /**
   * The one door for state changes: deterministic, no clock, sequence and time from the entry. Every replica
   * applying the same entries in the same order holds the same stream.
   */
  apply(e: StreamEntry): ApplyResult {
    switch (e.op) {
      case "msg":
        return this.applyMsg(e);
      case "purge":
        return this.applyPurge(e.req);
      case "remove":
        return this.removeSeqs(e.seqs);
    }
  }

  private applyMsg(e: Extract<StreamEntry, { op: "msg" }>): PubAck {
    return { stream: this.cfg.name, seq: this.applyMsgSeq(e) };
  }

  /** applyMsg without the PubAck object: the entry's sequence. */
  private applyMsgSeq(e: Extract<StreamEntry, { op: "msg" }>): number {
    const cfg = this.cfg;
    const { seq, ts: time, subject, headers, data } = e;
    const copy = e.mirrored === true || e.restored === true;
    if (copy ? seq <= this.lastSeq : seq !== this.lastSeq + 1) {
      // Sequences only grow: a replica that sees anything else holds a corrupted stream.
      if (copy) return seq;
      this.#outOfOrder(seq);
    }
    const prevLast = this.lastSeq;
    const size = storedSize(subject.length, headers?.length ?? 0, data.length, cfg.storage === "file");
    // The backend copies what it keeps (StreamBackend.append) and calls nothing back: one object for every append.
    const appended = this.#appended;
    appended.seq = seq;
    appended.subject = subject;
    appended.headers = headers;
    appended.data = data;
    appended.time = time;
    try {
      this.backend.append(appended);
    } finally {
      appended.headers = undefined;
      appended.data = EMPTY;
    }
    this.markDirty(this);
    if (!this.ownIndex) this.index.add(seq, subject, size, time, headers?.length ?? 0);
    this.lastSeq = seq;
    this.lastTime = time;
    if (!e.mirrored) {
      if (headers !== undefined || e.msgId !== undefined || e.rollup !== undefined) this.#storedIdAndRollup(e);
      else this.lastMsgId = undefined;
    }
    if (!e.restored) this.enforceLimits(subject);
    // Checked here: scheduleAge's timer closure captures `this`, which costs an allocation on every call.
    if (this.ageTimer === undefined && cfg.max_age > 0) this.scheduleAge();
    // Iterating an empty Set still allocates an iterator (per stored message, on the sync publish path).
    if (this.listeners.size > 0) this.#notifyStored(seq, subject);
    if (!copy && cfg.retention === "interest" && this.index.has(seq)) this.checkInterest(seq, subject);
    if (this.downstream.size === 0 && (copy || this.republish === undefined)) return seq;
    this.#passOn({ seq, subject, headers, data, time }, prevLast, copy);
    return seq;
  }

  /**
   * applyMsgSeq's cold parts, apart from it: the optimizing compilers compile all of a function's code, and most
   * stored messages have no header, no mirror or source downstream and no republish (bench/RESULTS.md `hotcode`).
   */
  #outOfOrder(seq: number): never {
    throw new Error(`stream ${this.cfg.name}: entry seq ${seq} does not follow last seq ${this.lastSeq}`);
  }

  /** The stream's listeners (consumers waiting for messages) told of a stored one (see #outOfOrder). */
  #notifyStored(seq: number, subject: string): void {
    for (const l of this.listeners) l.onStored(seq, subject);
  }

  /** A stored message's `Nats-Msg-Id` (dedupe window, last id) and `Nats-Rollup` (see #outOfOrder). */
  #storedIdAndRollup(e: Extract<StreamEntry, { op: "msg" }>): void {
    const { seq, ts: time, subject, headers } = e;
    const msgId = e.msgId ?? (headers ? findHeader(headers, "Nats-Msg-Id") : undefined);
    const rollup = e.rollup ?? (headers ? findHeader(headers, "Nats-Rollup") : undefined);
    if (msgId) {
      this.expireDedupe(time);
      this.dedupe.set(msgId, { seq, time });
      this.lastMsgId = msgId;
    } else this.lastMsgId = undefined;
    if (rollup === "sub" && !e.restored) this.applyPurge({ filter: subject, keep: 1 });
    else if (rollup === "all" && !e.restored) this.applyPurge({ keep: 1 });
  }

  /** A stored message to the mirrors and sources fed from here and to republish (see #outOfOrder). */
  #passOn(msg: StoredMsg, prevLast: number, copy: boolean): void {
    if (this.downstream.size > 0) for (const d of this.downstream) d(msg);
    if (!copy && this.republish) this.republish(msg, prevLast);
  }

  /** Stores a message keeping its original sequence (mirrors). */
  storeMirrored(m: StoredMsg): void {
    if (m.seq <= this.lastSeq) return;
    this.submit(this, {
      op: "msg",
      seq: m.seq,
      ts: this.now(),
      subject: m.subject,
      headers: m.headers,
      data: m.data,
      mirrored: true,
    });
  }

  /** Runs after every stored message: allocates nothing unless something is over a limit (GC work per message). */
  private enforceLimits(subject: string): void {
    const cfg = this.cfg;
    if (cfg.max_msgs_per_subject > 0) {
      const over = this.index.subjectCount(subject) - cfg.max_msgs_per_subject;
      if (over > 0) this.removeSeqs(this.subjectSeqs(subject, over));
    }
    if (cfg.discard !== "old") return;
    if (overStreamLimits(cfg, this.index.count, this.index.bytes)) this.dropOldest();
  }

  /**
   * Discard-old limits exceeded: drop from the front until within them. Apart from enforceLimits because of its
   * closure: JSC allocates a function's captured variables on every call, even when it returns before the
   * closure is made.
   */
  private dropOldest(): void {
    const cfg = this.cfg;
    let n = this.index.count;
    let b = this.index.bytes;
    const drop: number[] = [];
    this.index.forEach(0, (seq, _subject, size) => {
      if (!overStreamLimits(cfg, n, b)) return false;
      drop.push(seq);
      n--;
      b -= size || 0;
    });
    if (drop.length > 0) this.removeSeqs(drop);
  }

  private expireDedupe(now: number): void {
    const cutoff = now - this.cfg.duplicate_window / NS;
    for (const [id, d] of this.dedupe) {
      if (d.time >= cutoff) break;
      this.dedupe.delete(id);
    }
  }

  private scheduleAge(): void {
    if (this.closed || this.cfg.max_age <= 0) return;
    const first = this.index.first();
    if (first === undefined) return;
    const firstTime = this.index.timeOf(first);
    if (Number.isNaN(firstTime)) return;
    const due = firstTime + this.cfg.max_age / NS - this.now();
    this.ageTimer = lightTimeout(Math.max(1, Math.min(due, 2 ** 31 - 1)), () => {
      this.ageTimer = undefined;
      this.expireAge();
      this.scheduleAge();
    });
  }

  private expireAge(): void {
    const cutoff = this.now() - this.cfg.max_age / NS;
    const drop: number[] = [];
    this.index.forEach(0, (seq, _subject, _size, time) => {
      if (!(time <= cutoff)) return false;
      drop.push(seq);
    });
    if (drop.length > 0) this.submit(this, { op: "remove", seqs: drop });
  }

  /** Retention interest/workqueue: drop a message no consumer needs any more. */
  checkInterest(seq: number, subject: string): void {
    let matched = false;
    for (const l of this.listeners) {
      if (l.needs(seq, subject)) return;
      if (this.cfg.retention === "workqueue" && !matched) matched = l.filters().length === 0 || l.matchesSubject(subject);
    }
    // A work queue keeps what no consumer has taken yet.
    if (this.cfg.retention === "workqueue" && !matched) return;
    this.submit(this, { op: "remove", seqs: [seq] });
  }

  /** Removes messages from index and backend; persists the high-water mark when the tail goes. */
  private removeSeqs(seqs: readonly number[]): number {
    const gone: number[] = [];
    const ix = this.index;
    if (this.ownIndex) {
      for (const seq of seqs) if (ix.has(seq)) gone.push(seq);
      if (gone.length === 0) return 0;
      // The backend's index forgets them as it removes them.
      this.backend.remove(gone);
    } else {
      for (const seq of seqs) if (ix.delete(seq)) gone.push(seq);
      if (gone.length === 0) return 0;
      this.backend.remove(gone);
    }
    this.markDirty(this);
    if (ix.count === 0 || gone.includes(this.lastSeq)) this.saveState();
    const first = this.firstSequence;
    for (const l of this.listeners) l.onRemoved(first, gone);
    return gone.length;
  }

  private saveState(): void {
    this.storage.putMeta(this.name, "state", JSON.stringify({ last_seq: this.lastSeq, last_ts: this.lastTime }));
  }

  /** Deletes one message; `undefined` when the change was handed to a replicated group. */
  deleteMsg(seq: number): boolean | undefined {
    const r = this.submit(this, { op: "remove", seqs: [seq] });
    return r === undefined ? undefined : r === 1;
  }

  /** Purges; `undefined` when the change was handed to a replicated group. */
  purge(req: PurgeRequest): number | undefined {
    const r = this.submit(this, { op: "purge", req });
    return typeof r === "number" ? r : undefined;
  }

  private applyPurge(req: PurgeRequest): number {
    const { filter, seq, keep, upTo } = req;
    let candidates: number[] = [];
    if (filter && filter !== ">" && isLiteral(filter)) candidates = this.subjectSeqs(filter);
    else if (filter && filter !== ">") {
      this.index.forEach(0, (s, subj) => {
        if (subjectMatches(subj, filter)) candidates.push(s);
      });
    } else this.index.forEach(0, (s) => void candidates.push(s));
    if (upTo !== undefined) candidates = candidates.filter((s) => s <= upTo);
    if (seq !== undefined && seq > 0) candidates = candidates.filter((s) => s < seq);
    else if (keep !== undefined && keep > 0) {
      candidates = candidates.slice(0, Math.max(0, candidates.length - keep));
    }
    if (!filter && seq === undefined && !keep) {
      // A full purge keeps the sequence counter; persist it so a restart does not reuse numbers.
      const n = this.removeSeqs(candidates);
      this.saveState();
      return n;
    }
    if (seq !== undefined && seq > this.lastSeq + 1 && !filter) {
      this.lastSeq = seq - 1;
      this.saveState();
    }
    return this.removeSeqs(candidates);
  }

  updateConfig(cfg: StreamConfig): void {
    this.cfg = cfg;
    this.enforceAll();
    this.ageTimer?.cancel();
    this.ageTimer = undefined;
    this.scheduleAge();
  }

  private enforceAll(): void {
    if (this.cfg.max_msgs_per_subject > 0) {
      for (const subj of [...this.index.subjects()]) this.enforceLimits(subj);
    } else {
      const s = this.index.first();
      if (s !== undefined) this.enforceLimits(this.index.subjectOf(s) ?? "");
    }
  }

  flush(): void {
    this.backend.flush();
  }

  /** Make this stream's messages durable now (fsync where the backend has a disk), not every stream's. */
  sync(): void {
    this.backend.sync();
  }

  /** sync() off the event loop where the backend can; `done` runs once the messages stored so far are durable. */
  syncAsync(done: () => void): void {
    if (this.backend.syncAsync) return this.backend.syncAsync(done);
    this.backend.sync();
    done();
  }

  close(): void {
    this.closed = true;
    this.ageTimer?.cancel();
    this.ageTimer = undefined;
    this.backend.sync();
    this.backend.close();
  }
}

/** Does a stream holding `n` messages and `b` bytes exceed its max_msgs or max_bytes? */
function overStreamLimits(cfg: StreamConfig, n: number, b: number): boolean {
  return (cfg.max_msgs > 0 && n > cfg.max_msgs) || (cfg.max_bytes > 0 && b > cfg.max_bytes);
}
