import { findHeader } from "../protocol/headers.ts";
import { isLiteral, subjectMatches } from "../subjects/subject.ts";
import type { StreamConfig } from "./config.ts";
import { type ApiError, Errors } from "./errors.ts";
import { SeqList } from "./seqlist.ts";
import { MetaIndex } from "./meta_index.ts";
import { type StorageProvider, storedSize, type StoredMsg, type StreamBackend } from "./store/types.ts";

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

/** The stored sequences of one subject, holding the subject string every row of it shares. */
export class SubjectSeqs extends SeqList {
  constructor(readonly subject: string) {
    super();
  }
}

/** One stream: config, in-memory index over its backend, limits, dedupe and publish preconditions. */
export class Stream {
  /** Time, size and subject of every stored message, in columns (no object per message). */
  readonly metas = new MetaIndex();
  readonly order = new SeqList();
  readonly bySubject = new Map<string, SubjectSeqs>();
  readonly listeners = new Set<StreamListener>();
  private readonly backend: StreamBackend;
  private lastSeq = 0;
  private lastTime = 0;
  private bytes = 0;
  /** Nats-Msg-Id -> seq, insertion-ordered by time for expiry. */
  private readonly dedupe = new Map<string, { seq: number; time: number }>();
  private lastMsgId: string | undefined;
  private ageTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Set by the engine when the config has `republish`: called with every stored message and the prior last seq. */
  republish: ((m: StoredMsg, lastSeq: number) => void) | undefined;
  /** Streams fed by this one (mirrors and sources on the same server). */
  readonly downstream = new Set<(m: StoredMsg) => void>();
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
    const file = cfg.storage === "file";
    let prev = 0;
    // Only messages with headers can carry a Nats-Msg-Id: the dedupe window is rebuilt from those alone.
    const withHeaders: number[] = [];
    const visit = (seq: number, subject: string, size: number, time: number, hdr: number) => {
      if (seq <= prev) throw new Error(`stream ${cfg.name}: store read back seq ${seq} after ${prev}`);
      prev = seq;
      // hdr < 0: a backend that does not say; its message may have headers.
      if (hdr !== 0) withHeaders.push(seq);
      const h = Math.max(hdr, 0);
      this.index(seq, subject, file ? size - 16 - h + storedSize(0, h, 0, true) : size, time);
    };
    if (this.backend.scanEach !== undefined) this.backend.scanEach(visit);
    else for (const m of this.backend.scan()) visit(m.seq, m.subject, m.size, m.time, m.hdr ?? -1);
    const st = storage.getMeta(cfg.name, "state");
    if (st) {
      const parsed = JSON.parse(st) as { last_seq?: number; last_ts?: number };
      if ((parsed.last_seq ?? 0) > this.lastSeq) {
        this.lastSeq = parsed.last_seq ?? 0;
        this.lastTime = parsed.last_ts ?? 0;
      }
    }
    if (this.lastSeq === 0 && cfg.first_seq && cfg.first_seq > 1) this.lastSeq = cfg.first_seq - 1;
    this.rebuildDedupe(withHeaders);
    this.scheduleAge();
  }

  get name(): string {
    return this.cfg.name;
  }

  private index(seq: number, subject: string, size: number, time: number): void {
    let l = this.bySubject.get(subject);
    if (!l) {
      l = new SubjectSeqs(subject);
      this.bySubject.set(subject, l);
    }
    // The subject's one string, shared by all its rows (the publisher's copy is garbage after this).
    this.metas.add(seq, l.subject, size, time);
    this.order.push(seq);
    l.push(seq);
    this.bytes += size;
    if (seq > this.lastSeq) {
      this.lastSeq = seq;
      this.lastTime = time;
    }
  }

  /** `candidates`: the stored messages that have headers, ascending. */
  private rebuildDedupe(candidates: readonly number[]): void {
    const cutoff = this.now() - this.cfg.duplicate_window / NS;
    const recent: Array<[string, { seq: number; time: number }]> = [];
    for (let i = candidates.length - 1; i >= 0; i--) {
      const seq = candidates[i];
      const time = this.metas.timeOf(seq);
      if (!(time >= cutoff)) break;
      const m = this.backend.load(seq);
      const id = m?.headers ? findHeader(m.headers, "Nats-Msg-Id") : undefined;
      if (id) recent.push([id, { seq, time }]);
    }
    for (let i = recent.length - 1; i >= 0; i--) this.dedupe.set(recent[i][0], recent[i][1]);
  }

  state(): StreamState {
    const first = this.order.first();
    const firstTime = first !== undefined ? this.metas.timeOf(first) : NaN;
    const msgs = this.order.size;
    const st: StreamState = {
      messages: msgs,
      bytes: this.bytes,
      // nats-server reports 0 for a stream that never held a message.
      first_seq: first ?? (this.lastSeq > 0 ? this.lastSeq + 1 : 0),
      first_ts: tsString(firstTime >= 0 ? firstTime : 0),
      last_seq: this.lastSeq,
      last_ts: tsString(this.lastTime),
      num_subjects: this.bySubject.size,
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
    return this.bytes;
  }
  get firstSequence(): number {
    return this.order.first() ?? this.lastSeq + 1;
  }

  load(seq: number): StoredMsg | undefined {
    return this.metas.has(seq) ? this.backend.load(seq) : undefined;
  }

  /** First stored seq >= `from` whose subject matches one of `filters` (all when empty). */
  nextMatching(from: number, filters: string[]): number | undefined {
    if (filters.length === 0) return this.order.ceil(from);
    if (filters.length === 1 && (this.bySubject.has(filters[0]) || isLiteral(filters[0]))) {
      return this.bySubject.get(filters[0])?.ceil(from);
    }
    // Walk forward in sequence order for a while (a match is usually close), then ask each subject.
    let steps = 0;
    for (const seq of this.order.from(from)) {
      const subject = this.metas.subjectOf(seq);
      if (subject !== undefined && matchesAny(subject, filters)) return seq;
      if (++steps >= 256 && this.bySubject.size > 64) break;
    }
    if (steps < 256 || this.bySubject.size <= 64) return undefined;
    let best: number | undefined;
    for (const [subj, list] of this.bySubject) {
      if (!matchesAny(subj, filters)) continue;
      const c = list.ceil(from);
      if (c !== undefined && (best === undefined || c < best)) best = c;
    }
    return best;
  }

  /** Count of stored messages with seq >= from matching `filters`. */
  countFrom(from: number, filters: string[]): number {
    if (filters.length === 0) return this.order.countFrom(from);
    if (filters.length === 1 && isLiteral(filters[0])) return this.bySubject.get(filters[0])?.countFrom(from) ?? 0;
    let n = 0;
    for (const [subj, list] of this.bySubject) if (matchesAny(subj, filters)) n += list.countFrom(from);
    return n;
  }

  lastBySubject(subject: string): number | undefined {
    const l = this.bySubject.get(subject);
    if (l) return l.last();
    let best: number | undefined;
    for (const [subj, list] of this.bySubject) {
      if (!subjectMatches(subj, subject)) continue;
      const c = list.last();
      if (c !== undefined && (best === undefined || c > best)) best = c;
    }
    return best;
  }

  /** Last message seq of each subject matching `filters`, ascending (deliver_policy last_per_subject). */
  lastPerSubject(filters: string[]): number[] {
    const out: number[] = [];
    for (const [subj, list] of this.bySubject) {
      if (!matchesAny(subj, filters)) continue;
      const l = list.last();
      if (l !== undefined) out.push(l);
    }
    return out.sort((a, b) => a - b);
  }

  /** First seq whose time >= ms. */
  seqForTime(ms: number): number {
    for (let i = 0; i < this.order.size; i++) {
      const seq = this.order.at(i);
      if (this.metas.timeOf(seq) >= ms) return seq;
    }
    return this.lastSeq + 1;
  }

  /**
   * The write path of a single server: `prepare` then `apply`. Returns the PubAck or an API error; nothing
   * is stored when an error is returned.
   */
  publish(subject: string, headers: Uint8Array | undefined, data: Uint8Array): PubAck | ApiError {
    const e = this.prepare(subject, headers, data, this.now(), this.lastSeq);
    if (!isEntry(e)) return e;
    return this.apply(e) as PubAck;
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
  ): StreamEntry | PubAck | ApiError {
    const cfg = this.cfg;
    if (cfg.sealed) return Errors.streamSealed();
    const hlen = headers ? headers.length : 0;
    if (cfg.max_msg_size >= 0 && hlen + data.length > cfg.max_msg_size) return Errors.streamMessageExceedsMaximum();
    let msgId: string | undefined;
    let rollup: string | undefined;
    if (headers) {
      msgId = findHeader(headers, "Nats-Msg-Id");
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
        const last = this.bySubject.get(subject)?.last() ?? 0;
        if (Number(elss) !== last) return Errors.streamWrongLastSequence(last);
      }
      const elid = findHeader(headers, "Nats-Expected-Last-Msg-Id");
      if (elid !== undefined && elid !== (this.lastMsgId ?? "")) {
        return Errors.streamWrongLastMsgId(this.lastMsgId ?? "");
      }
      rollup = findHeader(headers, "Nats-Rollup");
      if (rollup !== undefined) {
        if (!cfg.allow_rollup_hdrs) return Errors.streamRollupFailed("rollup not permitted");
        if (rollup !== "sub" && rollup !== "all") return Errors.streamRollupFailed(`rollup value invalid: ${rollup}`);
        if (rollup === "all" && cfg.deny_purge) return Errors.streamRollupFailed("rollup not permitted");
      }
    }
    const size = storedSize(subject.length, hlen, data.length, cfg.storage === "file");
    if (cfg.discard === "new") {
      const perSubj = cfg.max_msgs_per_subject > 0 && cfg.discard_new_per_subject &&
        (this.bySubject.get(subject)?.size ?? 0) >= cfg.max_msgs_per_subject;
      if (perSubj) return Errors.streamStoreFailed("maximum messages per subject exceeded");
      if (cfg.max_msgs > 0 && this.order.size >= cfg.max_msgs && rollup === undefined) {
        return Errors.streamStoreFailed("maximum messages exceeded");
      }
      if (cfg.max_bytes > 0 && this.bytes + size > cfg.max_bytes && rollup === undefined) {
        return Errors.streamStoreFailed("maximum bytes exceeded");
      }
    }
    return { op: "msg", seq: lastSeq + 1, ts: now, subject, headers, data, msgId, rollup };
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
    const cfg = this.cfg;
    const { seq, ts: time, subject, headers, data } = e;
    const copy = e.mirrored === true || e.restored === true;
    if (copy ? seq <= this.lastSeq : seq !== this.lastSeq + 1) {
      // Sequences only grow: a replica that sees anything else holds a corrupted stream.
      if (copy) return { stream: cfg.name, seq };
      throw new Error(`stream ${cfg.name}: entry seq ${seq} does not follow last seq ${this.lastSeq}`);
    }
    const prevLast = this.lastSeq;
    const msg: StoredMsg = { seq, subject, headers, data, time };
    const size = storedSize(subject.length, headers?.length ?? 0, data.length, cfg.storage === "file");
    this.backend.append(msg);
    this.markDirty(this);
    this.index(seq, subject, size, time);
    if (!e.mirrored) {
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
    if (!e.restored) this.enforceLimits(subject);
    if (this.ageTimer === undefined) this.scheduleAge();
    for (const l of this.listeners) l.onStored(seq, subject);
    if (!copy && cfg.retention === "interest" && this.metas.has(seq)) this.checkInterest(seq, subject);
    for (const d of this.downstream) d(msg);
    if (!copy && this.republish) this.republish(msg, prevLast);
    return { stream: cfg.name, seq };
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

  private enforceLimits(subject: string): void {
    const cfg = this.cfg;
    const drop: number[] = [];
    if (cfg.max_msgs_per_subject > 0) {
      const l = this.bySubject.get(subject);
      if (l && l.size > cfg.max_msgs_per_subject) {
        for (let i = 0; i < l.size - cfg.max_msgs_per_subject; i++) drop.push(l.at(i));
      }
    }
    if (drop.length > 0) this.removeSeqs(drop);
    if (cfg.discard === "old") {
      const drop2: number[] = [];
      let n = this.order.size;
      let b = this.bytes;
      for (let i = 0; i < this.order.size; i++) {
        if (!((cfg.max_msgs > 0 && n > cfg.max_msgs) || (cfg.max_bytes > 0 && b > cfg.max_bytes))) break;
        const seq = this.order.at(i);
        drop2.push(seq);
        n--;
        b -= this.metas.sizeOf(seq) || 0;
      }
      if (drop2.length > 0) this.removeSeqs(drop2);
    }
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
    const first = this.order.first();
    if (first === undefined) return;
    const firstTime = this.metas.timeOf(first);
    if (Number.isNaN(firstTime)) return;
    const due = firstTime + this.cfg.max_age / NS - this.now();
    this.ageTimer = setTimeout(() => {
      this.ageTimer = undefined;
      this.expireAge();
      this.scheduleAge();
    }, Math.max(1, Math.min(due, 2 ** 31 - 1)));
  }

  private expireAge(): void {
    const cutoff = this.now() - this.cfg.max_age / NS;
    const drop: number[] = [];
    for (let i = 0; i < this.order.size; i++) {
      const seq = this.order.at(i);
      if (!(this.metas.timeOf(seq) <= cutoff)) break;
      drop.push(seq);
    }
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
    for (const seq of seqs) {
      const subject = this.metas.subjectOf(seq);
      if (subject === undefined) continue;
      const size = this.metas.sizeOf(seq);
      this.metas.delete(seq);
      this.order.remove(seq);
      const l = this.bySubject.get(subject);
      if (l) {
        l.remove(seq);
        if (l.size === 0) this.bySubject.delete(subject);
      }
      this.bytes -= size;
      gone.push(seq);
    }
    if (gone.length === 0) return 0;
    this.backend.remove(gone);
    this.markDirty(this);
    if (this.order.size === 0 || gone.includes(this.lastSeq)) this.saveState();
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
    let candidates: number[];
    if (filter && filter !== ">") {
      candidates = [];
      for (const [subj, list] of this.bySubject) {
        if (!subjectMatches(subj, filter)) continue;
        for (let i = 0; i < list.size; i++) candidates.push(list.at(i));
      }
      candidates.sort((a, b) => a - b);
    } else {
      candidates = [];
      for (let i = 0; i < this.order.size; i++) candidates.push(this.order.at(i));
    }
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
    if (this.ageTimer !== undefined) clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    this.scheduleAge();
  }

  private enforceAll(): void {
    if (this.cfg.max_msgs_per_subject > 0) {
      for (const subj of [...this.bySubject.keys()]) this.enforceLimits(subj);
    } else {
      const s = this.order.first();
      if (s !== undefined) this.enforceLimits(this.metas.subjectOf(s) ?? "");
    }
  }

  flush(): void {
    this.backend.flush();
  }

  close(): void {
    this.closed = true;
    if (this.ageTimer !== undefined) clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    this.backend.sync();
    this.backend.close();
  }
}
