import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Keepalive } from "../../src/server/keepalive.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

// The interval is a timer: a ManualClock moves it (no sleeps, no dependence on how late a loaded machine runs ticks).
describe("keepalive", () => {
  it("pings every interval and declares the connection stale after max unanswered pings", () => {
    const clock = new ManualClock();
    let pings = 0;
    let stale = 0;
    const k = new Keepalive(20, 2, () => pings++, () => stale++, clock);
    k.start();
    clock.advance(19);
    assert.equal(pings, 0, "nothing before the first interval");
    clock.advance(1);
    assert.equal(pings, 1);
    clock.advance(20);
    assert.equal(pings, 2);
    assert.equal(stale, 0);
    clock.advance(20);
    assert.equal(stale, 1, "the third tick finds the connection stale");
    clock.advance(100);
    assert.equal(pings, 2, "two pings go out unanswered");
    assert.equal(stale, 1, "declared stale once, and the ticks stop");
    assert.equal(clock.pending, 0);
  });

  it("a PONG resets the count and measures the round trip", () => {
    const clock = new ManualClock();
    let pings = 0;
    let stale = 0;
    const k: Keepalive = new Keepalive(15, 1, () => pings++, () => stale++, clock);
    k.start();
    clock.advance(15);
    for (let i = 0; i < 5; i++) {
      clock.advance(4);
      k.pong(); // the peer answers 4 ms after each PING, before the next tick
      clock.advance(11);
    }
    assert.equal(pings, 6);
    assert.equal(stale, 0);
    assert.equal(k.rttMs, 4);
    k.stop();
    assert.equal(clock.pending, 0);
  });

  it("an interval of 0 sends nothing", () => {
    const clock = new ManualClock();
    let pings = 0;
    const k = new Keepalive(0, 2, () => pings++, () => {}, clock);
    k.start();
    assert.equal(clock.pending, 0, "no timer armed");
    clock.advance(1000);
    k.stop();
    assert.equal(pings, 0);
  });
});
