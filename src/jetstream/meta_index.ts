/**
 * What a stream keeps in memory for each stored message (time, size, subject), as columns of a SeqTable:
 * 16 bytes a message and no object or reference each (subjects are interned to numeric ids, counted so an
 * id is freed with its subject's last message). `get` builds a MsgMeta for callers that want one; the write
 * path and the limits use the column accessors and allocate nothing.
 */
import type { MsgMeta } from "./store/types.ts";
import { SeqTable } from "./seqtable.ts";

const TIME = 0;
const SIZE = 1;
const SUBJ = 2;

export class MetaIndex {
  readonly #t = new SeqTable(["f64", "u32", "u32"]);
  readonly #ids = new Map<string, number>();
  /** Subject of each id ("" for a free id), and how many stored messages use it. */
  readonly #names: string[] = [];
  readonly #uses: number[] = [];
  readonly #free: number[] = [];

  get size(): number {
    return this.#t.size;
  }

  has(seq: number): boolean {
    return this.#t.has(seq);
  }

  #intern(subject: string): number {
    let id = this.#ids.get(subject);
    if (id === undefined) {
      id = this.#free.pop() ?? this.#names.length;
      this.#ids.set(subject, id);
      this.#names[id] = subject;
      this.#uses[id] = 0;
    }
    this.#uses[id]++;
    return id;
  }

  #release(id: number): void {
    if (--this.#uses[id] > 0) return;
    this.#ids.delete(this.#names[id]);
    this.#names[id] = "";
    this.#free.push(id);
  }

  add(seq: number, subject: string, size: number, time: number): void {
    const old = this.#t.num(seq, SUBJ);
    const id = this.#intern(subject);
    this.#t.set3(seq, time, size, id);
    if (!Number.isNaN(old)) this.#release(old);
  }

  set(seq: number, m: MsgMeta): void {
    this.add(seq, m.subject, m.size, m.time);
  }

  get(seq: number): MsgMeta | undefined {
    const id = this.#t.num(seq, SUBJ);
    if (Number.isNaN(id)) return undefined;
    return { seq, subject: this.#names[id], size: this.#t.num(seq, SIZE), time: this.#t.num(seq, TIME) };
  }

  subjectOf(seq: number): string | undefined {
    const id = this.#t.num(seq, SUBJ);
    return Number.isNaN(id) ? undefined : this.#names[id];
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
    const id = this.#t.num(seq, SUBJ);
    if (Number.isNaN(id)) return false;
    this.#t.delete(seq);
    this.#release(id);
    return true;
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
