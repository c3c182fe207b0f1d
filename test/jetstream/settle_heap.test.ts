/**
 * The one full collection after the process's first stream create (src/jetstream/settle_heap.ts): it runs once,
 * never inside the call that created the stream (the create's answer goes out first), and not at all where the
 * runtime has no collection to offer.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHeapSettler } from "../../src/jetstream/settle_heap.ts";
import { ManualClock, runtimeClock } from "../../src/runtime/clock.ts";

describe("settle heap after the first stream create", () => {
  it("collects once, on a later turn", async () => {
    const settle = createHeapSettler();
    let runs = 0;
    const collect = () => void runs++;
    settle(collect, runtimeClock);
    assert.equal(runs, 0, "not inside the create");
    settle(collect, runtimeClock);
    await new Promise((resolve) => runtimeClock.after(0, () => resolve(undefined)));
    assert.equal(runs, 1);
    settle(collect, runtimeClock);
    await new Promise((resolve) => runtimeClock.after(0, () => resolve(undefined)));
    assert.equal(runs, 1, "a later create collects nothing");
  });

  it("does nothing without a collector, and a later one still runs once", () => {
    const settle = createHeapSettler();
    const clock = new ManualClock(0);
    settle(undefined, clock);
    let runs = 0;
    settle(() => void runs++, clock);
    clock.advance(0);
    assert.equal(runs, 1);
  });
});
