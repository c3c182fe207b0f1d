import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Account } from "../../src/accounts/account.ts";
import { applyRemoteInterest, dropRemoteInterest, interestKey, type RemoteSub } from "../../src/server/remote_interest.ts";
import type { SubOwner } from "../../src/server/types.ts";

const peer: SubOwner = { cid: 7, kind: "route", echo: true, deliver() {}, removeSub() {} };

describe("remote interest", () => {
  it("adds one subscription per account, subject and queue, updates weights, and removes on withdrawal", () => {
    const t = new Account("T");
    const u = new Account("U");
    const subs = new Map<string, RemoteSub>();
    applyRemoteInterest(t, subs, peer, true, "a.b", undefined, 1);
    applyRemoteInterest(t, subs, peer, true, "a.b", "q", 2);
    applyRemoteInterest(u, subs, peer, true, "a.b", undefined, 1);
    assert.equal(t.subscriptionCount, 2);
    assert.equal(u.subscriptionCount, 1);
    const q = subs.get(interestKey(t, "a.b", "q"));
    assert.ok(q !== undefined);
    assert.equal(q.weight, 2);
    assert.equal(q.account, t);
    assert.deepEqual([...(q.queueBytes ?? [])], [...new TextEncoder().encode("q")]);
    assert.equal(q.owner, peer);

    applyRemoteInterest(t, subs, peer, true, "a.b", "q", 5);
    assert.equal(t.subscriptionCount, 2, "a weight change is not a new subscription");
    assert.equal(subs.get(interestKey(t, "a.b", "q"))?.weight, 5);

    applyRemoteInterest(t, subs, peer, false, "a.b", "q", 0);
    applyRemoteInterest(t, subs, peer, false, "never.announced", undefined, 0);
    assert.deepEqual([...subs.keys()], [interestKey(t, "a.b", undefined), interestKey(u, "a.b", undefined)]);
    assert.equal(t.subscriptionCount, 1);

    dropRemoteInterest(subs);
    assert.equal(subs.size, 0);
    assert.equal(t.subscriptionCount + u.subscriptionCount, 0);
  });
});
