import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { GcPacer } from "../../transports/gc_pacer.ts";

/** A pacer on a hand-driven clock whose collections take `gcMs` and whose `later` runs only when told. */
function harness(budget: number, maxShare: number, gcMs: number) {
  let now = 0;
  let collections = 0;
  const queued: Array<() => void> = [];
  const pacer = new GcPacer({
    budget,
    maxShare,
    collect: () => {
      collections++;
      now += gcMs;
    },
    now: () => now,
    later: (f) => queued.push(f),
  });
  return {
    pacer,
    advance: (ms: number) => (now += ms),
    /** Runs what was scheduled (the next turn of the event loop). */
    turn: () => queued.splice(0).forEach((f) => f()),
    get collections() {
      return collections;
    },
    get queued() {
      return queued.length;
    },
  };
}

describe("GcPacer", () => {
  it("collects once per budget of bytes read, on a later turn, however many reads crossed it", () => {
    const h = harness(1000, 0.5, 1);
    h.pacer.read(600);
    assert.equal(h.queued, 0);
    h.pacer.read(600);
    h.pacer.read(600);
    assert.equal(h.queued, 1, "scheduled once");
    assert.equal(h.collections, 0, "not inside the read");
    h.turn();
    assert.equal(h.collections, 1);
    // the count starts again after the collection
    h.advance(100);
    h.pacer.read(999);
    assert.equal(h.queued, 0);
    h.pacer.read(1);
    h.turn();
    assert.equal(h.collections, 2);
    assert.equal(h.pacer.runs, 2);
    assert.equal(h.pacer.totalMs, 2);
  });

  it("does not collect for reads that were freed before the collection's turn", () => {
    const h = harness(1000, 0.5, 1);
    h.pacer.read(1200);
    assert.equal(h.queued, 1);
    h.pacer.freed(1200); // the core recycled the read in the same turn
    h.turn();
    assert.equal(h.collections, 0, "nothing left to collect");
    h.pacer.read(800);
    h.pacer.read(800);
    h.pacer.freed(500);
    h.turn();
    assert.equal(h.collections, 1, "1,100 bytes still unfreed: collected");
  });

  it("keeps the collections within maxShare of the time: a slow one delays the next", () => {
    const h = harness(1000, 0.05, 10); // a 10 ms collection: none for the next 200 ms
    h.pacer.read(1000);
    h.turn();
    assert.equal(h.collections, 1);
    h.advance(199);
    h.pacer.read(5000);
    assert.equal(h.queued, 0, "too soon after a 10 ms collection");
    h.advance(1);
    h.pacer.read(1);
    assert.equal(h.queued, 1, "the bytes counted while waiting are due at once");
    h.turn();
    assert.equal(h.collections, 2);
  });

  it("refuses a budget or share that would not pace", () => {
    const base = { collect() {}, now: () => 0, later() {} };
    assert.throws(() => new GcPacer({ ...base, budget: 0, maxShare: 0.1 }), /budget/);
    assert.throws(() => new GcPacer({ ...base, budget: 1, maxShare: 0 }), /maxShare/);
    assert.throws(() => new GcPacer({ ...base, budget: 1, maxShare: 2 }), /maxShare/);
    assert.throws(() => new GcPacer({ ...base, budget: Number.NaN, maxShare: 0.1 }), /budget/);
  });
});
