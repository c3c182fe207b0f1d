/**
 * A map keyed by message sequence. Sequences arrive densely and in order, so an array offset by the lowest
 * live sequence beats a hash map on the write path; anything out of that pattern goes to a Map.
 */
export class SeqMap<T> {
  private arr: Array<T | undefined> = [];
  private base = 0;
  private readonly extra = new Map<number, T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(seq: number): T | undefined {
    const i = seq - this.base;
    if (i >= 0 && i < this.arr.length) return this.arr[i];
    return this.extra.size > 0 ? this.extra.get(seq) : undefined;
  }

  has(seq: number): boolean {
    return this.get(seq) !== undefined;
  }

  set(seq: number, v: T): void {
    if (this.count === 0 && this.extra.size === 0) {
      this.arr = [];
      this.base = seq;
    }
    const i = seq - this.base;
    if (i >= this.arr.length && i - this.arr.length <= 4096) {
      // Small gaps (deleted or skipped sequences) are padded so the array path keeps working.
      const from = this.arr.length;
      while (this.arr.length <= i) this.arr.push(undefined);
      if (this.extra.size > 0) this.absorb(from);
    }
    if (i >= 0 && i < this.arr.length) {
      if (this.arr[i] === undefined) this.count++;
      this.arr[i] = v;
      return;
    }
    if (!this.extra.has(seq)) this.count++;
    this.extra.set(seq, v);
  }

  delete(seq: number): boolean {
    const i = seq - this.base;
    if (i >= 0 && i < this.arr.length) {
      if (this.arr[i] === undefined) return false;
      this.arr[i] = undefined;
      this.count--;
      if (i === 0) this.trimFront();
      return true;
    }
    if (this.extra.delete(seq)) {
      this.count--;
      return true;
    }
    return false;
  }

  /**
   * Moves the extras the array now covers (indexes `from` and up) into it: `get` reads only the array for a
   * sequence in its range, so an entry left in `extra` there would be lost.
   */
  private absorb(from: number): void {
    for (const [seq, v] of this.extra) {
      const i = seq - this.base;
      if (i >= from && i < this.arr.length) {
        this.arr[i] = v;
        this.extra.delete(seq);
      }
    }
  }

  private trimFront(): void {
    let k = 0;
    while (k < this.arr.length && this.arr[k] === undefined) k++;
    if (k === this.arr.length) {
      this.arr = [];
      this.base += k;
      return;
    }
    // Compacting costs O(n); do it only once the dead prefix is a large share.
    if (k > 1024 && k * 2 > this.arr.length) {
      this.arr = this.arr.slice(k);
      this.base += k;
    }
  }

  *entries(): IterableIterator<[number, T]> {
    for (let i = 0; i < this.arr.length; i++) {
      const v = this.arr[i];
      if (v !== undefined) yield [this.base + i, v];
    }
    yield* this.extra.entries();
  }

  [Symbol.iterator](): IterableIterator<[number, T]> {
    return this.entries();
  }

  *keys(): IterableIterator<number> {
    for (const [k] of this.entries()) yield k;
  }
}
