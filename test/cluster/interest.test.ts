// Local interest as announced to routes: plain subjects once, queue groups with their weight.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LocalInterest } from "../../src/cluster/interest.ts";
import type { OwnerKind, SubOwner, Subscription } from "../../src/server/types.ts";

function owner(kind: OwnerKind): SubOwner {
  return { cid: 1, kind, echo: true, deliver() {}, removeSub() {} };
}

function sub(subject: string, queue?: string, kind: OwnerKind = "client"): Subscription {
  return { subject, queue, sid: "1", sidBytes: new Uint8Array(), owner: owner(kind), max: 0, delivered: 0, filtered: false };
}

describe("local interest", () => {
  it("announces a plain subject on the first subscription and withdraws it after the last", () => {
    const log: string[] = [];
    const li = new LocalInterest((added, e) => log.push(`${added ? "+" : "-"}${e.subject}`));
    const a = sub("foo.*");
    const b = sub("foo.*", undefined, "internal");
    li.changed(a, true, "$G");
    li.changed(b, true, "$G");
    li.changed(a, false, "$G");
    assert.deepEqual(log, ["+foo.*"]);
    li.changed(b, false, "$G");
    assert.deepEqual(log, ["+foo.*", "-foo.*"]);
    assert.deepEqual([...li.entries()], []);
  });

  it("re-announces a queue group with its weight on every change", () => {
    const log: string[] = [];
    const li = new LocalInterest((added, e) => log.push(added ? `+${e.subject} ${e.queue} ${e.count}` : `-${e.subject} ${e.queue}`));
    const m1 = sub("work", "q");
    const m2 = sub("work", "q");
    li.changed(m1, true, "$G");
    li.changed(m2, true, "$G");
    li.changed(m1, false, "$G");
    li.changed(m2, false, "$G");
    assert.deepEqual(log, ["+work q 1", "+work q 2", "+work q 1", "-work q"]);
  });

  it("counts each account's interest apart", () => {
    const log: string[] = [];
    const li = new LocalInterest((added, e) => log.push(`${added ? "+" : "-"}${e.account} ${e.subject}`));
    const a = sub("foo");
    const b = sub("foo");
    li.changed(a, true, "A");
    li.changed(b, true, "B");
    li.changed(a, false, "A");
    assert.deepEqual(log, ["+A foo", "+B foo", "-A foo"]);
  });

  it("ignores other servers' interest", () => {
    const log: string[] = [];
    const li = new LocalInterest((_a, e) => log.push(e.subject));
    li.changed(sub("x", undefined, "route"), true, "$G");
    li.changed(sub("y", undefined, "gateway"), true, "$G");
    assert.deepEqual(log, []);
  });
});
