import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SeqMap } from "../../src/jetstream/seqmap.ts";
import { SeqList } from "../../src/jetstream/seqlist.ts";
import { SeqTable } from "../../src/jetstream/seqtable.ts";

describe("SeqMap and SeqList", () => {
  it("SeqMap behaves like a Map under random operations", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 12000 }))), (ops) => {
        const a = new SeqMap<number>();
        const b = new Map<number, number>();
        let next = 1;
        for (const [add, n] of ops) {
          if (add) {
            const seq = n % 7 === 0 ? n : next++;
            a.set(seq, seq * 2);
            b.set(seq, seq * 2);
          } else {
            assert.equal(a.delete(n), b.delete(n));
          }
          assert.equal(a.size, b.size);
        }
        for (const [k, v] of b) assert.equal(a.get(k), v);
        assert.deepEqual([...a.keys()].sort((x, y) => x - y), [...b.keys()].sort((x, y) => x - y));
      }),
      { numRuns: 200 },
    );
  });

  it("SeqTable behaves like a Map of rows under random operations (window, gaps, front trims, extras)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(9), fc.integer({ min: 1, max: 9000 }))), (ops) => {
        const a = new SeqTable<string>(["f64", "u32"], true);
        const b = new Map<number, [number, number, string]>();
        let next = 1;
        for (const [op, n] of ops) {
          if (op <= 4) {
            // Mostly dense appends; sometimes a jump (padded or out of the window) or a rewrite of an old one.
            const seq = op === 4 ? n * 3 : next++;
            const row: [number, number, string] = [seq * 1.5, seq % 1000, `s${seq % 3}`];
            a.set(seq, [row[0], row[1]], row[2]);
            b.set(seq, row);
          } else if (op <= 7) {
            // Removals from the front, as limits and acks do.
            const first = [...b.keys()].sort((x, y) => x - y)[0];
            if (first !== undefined) assert.equal(a.delete(first), b.delete(first));
          } else {
            assert.equal(a.delete(n), b.delete(n));
          }
          assert.equal(a.size, b.size);
        }
        for (const [k, [t, sz, r]] of b) {
          assert.ok(a.has(k));
          assert.equal(a.num(k, 0), t);
          assert.equal(a.num(k, 1), sz);
          assert.equal(a.ref(k), r);
        }
        assert.deepEqual([...a.seqs()].sort((x, y) => x - y), [...b.keys()].sort((x, y) => x - y));
        assert.ok(Number.isNaN(a.num(1e9, 0)));
        assert.equal(a.ref(1e9), undefined);
      }),
      { numRuns: 200 },
    );
  });

  it("an entry kept aside (a far jump) stays found once the dense part grows over it", () => {
    // fast-check's counterexample: 4900 is too far from 1 for the array, then 3059 and 7049 pad the array past it.
    const m = new SeqMap<number>();
    const t = new SeqTable<string>(["u32"], true);
    for (const seq of [1, 4900, 3059, 7049]) {
      m.set(seq, seq * 2);
      t.set(seq, [seq * 2], `r${seq}`);
    }
    for (const seq of [1, 4900, 3059, 7049]) {
      assert.equal(m.get(seq), seq * 2, `SeqMap ${seq}`);
      assert.equal(t.num(seq, 0), seq * 2, `SeqTable ${seq}`);
      assert.equal(t.ref(seq), `r${seq}`);
    }
    assert.equal(m.size, 4);
    assert.equal(t.size, 4);
    assert.deepEqual([...m.keys()].sort((x, y) => x - y), [1, 3059, 4900, 7049]);
    assert.deepEqual([...t.seqs()].sort((x, y) => x - y), [1, 3059, 4900, 7049]);
    // Rewriting and deleting it go through the array now.
    m.set(4900, 1);
    t.set(4900, [1], "x");
    assert.equal(m.size, 4);
    assert.equal(t.size, 4);
    assert.ok(m.delete(4900) && t.delete(4900));
    assert.equal(m.get(4900), undefined);
    assert.equal(t.has(4900), false);
    assert.equal(m.size, 3);
    assert.equal(t.size, 3);
  });

  it("SeqTable keeps working once most of its front is trimmed away", () => {
    const t = new SeqTable(["u32"]);
    for (let s = 1; s <= 100_000; s++) t.set(s, [s]);
    for (let s = 1; s <= 99_990; s++) assert.ok(t.delete(s));
    assert.equal(t.size, 10);
    assert.deepEqual([...t.seqs()], [99_991, 99_992, 99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999, 100_000]);
    t.set(100_001, [7]);
    assert.equal(t.num(100_001, 0), 7);
    assert.throws(() => t.set(100_002, [1, 2]), /2 values for 1 columns/);
    assert.throws(() => t.set3(100_002, 1, 2, 3), /3 values for 1 columns/);
    // set3 is set for three columns: in the window, padded past a gap, and out of it.
    const t3 = new SeqTable(["f64", "u32", "u32"]);
    for (const seq of [10, 11, 500, 5_000_000, 3]) t3.set3(seq, seq + 0.5, seq % 7, 1);
    assert.equal(t3.size, 5);
    for (const seq of [10, 11, 500, 5_000_000, 3]) assert.deepEqual([t3.num(seq, 0), t3.num(seq, 1), t3.num(seq, 2)], [seq + 0.5, seq % 7, 1]);
    assert.ok(!t3.has(12));
  });

  it("SeqList (runs of consecutive sequences) answers like a sorted array under random pushes and removals", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(9), fc.nat(400))), (ops) => {
        const l = new SeqList();
        let ref: number[] = [];
        let next = 1;
        for (const [op, n] of ops) {
          if (op <= 4) {
            next += op === 4 ? 1 + (n % 5) : 0; // sometimes a gap
            l.push(next);
            ref.push(next);
            next++;
          } else if (op <= 6 && ref.length > 0) {
            assert.equal(l.remove(ref[0]), true);
            ref = ref.slice(1);
          } else {
            const seq = 1 + (n % (next + 2));
            assert.equal(l.remove(seq), ref.includes(seq));
            ref = ref.filter((x) => x !== seq);
          }
          assert.equal(l.size, ref.length);
        }
        assert.equal(l.first(), ref[0]);
        assert.equal(l.last(), ref[ref.length - 1]);
        for (let i = 0; i < ref.length; i++) assert.equal(l.at(i), ref[i]);
        for (let q = 0; q <= next + 1; q++) {
          const lb = ref.findIndex((x) => x >= q);
          assert.equal(l.lowerBound(q), lb < 0 ? ref.length : lb);
          assert.equal(l.ceil(q), ref.find((x) => x >= q));
          assert.equal(l.floor(q), [...ref].reverse().find((x) => x <= q));
          assert.equal(l.countFrom(q), ref.filter((x) => x >= q).length);
        }
        assert.deepEqual([...l.from(3)], ref.filter((x) => x >= 3));
      }),
      { numRuns: 300 },
    );
    assert.throws(() => {
      const l = new SeqList();
      l.push(5);
      l.push(5);
    }, /push 5 after 5/);
  });

  it("SeqList keeps order, counts and removes", () => {
    const l = new SeqList();
    for (let i = 1; i <= 3000; i++) l.push(i * 2);
    assert.equal(l.size, 3000);
    assert.equal(l.countFrom(5), 2998);
    assert.equal(l.ceil(5), 6);
    assert.equal(l.floor(5), 4);
    for (let i = 1; i <= 2000; i++) assert.ok(l.remove(i * 2));
    assert.equal(l.first(), 4002);
    assert.ok(l.remove(5000));
    assert.ok(!l.remove(5000));
    assert.equal(l.size, 999);
    assert.equal(l.last(), 6000);
    assert.deepEqual([...l.from(5995)], [5996, 5998, 6000]);
  });
});
