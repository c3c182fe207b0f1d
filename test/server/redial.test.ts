// The one dial/backoff loop of links: doubling backoff within bounds, one pending dial per peer, stop.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { backoff, LINK_BACKOFF, Redial } from "../../src/server/redial.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";

describe("redial", () => {
  it("doubles the delay per attempt within the policy's bounds", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoff(n)), [50, 100, 200, 400, 800, 1000, 1000]);
    assert.equal(backoff(0), LINK_BACKOFF.minMs);
    assert.equal(backoff(9, { minMs: 1000, maxMs: 1000 }), 1000);
  });

  it("keeps one pending dial, counts attempts, and dials no more once stopped", async () => {
    let dials = 0;
    let done: () => void = () => {};
    const fired = new Promise<void>((r) => (done = r));
    const r = new Redial(() => {
      dials++;
      done();
    }, { minMs: 1, maxMs: 4 });
    r.schedule(1000);
    assert.equal(r.pending, true);
    r.schedule(0); // replaces the pending one
    await fired;
    assert.equal(dials, 1);
    assert.equal(r.pending, false);
    r.attempts = 3;
    r.succeeded();
    assert.equal(r.attempts, 0);
    r.schedule(0);
    r.stop();
    assert.equal(r.pending, false);
    // A marker timer scheduled after the stopped one fires later: had the dial not been cancelled, it would have run.
    await new Promise((res) => setTimeout(res, 5));
    assert.equal(dials, 1);
  });

  it("a pending dial is one light timer (a runtime setTimeout loads Node's timer layer on Deno), replaced and cancelled in place", () => {
    const before = lightTimersPending();
    const r = new Redial(() => assert.fail("stopped before its dial"));
    r.schedule(60_000);
    assert.equal(lightTimersPending(), before + 1);
    r.schedule(30_000);
    assert.equal(lightTimersPending(), before + 1, "scheduling again replaces it");
    r.stop();
    assert.equal(lightTimersPending(), before, "stop() cancels it");
  });
});
