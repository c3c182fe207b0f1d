// How long a stream's group has had no leader, as a server's tick judges it (leaderless.ts): past the grace period
// its replicas stop taking publishes (no responders, as nats-server shows a stream without quorum). A tick is a
// timer: after a stall of the process (starved of CPU, a long collection) the first tick runs before the input that
// came meanwhile, and still sees the view from before the stall. An election in progress when the stall began
// counted as the whole stall without a leader: the stream went deaf for a tick and a publish found no responders
// ("jetstream is not enabled", ops_sigusr2 near the lame duck's exit on a loaded machine).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LEADERLESS_GRACE_MS, LeaderlessSince } from "../../src/jetstream/cluster/leaderless.ts";

describe("a group's time without a leader, by the ticks that saw it", () => {
  it("a stall right after an election began is not counted until a tick after it still sees no leader", () => {
    const l = new LeaderlessSince();
    l.note("S", true, 0);
    l.note("S", false, 50); // an election began
    // The process stalls; its first tick after the stall has not read the votes that came meanwhile.
    l.note("S", false, 50 + LEADERLESS_GRACE_MS + 500);
    assert.equal(l.unavailableAsOfTicks("S"), false, "the stale first tick after a stall made the stream deaf");
    // The next tick has read them: a leader.
    l.note("S", true, 50 + LEADERLESS_GRACE_MS + 550);
    assert.equal(l.unavailableAsOfTicks("S"), false);
  });

  it("a group without a leader for the grace period, tick after tick, is unavailable", () => {
    const l = new LeaderlessSince();
    let t = 0;
    for (; t < LEADERLESS_GRACE_MS; t += 50) {
      l.note("S", false, t);
      assert.equal(l.unavailableAsOfTicks("S"), false);
    }
    l.note("S", false, t);
    l.note("S", false, t + 50);
    assert.equal(l.unavailableAsOfTicks("S"), true);
    // A caller that sees no leader now (an API request) judges by now.
    assert.equal(l.unavailable("S", t + 50), true);
    l.note("S", true, t + 100);
    assert.equal(l.unavailableAsOfTicks("S"), false);
    assert.equal(l.unavailable("S", t + 100), false);
  });

  it("after a stall within a long outage, a tick that saw it before and one after: unavailable", () => {
    const l = new LeaderlessSince();
    l.note("S", false, 0);
    for (let t = 50; t <= 1_000; t += 50) l.note("S", false, t);
    l.note("S", false, 3_000); // stalled 2 s
    assert.equal(l.unavailableAsOfTicks("S"), false, "1 s confirmed by a tick with input read in between");
    l.note("S", false, 3_050);
    assert.equal(l.unavailableAsOfTicks("S"), true);
  });
});
