import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Keepalive } from "../../src/server/keepalive.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("keepalive", () => {
  it("pings every interval and declares the connection stale after max unanswered pings", async () => {
    let pings = 0;
    let stale = 0;
    let staleNow = () => {};
    const declared = new Promise<void>((r) => (staleNow = r));
    const k = new Keepalive(20, 2, () => pings++, () => {
      stale++;
      staleNow();
    });
    k.start();
    // Wait for the verdict itself (a loaded machine may run the ticks late), then a few more intervals.
    await declared;
    await sleep(60);
    k.stop();
    assert.equal(pings, 2, "two pings go out unanswered");
    assert.equal(stale, 1, "the third tick finds the connection stale, once");
  });

  it("a PONG resets the count and measures the round trip", async () => {
    let pings = 0;
    let stale = 0;
    let thirdPing = () => {};
    const three = new Promise<void>((r) => (thirdPing = r));
    // The peer answers every PING at once, so no tick ever finds one outstanding.
    const k: Keepalive = new Keepalive(15, 1, () => {
      pings++;
      if (pings === 3) thirdPing();
      queueMicrotask(() => k.pong());
    }, () => stale++);
    k.start();
    await three;
    k.stop();
    assert.equal(stale, 0);
    assert.ok(k.rttMs >= 0);
  });

  it("an interval of 0 sends nothing", async () => {
    let pings = 0;
    const k = new Keepalive(0, 2, () => pings++, () => {});
    k.start();
    await sleep(30);
    k.stop();
    assert.equal(pings, 0);
  });
});
