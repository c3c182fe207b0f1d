/** A binary min-heap of timed events; ties break by insertion order so runs are deterministic. */
export class EventQueue<T> {
  #times: number[] = [];
  #seqs: number[] = [];
  #vals: T[] = [];
  #seq = 0;

  get size(): number {
    return this.#vals.length;
  }

  push(time: number, value: T): void {
    const t = this.#times, s = this.#seqs, v = this.#vals;
    let i = v.length;
    t.push(time);
    s.push(this.#seq++);
    v.push(value);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  pop(): { time: number; value: T } | undefined {
    const v = this.#vals;
    if (v.length === 0) return undefined;
    const out = { time: this.#times[0], value: v[0] };
    const last = v.length - 1;
    this.#swap(0, last);
    this.#times.pop();
    this.#seqs.pop();
    v.pop();
    let i = 0;
    const n = v.length;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return out;
  }

  #less(a: number, b: number): boolean {
    const ta = this.#times[a], tb = this.#times[b];
    return ta < tb || (ta === tb && this.#seqs[a] < this.#seqs[b]);
  }

  #swap(a: number, b: number): void {
    const t = this.#times, s = this.#seqs, v = this.#vals;
    [t[a], t[b]] = [t[b], t[a]];
    [s[a], s[b]] = [s[b], s[a]];
    [v[a], v[b]] = [v[b], v[a]];
  }
}
