import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { applyRemoteInterest, type RemoteSub } from "../../src/server/remote_interest.ts";
import type { SubOwner, Subscription } from "../../src/server/types.ts";

const peer: SubOwner = { cid: 7, kind: "route", echo: true, deliver() {}, removeSub() {} };

function target() {
  const live = new Set<Subscription>();
  return { live, addSubscription: (s: Subscription) => live.add(s), removeSubscription: (s: Subscription) => live.delete(s) };
}

describe("remote interest", () => {
  it("adds one subscription per subject and queue, updates weights, and removes on withdrawal", () => {
    const t = target();
    const subs = new Map<string, RemoteSub>();
    applyRemoteInterest(t, subs, peer, true, "a.b", undefined, 1);
    applyRemoteInterest(t, subs, peer, true, "a.b", "q", 2);
    assert.equal(t.live.size, 2);
    const q = subs.get("a.b q");
    assert.ok(q !== undefined);
    assert.equal(q.weight, 2);
    assert.deepEqual([...(q.queueBytes ?? [])], [...new TextEncoder().encode("q")]);
    assert.equal(q.owner, peer);

    applyRemoteInterest(t, subs, peer, true, "a.b", "q", 5);
    assert.equal(t.live.size, 2, "a weight change is not a new subscription");
    assert.equal(subs.get("a.b q")?.weight, 5);

    applyRemoteInterest(t, subs, peer, false, "a.b", "q", 0);
    applyRemoteInterest(t, subs, peer, false, "never.announced", undefined, 0);
    assert.deepEqual([...subs.keys()], ["a.b"]);
    assert.equal(t.live.size, 1);
  });
});
