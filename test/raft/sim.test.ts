import { test } from "node:test";
import assert from "node:assert/strict";
import { runSim } from "../sim/sim.ts";
import { CI_SEEDS, SIM_TEST_TIMEOUT_MS } from "../sim/budget.ts";

test(`simulation: ${CI_SEEDS} seeds hold every invariant`, { timeout: SIM_TEST_TIMEOUT_MS }, () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= CI_SEEDS; seed++) {
    const r = runSim({ seed });
    if (!r.ok) failures.push(`seed ${seed}: ${r.violation}`);
  }
  assert.deepEqual(failures, []);
});

test("simulation: a seed replays exactly, and exercises the faults", () => {
  const a = runSim({ seed: 4242 });
  const b = runSim({ seed: 4242 });
  assert.equal(a.ok, true);
  assert.deepEqual(a.stats, b.stats);
  assert.ok(a.stats.elections > 1 && a.stats.acked > 0 && a.stats.crashes > 0);
});

test("simulation: across seeds, snapshots are installed and membership changes", () => {
  let installs = 0, changes = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const r = runSim({ seed });
    installs += r.stats.snapshotsInstalled;
    changes += r.stats.membershipChanges;
  }
  assert.ok(installs > 0, "no snapshot was installed");
  assert.ok(changes > 0, "no membership change happened");
});
