/**
 * An ascending list of sequence numbers with cheap removal at the front (limits and work queues remove the
 * oldest message) and binary search for everything else.
 */
export class SeqList {
  private arr: number[] = [];
  private head = 0;

  get size(): number {
    return this.arr.length - this.head;
  }
  first(): number | undefined {
    return this.head < this.arr.length ? this.arr[this.head] : undefined;
  }
  last(): number | undefined {
    return this.head < this.arr.length ? this.arr[this.arr.length - 1] : undefined;
  }
  at(i: number): number {
    return this.arr[this.head + i];
  }
  /** Appends a sequence larger than every one held. */
  push(seq: number): void {
    this.arr.push(seq);
  }
  /** Index (relative) of the first element >= seq. */
  lowerBound(seq: number): number {
    let lo = this.head;
    let hi = this.arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.arr[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.head;
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
    if (this.head < this.arr.length && this.arr[this.head] === seq) {
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.arr.length) {
        this.arr = this.arr.slice(this.head);
        this.head = 0;
      }
      return true;
    }
    const i = this.lowerBound(seq) + this.head;
    if (i < this.arr.length && this.arr[i] === seq) {
      this.arr.splice(i, 1);
      return true;
    }
    return false;
  }
  *from(seq: number): IterableIterator<number> {
    for (let i = this.lowerBound(seq) + this.head; i < this.arr.length; i++) yield this.arr[i];
  }
}
