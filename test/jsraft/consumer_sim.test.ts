// The replicated consumer under faults, in the deterministic simulator (test/sim/consumer_sim.ts): ack floors
// never go back on any replica, no ack the client saw confirmed is delivered again, every message is
// acknowledged in the end with all replicas agreeing (the log carries deltas, snapshots the whole state: lagging
// replicas catch up from one), runs replay exactly, and bugs planted in one replica's
// apply path (the test-only `tamper` seam) are caught. SIM_SEEDS=n runs seeds 1..n, SIM_VERBOSE=1 prints a line
// per seed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerSim } from "../sim/consumer_sim.ts";

const seeds = process.env.SIM_SEEDS ? Array.from({ length: Number(process.env.SIM_SEEDS) }, (_, i) => i + 1) : [1, 2, 3];

describe("replicated consumer under faults (deterministic simulation)", () => {
  /** Snapshots of the whole state installed by lagging replicas, over the seeds. */
  let installed = 0;
  for (const seed of seeds) {
    it(`seed ${seed}: ack floors never go back and nothing confirmed is redelivered`, async () => {
      const sim = new ConsumerSim({ seed, steps: 2000 });
      const res = await sim.run();
      sim.check(res);
      assert.ok(res.faults > 0 && res.leaders > 1 && res.redeliveries > 0, JSON.stringify({ ...res, states: undefined }));
      installed += res.installed;
      if (process.env.SIM_VERBOSE) console.log(`seed ${seed}: ${JSON.stringify({ ...res, states: undefined })}`);
    });
  }

  it("lagging replicas caught up from snapshots in those runs", () => {
    assert.ok(installed > 0, "no replica installed a snapshot: catch-up was not exercised");
  });

  it("replays exactly: the same seed gives the same states", async () => {
    const a = await new ConsumerSim({ seed: 7, steps: 600 }).run();
    const b = await new ConsumerSim({ seed: 7, steps: 600 }).run();
    assert.deepEqual([...a.states], [...b.states]);
    assert.equal(a.deliveries, b.deliveries);
  });

  it("catches bugs planted in one replica's apply path", async () => {
    // A stale state applied now and then: the ack floor goes back, and apply says so at once.
    await assert.rejects(new ConsumerSim({ seed: 3, steps: 800, bug: "rewind" }).run(), /went backwards/);
    // Pending deliveries forgotten by one replica: once it leads, they are never delivered again (the end
    // check), or a replica that follows it sees the ack floor it took from it go back (the invariant).
    const forget = new ConsumerSim({ seed: 1, steps: 2000, bug: "forgetPending" });
    await assert.rejects(async () => forget.check(await forget.run()), /never delivered again|went backwards/);
    // Acks lost by one replica's apply: once it leads, it delivers a message whose ack the client saw confirmed.
    const drop = new ConsumerSim({ seed: 2, steps: 2000, bug: "dropAcks" });
    await assert.rejects(async () => drop.check(await drop.run()), /after its ack was confirmed/);
  });
});
