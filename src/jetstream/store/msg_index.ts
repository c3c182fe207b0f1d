/**
 * The index a stream reads its state through: which sequences are stored, each one's subject, size and time,
 * and the per-subject state (count, first, last) that limits, KV and filtered consumers need. A backend that
 * indexes what it stores itself (the file store keeps per-block indexes on disk with a bounded cache) hands
 * out its own; every other backend gets `MemoryIndex`, which keeps everything in memory. The stream behaves
 * the same on both: `MemoryIndex` is the reference the property tests hold the others to.
 */
import { SeqList } from "../seqlist.ts";
import { MetaIndex } from "../meta_index.ts";

/** A visitor over stored messages; return `false` to stop. `hdr` is the header length, -1 when not known. */
export type MsgVisit = (seq: number, subject: string, size: number, time: number, hdr: number) => boolean | void;

export interface MsgIndex {
  /** Stored messages. */
  readonly count: number;
  /** Their size, as nats-server counts it. */
  readonly bytes: number;
  /** Distinct subjects stored. */
  readonly numSubjects: number;
  first(): number | undefined;
  last(): number | undefined;
  has(seq: number): boolean;
  subjectOf(seq: number): string | undefined;
  /** NaN when absent. */
  timeOf(seq: number): number;
  /** NaN when absent. */
  sizeOf(seq: number): number;
  /** First stored seq >= `from`. */
  ceil(from: number): number | undefined;
  /** Stored messages with seq >= `from`. */
  countFrom(from: number): number;
  /** Stored messages ascending from `from`. */
  forEach(from: number, visit: MsgVisit): void;
  /** Stored messages descending from `from` (inclusive). */
  forEachBack(from: number, visit: MsgVisit): void;
  /**
   * Stored messages that may carry headers (only those can hold a Nats-Msg-Id), newest first, until one is
   * older than `since`.
   */
  forEachWithHeaders(since: number, visit: (seq: number, time: number) => boolean | void): void;
  /** Every stored subject (no order promised). */
  subjects(): Iterable<string>;
  subjectCount(subject: string): number;
  subjectLast(subject: string): number | undefined;
  subjectFirst(subject: string): number | undefined;
  /** First seq >= `from` stored under exactly `subject`. */
  subjectCeil(subject: string, from: number): number | undefined;
  subjectCountFrom(subject: string, from: number): number;
  /** Optional fast path: messages with seq >= `from` whose subject `match`es, in one pass over the index. */
  countFromWhere?(from: number, match: (subject: string) => boolean): number;
  /** Records a stored message (ascending seqs). Backends with their own index do this in `append`. */
  add(seq: number, subject: string, size: number, time: number, hdr: number): void;
  /** Forgets a message; false when it was not stored. Backends with their own index do this in `remove`. */
  delete(seq: number): boolean;
}

/** The stored sequences of one subject, holding the subject string every row of it shares. */
export class SubjectSeqs extends SeqList {
  constructor(readonly subject: string) {
    super();
  }
}

/** Everything in memory: columns per message (`MetaIndex`), runs of sequences overall and per subject. */
export class MemoryIndex implements MsgIndex {
  readonly #metas = new MetaIndex();
  readonly #order = new SeqList();
  readonly #bySubject = new Map<string, SubjectSeqs>();
  /** Seqs that may carry headers (hdr != 0 when added): runs, so cheap when every message has them. */
  readonly #hdr = new SeqList();
  #bytes = 0;

  get count(): number {
    return this.#order.size;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get numSubjects(): number {
    return this.#bySubject.size;
  }
  first(): number | undefined {
    return this.#order.first();
  }
  last(): number | undefined {
    return this.#order.last();
  }
  has(seq: number): boolean {
    return this.#metas.has(seq);
  }
  subjectOf(seq: number): string | undefined {
    return this.#metas.subjectOf(seq);
  }
  timeOf(seq: number): number {
    return this.#metas.timeOf(seq);
  }
  sizeOf(seq: number): number {
    return this.#metas.sizeOf(seq);
  }
  ceil(from: number): number | undefined {
    return this.#order.ceil(from);
  }
  countFrom(from: number): number {
    return this.#order.countFrom(from);
  }
  forEach(from: number, visit: MsgVisit): void {
    const m = this.#metas;
    for (const seq of this.#order.from(from)) {
      if (visit(seq, m.subjectOf(seq) ?? "", m.sizeOf(seq), m.timeOf(seq), -1) === false) return;
    }
  }
  forEachBack(from: number, visit: MsgVisit): void {
    const o = this.#order;
    const m = this.#metas;
    for (let i = o.size - o.countFrom(from + 1) - 1; i >= 0; i--) {
      const seq = o.at(i);
      if (visit(seq, m.subjectOf(seq) ?? "", m.sizeOf(seq), m.timeOf(seq), -1) === false) return;
    }
  }
  forEachWithHeaders(since: number, visit: (seq: number, time: number) => boolean | void): void {
    const h = this.#hdr;
    for (let i = h.size - 1; i >= 0; i--) {
      const seq = h.at(i);
      const time = this.#metas.timeOf(seq);
      if (!(time >= since) || visit(seq, time) === false) return;
    }
  }
  subjects(): Iterable<string> {
    return this.#bySubject.keys();
  }
  subjectCount(subject: string): number {
    return this.#bySubject.get(subject)?.size ?? 0;
  }
  subjectLast(subject: string): number | undefined {
    return this.#bySubject.get(subject)?.last();
  }
  subjectFirst(subject: string): number | undefined {
    return this.#bySubject.get(subject)?.first();
  }
  subjectCeil(subject: string, from: number): number | undefined {
    return this.#bySubject.get(subject)?.ceil(from);
  }
  subjectCountFrom(subject: string, from: number): number {
    return this.#bySubject.get(subject)?.countFrom(from) ?? 0;
  }
  add(seq: number, subject: string, size: number, time: number, hdr: number): void {
    let l = this.#bySubject.get(subject);
    if (!l) {
      l = new SubjectSeqs(subject);
      this.#bySubject.set(subject, l);
    }
    // The subject's one string, shared by all its rows (the publisher's copy is garbage after this).
    this.#metas.add(seq, l.subject, size, time);
    this.#order.push(seq);
    l.push(seq);
    if (hdr !== 0) this.#hdr.push(seq);
    this.#bytes += size;
  }
  delete(seq: number): boolean {
    const subject = this.#metas.subjectOf(seq);
    if (subject === undefined) return false;
    this.#bytes -= this.#metas.sizeOf(seq);
    this.#metas.delete(seq);
    this.#order.remove(seq);
    this.#hdr.remove(seq);
    const l = this.#bySubject.get(subject);
    if (l) {
      l.remove(seq);
      if (l.size === 0) this.#bySubject.delete(subject);
    }
    return true;
  }
}
