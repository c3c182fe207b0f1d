/**
 * A table keyed by message sequence with its values in typed columns instead of one object per message: a
 * stream that holds millions of messages keeps a few numbers for each of them (and a shared reference, the
 * interned subject), not a heap object each, so memory follows the count with a small constant and the
 * garbage collector has nothing per message to trace. Sequences arrive densely and in order, so the rows live
 * in a window indexed by `seq - base` (small gaps are padded); anything out of that pattern goes to a Map.
 */

export type ColumnKind = "f64" | "u32";
type Column = Float64Array | Uint32Array;

const INITIAL = 256;
/** Gaps up to this many sequences are padded so the window keeps working. */
const MAX_GAP = 4096;

interface ExtraRow<R> {
  nums: number[];
  ref: R | undefined;
}

export class SeqTable<R = never> {
  readonly #kinds: readonly ColumnKind[];
  #cols: Column[];
  #live: Uint8Array;
  #refs: Array<R | undefined> | undefined;
  /** Sequence of window row 0. */
  #base = 0;
  /** Rows before this one are all dead. */
  #lo = 0;
  /** Rows in use in the window. */
  #used = 0;
  #count = 0;
  readonly #extra = new Map<number, ExtraRow<R>>();

  /** `withRefs` adds one column of references (shared values such as interned subjects). */
  constructor(kinds: readonly ColumnKind[], withRefs = false) {
    this.#kinds = kinds;
    this.#cols = kinds.map((k) => alloc(k, INITIAL));
    this.#live = new Uint8Array(INITIAL);
    this.#refs = withRefs ? [] : undefined;
  }

  get size(): number {
    return this.#count;
  }

  /** Window row of `seq`, or -1 when it is not in the window (it may still be in the extra map). */
  #row(seq: number): number {
    const i = seq - this.#base;
    return i >= this.#lo && i < this.#used ? i : -1;
  }

  has(seq: number): boolean {
    const i = this.#row(seq);
    if (i >= 0) return this.#live[i] === 1;
    return this.#extra.size > 0 && this.#extra.has(seq);
  }

  /** Column `c` of `seq`'s row; NaN when absent. */
  num(seq: number, c: number): number {
    const i = this.#row(seq);
    if (i >= 0) return this.#live[i] === 1 ? this.#cols[c][i] : NaN;
    const x = this.#extra.size > 0 ? this.#extra.get(seq) : undefined;
    return x === undefined ? NaN : x.nums[c];
  }

  ref(seq: number): R | undefined {
    const i = this.#row(seq);
    if (i >= 0) return this.#live[i] === 1 ? this.#refs?.[i] : undefined;
    return this.#extra.size > 0 ? this.#extra.get(seq)?.ref : undefined;
  }

  /** Inserts or replaces `seq`'s row. */
  set(seq: number, nums: readonly number[], ref?: R): void {
    if (nums.length !== this.#kinds.length) throw new Error(`SeqTable: ${nums.length} values for ${this.#kinds.length} columns`);
    const i = this.#slot(seq);
    if (i < 0) {
      this.#setExtra(seq, [...nums], ref);
      return;
    }
    for (let c = 0; c < nums.length; c++) this.#cols[c][i] = nums[c];
    if (this.#refs !== undefined) this.#refs[i] = ref;
  }

  /** `set` for a table of three columns, without an array per call (the write path and store loading). */
  set3(seq: number, a: number, b: number, c: number): void {
    if (this.#kinds.length !== 3) throw new Error(`SeqTable: 3 values for ${this.#kinds.length} columns`);
    const i = this.#slot(seq);
    if (i < 0) {
      this.#setExtra(seq, [a, b, c], undefined);
      return;
    }
    this.#cols[0][i] = a;
    this.#cols[1][i] = b;
    this.#cols[2][i] = c;
    if (this.#refs !== undefined) this.#refs[i] = undefined;
  }

  #setExtra(seq: number, nums: number[], ref: R | undefined): void {
    const had = this.#extra.has(seq);
    this.#extra.set(seq, { nums, ref });
    if (!had) this.#count++;
  }

  /** The window row that will hold `seq` (made live and counted), or -1 when it belongs in the extra map. */
  #slot(seq: number): number {
    if (this.#count === 0 && this.#extra.size === 0) {
      this.#base = seq;
      this.#lo = 0;
      this.#used = 0;
    }
    const i = seq - this.#base;
    if (i >= this.#used && i - this.#used <= MAX_GAP) {
      const from = this.#used;
      this.#grow(i + 1);
      // Padding rows are dead already (zeroed on allocation and on removal).
      this.#used = i + 1;
      if (this.#extra.size > 0) this.#absorb(from);
    } else if (i < this.#lo || i >= this.#used) {
      return -1;
    }
    if (this.#live[i] !== 1) this.#count++;
    this.#live[i] = 1;
    return i;
  }

  /**
   * Moves the extra rows the window now covers (rows `from` and up) into it: lookups read only the window for a
   * sequence in its range, so a row left in the extra map there would be lost.
   */
  #absorb(from: number): void {
    for (const [seq, x] of this.#extra) {
      const i = seq - this.#base;
      if (i < from || i >= this.#used) continue;
      this.#live[i] = 1;
      for (let c = 0; c < x.nums.length; c++) this.#cols[c][i] = x.nums[c];
      if (this.#refs !== undefined) this.#refs[i] = x.ref;
      this.#extra.delete(seq);
    }
  }

  delete(seq: number): boolean {
    const i = this.#row(seq);
    if (i >= 0) {
      if (this.#live[i] !== 1) return false;
      this.#live[i] = 0;
      if (this.#refs !== undefined) this.#refs[i] = undefined;
      this.#count--;
      if (i === this.#lo) this.#trimFront();
      return true;
    }
    if (this.#extra.delete(seq)) {
      this.#count--;
      return true;
    }
    return false;
  }

  #grow(need: number): void {
    const cap = this.#live.length;
    if (need <= cap) return;
    // Doubling while small; past a million rows a quarter more at a time, so the slack stays small.
    const grow = (c: number) => (c < 1 << 20 ? c * 2 : Math.ceil(c * 1.25));
    let next = grow(cap);
    while (next < need) next = grow(next);
    this.#resize(next);
  }

  #resize(cap: number): void {
    const used = this.#used;
    this.#cols = this.#cols.map((col, c) => {
      const n = alloc(this.#kinds[c], cap);
      n.set(col.subarray(0, used));
      return n;
    });
    const live = new Uint8Array(cap);
    live.set(this.#live.subarray(0, used));
    this.#live = live;
  }

  #trimFront(): void {
    let lo = this.#lo;
    const used = this.#used;
    while (lo < used && this.#live[lo] !== 1) lo++;
    if (lo === used) {
      // The window is empty: start over at the next sequence, in a small allocation.
      this.#base += used;
      this.#lo = 0;
      this.#used = 0;
      if (this.#refs !== undefined) this.#refs = [];
      if (this.#live.length > INITIAL * 16) this.#resize(INITIAL);
      return;
    }
    this.#lo = lo;
    // Moving the rows costs O(n): only once the dead prefix is most of the window.
    if (lo > 1024 && lo * 2 > used) {
      for (const col of this.#cols) col.copyWithin(0, lo, used);
      this.#live.copyWithin(0, lo, used);
      this.#live.fill(0, used - lo, used);
      if (this.#refs !== undefined) this.#refs = this.#refs.slice(lo);
      this.#base += lo;
      this.#used = used - lo;
      this.#lo = 0;
      // Give memory back after a large purge.
      if (this.#live.length > INITIAL * 16 && this.#used * 4 < this.#live.length) this.#resize(Math.max(INITIAL, this.#used * 2));
    }
  }

  /** Every sequence held: the window in ascending order, then the others. */
  *seqs(): IterableIterator<number> {
    for (let i = this.#lo; i < this.#used; i++) if (this.#live[i] === 1) yield this.#base + i;
    yield* this.#extra.keys();
  }
}

function alloc(kind: ColumnKind, n: number): Column {
  return kind === "f64" ? new Float64Array(n) : new Uint32Array(n);
}
