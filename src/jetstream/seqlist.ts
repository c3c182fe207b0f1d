/**
 * An ascending list of sequence numbers with cheap removal at the front (limits and work queues remove the
 * oldest message) and binary search for everything else. Held as runs of consecutive sequences: a stream's
 * messages are mostly consecutive, so a list of millions of them is a handful of runs, not a number each.
 */
export class SeqList {
  /** First sequence of each run (runs[head..] are live), ascending, never touching the next run. */
  private starts: number[] = [];
  /** Length of each run, > 0. */
  private lens: number[] = [];
  /** Elements before each run, counted from a point `dropped` elements back (front removals cost O(1)). */
  private before: number[] = [];
  private head = 0;
  private dropped = 0;
  private total = 0;

  get size(): number {
    return this.total;
  }
  first(): number | undefined {
    return this.head < this.starts.length ? this.starts[this.head] : undefined;
  }
  last(): number | undefined {
    const k = this.starts.length - 1;
    return k >= this.head ? this.starts[k] + this.lens[k] - 1 : undefined;
  }
  /** Index within the list of the first element of run k. */
  private runIndex(k: number): number {
    return this.before[k] - this.dropped;
  }
  /** The run holding list index i (0 <= i < size). */
  private runAt(i: number): number {
    let lo = this.head;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runIndex(mid) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  at(i: number): number {
    const k = this.runAt(i);
    return this.starts[k] + (i - this.runIndex(k));
  }
  /** Appends a sequence larger than every one held. */
  push(seq: number): void {
    const k = this.starts.length - 1;
    if (k >= this.head) {
      const end = this.starts[k] + this.lens[k];
      if (seq === end) {
        this.lens[k]++;
        this.total++;
        return;
      }
      if (seq < end) throw new Error(`SeqList: push ${seq} after ${end - 1}`);
    }
    this.starts.push(seq);
    this.lens.push(1);
    this.before.push(this.total + this.dropped);
    this.total++;
  }
  /** The run whose start is the last one <= seq, or head - 1 when seq is before every run. */
  private runFor(seq: number): number {
    let lo = this.head;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid] <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
  /** Index (relative) of the first element >= seq. */
  lowerBound(seq: number): number {
    const k = this.runFor(seq);
    if (k < this.head) return 0;
    const off = seq - this.starts[k];
    if (off < this.lens[k]) return this.runIndex(k) + off;
    return this.runIndex(k) + this.lens[k];
  }
  /** Number of elements >= seq. */
  countFrom(seq: number): number {
    return this.size - this.lowerBound(seq);
  }
  /** First element >= seq. */
  ceil(seq: number): number | undefined {
    const i = this.lowerBound(seq);
    return i < this.size ? this.at(i) : undefined;
  }
  /** Last element <= seq. */
  floor(seq: number): number | undefined {
    const i = this.lowerBound(seq + 1) - 1;
    return i >= 0 ? this.at(i) : undefined;
  }
  remove(seq: number): boolean {
    const k = this.runFor(seq);
    if (k < this.head) return false;
    const start = this.starts[k];
    const len = this.lens[k];
    const off = seq - start;
    if (off >= len) return false;
    this.total--;
    if (k === this.head) {
      // At the front: later runs' counts are relative to `dropped`, so nothing else moves.
      this.dropped++;
      this.before[k]++;
    } else {
      for (let j = k + 1; j < this.before.length; j++) this.before[j]--;
    }
    if (len === 1) {
      this.dropRun(k);
    } else if (off === 0) {
      this.starts[k] = start + 1;
      this.lens[k] = len - 1;
    } else if (off === len - 1) {
      this.lens[k] = len - 1;
    } else {
      // Split the run in two around seq.
      this.lens[k] = off;
      this.starts.splice(k + 1, 0, seq + 1);
      this.lens.splice(k + 1, 0, len - off - 1);
      this.before.splice(k + 1, 0, this.before[k] + off);
    }
    return true;
  }
  private dropRun(k: number): void {
    if (k === this.head) {
      this.head++;
      if (this.head === this.starts.length) {
        this.starts = [];
        this.lens = [];
        this.before = [];
        this.head = 0;
        this.dropped = 0;
      } else if (this.head > 1024 && this.head * 2 > this.starts.length) {
        this.starts = this.starts.slice(this.head);
        this.lens = this.lens.slice(this.head);
        this.before = this.before.slice(this.head);
        this.head = 0;
      }
      return;
    }
    this.starts.splice(k, 1);
    this.lens.splice(k, 1);
    this.before.splice(k, 1);
  }
  *from(seq: number): IterableIterator<number> {
    let k = this.runFor(seq);
    if (k < this.head) k = this.head;
    for (; k < this.starts.length; k++) {
      const start = this.starts[k];
      const end = start + this.lens[k];
      for (let s = Math.max(start, seq); s < end; s++) yield s;
    }
  }
}
