// The stream group's log in memory (log_budget.ts): marks every so many entries or bytes, a follower trims to what
// it applied, the leader to what every follower holds too, until the log passes maxBytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "../raft/harness.ts";
import { LogBudget } from "../../src/jetstream/cluster/log_budget.ts";
import type { RaftGroup } from "../../src/raft/host.ts";

const IDS = ["s1", "s2", "s3"];
const ALL = { voters: IDS, observers: [] };
const enc = (s: string) => new TextEncoder().encode(s);

/** Feeds every entry `g` applied since `from` to `b` as a stream replica does; returns the last index fed. */
function feed(b: LogBudget, g: RaftGroup, from: number): number {
  const n = g.node;
  for (let i = from + 1; i <= n.applied; i++) {
    const e = n.log.entry(i);
    if (e === undefined) continue;
    if (b.applied(e, n.log.snapIndex)) {
      const snap = g.snapshotAt(i, enc(`@${i}`));
      if (snap !== null) b.trim(snap, g, g.isLeader());
    }
  }
  return n.applied;
}

test("log budget: limits are checked", () => {
  assert.throws(() => new LogBudget({ markEvery: 0 }), /bad limits/);
  assert.throws(() => new LogBudget({ markBytes: 100, maxBytes: 10 }), /bad limits/);
});

test("log budget: marks by count or bytes; the leader waits for a lagging follower until maxBytes, a follower trims at once", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const leader = c.elect("g");
  const [lagging, other] = IDS.filter((id) => id !== leader);
  // Each entry costs 100 bytes of data + 96 counted: a mark every 4 entries (by count), maxBytes ~ 20 entries.
  const lb = new LogBudget({ markEvery: 4, markBytes: 3000, maxBytes: 20 * 196 });
  const fb = new LogBudget({ markEvery: 1000, markBytes: 3 * 196, maxBytes: 1 << 20 });
  const g = c.group(leader, "g"), f = c.group(other, "g");
  let lf = 0, ff = 0;
  for (const id of IDS) if (id !== lagging) c.net.cut(lagging, id);
  const payload = "x".repeat(100);
  for (let i = 0; i < 12; i++) {
    c.propose("g", payload);
    c.tick(1);
    lf = feed(lb, g, lf);
    ff = feed(fb, f, ff);
  }
  // The lagging follower holds nothing of these: the leader keeps all of them (its marks wait).
  assert.equal(g.node.log.snapIndex, 0, "nothing trimmed while a follower still needs it");
  assert.ok(lb.marks >= 2);
  // The other follower trims by bytes (a mark every 3 entries) to what it applied.
  assert.ok(f.node.log.snapIndex > 0 && f.node.log.entries.length <= 3, `follower trimmed: ${f.node.log.entries.length} left`);
  // Past maxBytes the leader trims anyway: the lagging follower will need the snapshot.
  for (let i = 0; i < 12; i++) {
    c.propose("g", payload);
    c.tick(1);
    lf = feed(lb, g, lf);
  }
  assert.ok(g.node.log.snapIndex > 0, "trimmed past the lagging follower once over maxBytes");
  assert.ok(lb.held < 20 * 196 + 4 * 196, `held ${lb.held}`);
  c.net.heal();
  c.tick(10);
  assert.equal(c.group(lagging, "g").node.applied, g.node.applied, "the lagging follower caught up (from the snapshot)");
});

test("log budget: a leader trims to what every follower holds", () => {
  const c = new Cluster(IDS);
  c.addGroup("g", ALL);
  const leader = c.elect("g");
  const b = new LogBudget({ markEvery: 4, markBytes: 1 << 20, maxBytes: 1 << 20 });
  const g = c.group(leader, "g");
  let fed = 0;
  for (let i = 0; i < 20; i++) {
    c.propose("g", `v${i}`);
    c.tick(1);
    fed = feed(b, g, fed);
  }
  assert.ok(g.node.log.entries.length < 8, `leader holds ${g.node.log.entries.length}`);
  assert.equal(b.marks, 0);
  b.reset();
  assert.equal(b.held, 0);
});
