import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lightInterval, lightTimeout, lightTimersPending } from "../../src/runtime/light_timers.ts";

describe("light timers (one deadline heap, the earliest armed)", () => {
  it("run in deadline order, ties in scheduling order, and cancelled ones never", async () => {
    const ran: string[] = [];
    const before = lightTimersPending();
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    lightTimeout(8, () => ran.push("c"));
    lightTimeout(3, () => ran.push("a"));
    const dropped = lightTimeout(4, () => ran.push("dropped"));
    lightTimeout(3, () => ran.push("b"));
    lightTimeout(12, () => done());
    dropped.cancel();
    dropped.cancel(); // idempotent
    assert.equal(lightTimersPending(), before + 4, "a cancelled timer leaves the heap at once");
    await finished;
    assert.deepEqual(ran, ["a", "b", "c"]);
    assert.equal(lightTimersPending(), before);
  });

  it("a timer scheduled from a callback, earlier than the armed deadline, still runs on time", async () => {
    const order: string[] = [];
    const before = lightTimersPending();
    const far = lightTimeout(60_000, () => order.push("far"));
    await new Promise<void>((resolve) => {
      lightTimeout(2, () => {
        order.push("first");
        // The heap's next deadline is a minute away: this one must not wait for it.
        lightTimeout(1, () => {
          order.push("nested");
          resolve();
        });
      });
    });
    far.cancel();
    assert.deepEqual(order, ["first", "nested"]);
    assert.equal(lightTimersPending(), before);
  });

  it("an interval repeats until cancelled", async () => {
    let ticks = 0;
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      const iv = lightInterval(1, () => {
        ticks++;
        seen.push(ticks);
        if (ticks === 3) {
          iv.cancel();
          // Runs after the interval's third tick: the interval scheduled nothing more.
          lightTimeout(5, resolve);
        }
      });
    });
    assert.deepEqual(seen, [1, 2, 3]);
  });
});
