import { test } from "node:test";
import assert from "node:assert/strict";
import { runSim, type SimBug } from "../sim/sim.ts";
import { CI_SEEDS, SIM_TEST_TIMEOUT_MS } from "../sim/budget.ts";

/** Each deliberate bug, and the check expected to catch it first. */
const CASES: readonly { bug: SimBug; caughtBy: string }[] = [
  { bug: "doubleVote", caughtBy: "election safety" },
  { bug: "skipPrevCheck", caughtBy: "log matching" },
  { bug: "voteIgnoresLog", caughtBy: "leader completeness" },
  { bug: "commitOldTerm", caughtBy: "leader completeness" },
  { bug: "commitBeyondMatch", caughtBy: "state machine safety" },
  // Losing unsynced votes and entries breaks several invariants; whichever comes first is fine.
  { bug: "ackBeforeSync", caughtBy: "" },
  { bug: "ackOnAppend", caughtBy: "acknowledged entry" },
  { bug: "staleRead", caughtBy: "linearizability" },
];

for (const { bug, caughtBy } of CASES) {
  const name = `bug ${bug} is caught within ${CI_SEEDS} seeds${caughtBy ? ` by "${caughtBy}"` : ""}`;
  test(name, { timeout: SIM_TEST_TIMEOUT_MS }, () => {
    let found: string | undefined;
    for (let seed = 1; seed <= CI_SEEDS && found === undefined; seed++) {
      const r = runSim({ seed, bug });
      if (!r.ok) found = r.violation;
    }
    assert.ok(found !== undefined, `bug ${bug} went unnoticed for ${CI_SEEDS} seeds`);
    assert.ok(found.startsWith(caughtBy), `bug ${bug} caught, but as: ${found}`);
  });
}
