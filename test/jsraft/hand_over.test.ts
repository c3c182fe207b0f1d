// Whom a leader hands its group to (lame duck, graceful stop, step-down, moves): the most caught-up voter that may
// lead, not only a fully caught-up one. A lame duck under a steady publisher always had an entry in flight, found
// no fully caught-up follower, and stepped down without a successor: the group was leaderless for an election
// timeout (0.6 s here at load 12, seconds on a starved machine) and the publish in flight waited for it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { handOverTarget } from "../../src/jetstream/cluster/lame_duck.ts";

describe("handOverTarget", () => {
  const progress = (m: Record<string, number>) => Object.entries(m).map(([p, match]) => [p, { match }] as const);
  const all = () => true;

  it("picks a follower one entry behind when none holds the last one (a publish in flight)", () => {
    assert.equal(handOverTarget(progress({ n2: 23, n3: 22 }), all, () => 0), "n2");
  });

  it("picks among the most caught-up ones only, by the random draw", () => {
    const p = progress({ n2: 24, n3: 24, n4: 20 });
    assert.equal(handOverTarget(p, all, () => 0), "n2");
    assert.equal(handOverTarget(p, all, () => 0.99), "n3");
  });

  it("skips what may not lead (offline, itself, not a voter); none left: undefined", () => {
    assert.equal(handOverTarget(progress({ n2: 30, n3: 10 }), (p) => p !== "n2", () => 0), "n3");
    assert.equal(handOverTarget(progress({ n2: 30 }), () => false, () => 0), undefined);
    assert.equal(handOverTarget([], all, () => 0), undefined);
  });
});
