import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SeqMap } from "../../src/jetstream/seqmap.ts";
import { SeqList } from "../../src/jetstream/seqlist.ts";

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
