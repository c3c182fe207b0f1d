/**
 * What a stream keeps in memory for each stored message (time, size, subject), as columns of a SeqTable:
 * about 20 bytes a message and no object each. `get` builds a MsgMeta for callers that want one; the write
 * path and the limits use the column accessors and allocate nothing.
 */
import type { MsgMeta } from "./store/types.ts";
import { SeqTable } from "./seqtable.ts";

const TIME = 0;
const SIZE = 1;

export class MetaIndex {
  readonly #t = new SeqTable<string>(["f64", "u32"], true);

  get size(): number {
    return this.#t.size;
  }

  has(seq: number): boolean {
    return this.#t.has(seq);
  }

  /** `subject` should be the stream's interned copy: every row of a subject then shares one string. */
  add(seq: number, subject: string, size: number, time: number): void {
    this.#t.set(seq, [time, size], subject);
  }

  set(seq: number, m: MsgMeta): void {
    this.add(seq, m.subject, m.size, m.time);
  }

  get(seq: number): MsgMeta | undefined {
    const subject = this.#t.ref(seq);
    if (subject === undefined) return undefined;
    return { seq, subject, size: this.#t.num(seq, SIZE), time: this.#t.num(seq, TIME) };
  }

  subjectOf(seq: number): string | undefined {
    return this.#t.ref(seq);
  }

  /** Store time in ms; NaN when absent. */
  timeOf(seq: number): number {
    return this.#t.num(seq, TIME);
  }

  /** Stored size as nats-server counts it; NaN when absent. */
  sizeOf(seq: number): number {
    return this.#t.num(seq, SIZE);
  }

  delete(seq: number): boolean {
    return this.#t.delete(seq);
  }

  *entries(): IterableIterator<[number, MsgMeta]> {
    for (const seq of this.#t.seqs()) {
      const m = this.get(seq);
      if (m !== undefined) yield [seq, m];
    }
  }

  [Symbol.iterator](): IterableIterator<[number, MsgMeta]> {
    return this.entries();
  }

  keys(): IterableIterator<number> {
    return this.#t.seqs();
  }
}
