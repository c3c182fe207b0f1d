// The chaos harness (harness.ts) on a short CI budget: 5 Petrel processes, one fault of each disruptive kind
// in turn (kill -9 and restart, SIGSTOP/SIGCONT, a server cut off through the loopback proxy, a peer removal,
// a step-down), targets and timing from CHAOS_SEED (default 11), with the publishers, the acking consumer and
// the KV clients. Long runs: `npm run chaos -- --seconds 120 --seed N` (README).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { runChaos } from "./harness.ts";

describe("chaos harness (short budget)", () => {
  it("kill -9, freeze, isolation, peer removal, step-down: nothing acknowledged lost, duplicated or delivered again, KV linearizable", { timeout: 240_000 }, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 11);
    const lines: string[] = [];
    const v = await runChaos({
      seconds: 0,
      seed,
      plan: ["kill9", "freeze", "isolate", "peer-remove", "stepdown"],
      hold: [700, 1500],
      log: (l) => lines.push(l),
    });
    console.log(`chaos seed ${seed}: ${v.line}; faults: ${v.faults.map((f) => `${f.kind} ${f.target}`).join(", ")}`);
    assert.equal(v.faults.length, 5);
    assert.ok(v.acked >= 50, `only ${v.acked} messages acknowledged\n${lines.join("\n")}`);
    assert.ok(v.kvOps >= 50, `only ${v.kvOps} KV operations (failed: ${v.kvErrors})\n${lines.join("\n")}`);
    assert.ok(v.delivered >= 50, `only ${v.delivered} deliveries to the consumer\n${lines.join("\n")}`);
    assert.deepEqual(v.problems, [], `${v.line}\n${lines.join("\n")}`);
    assert.match(v.line, /^5 faults, \d+ acked, 0 lost, 0 duplicated, linearizable$/);
  });
});
