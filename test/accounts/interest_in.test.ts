// Account.interestIn: who a subject reaches, or undefined when nobody (a publisher may skip building the message).
// Its emptiness test reads both lists on every call (see account.ts); this pins what it answers for each kind of
// interest, and that an empty match is a result like any other (sublist.ts: one shape for every result).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Account } from "../../src/accounts/account.ts";
import { applyRemoteInterest, type RemoteSub } from "../../src/server/remote_interest.ts";
import type { SubOwner } from "../../src/server/types.ts";

const peer: SubOwner = { cid: 7, kind: "route", echo: true, deliver() {}, removeSub() {} };

describe("Account.interestIn", () => {
  it("is undefined for nobody and the match for plain, queue-only and mixed interest", () => {
    const a = new Account("A");
    const subs = new Map<string, RemoteSub>();
    applyRemoteInterest(a, subs, peer, true, "plain.x", undefined, 1);
    applyRemoteInterest(a, subs, peer, true, "queue.x", "q", 1);
    applyRemoteInterest(a, subs, peer, true, "both.x", undefined, 1);
    applyRemoteInterest(a, subs, peer, true, "both.*", "q", 1);

    assert.equal(a.interestIn("nobody.x"), undefined);
    const plain = a.interestIn("plain.x");
    assert.equal(plain?.psubs.length, 1);
    assert.equal(plain?.qsubs.length, 0);
    const queue = a.interestIn("queue.x");
    assert.equal(queue?.psubs.length, 0, "queue-only interest is interest");
    assert.equal(queue?.qsubs.length, 1);
    const both = a.interestIn("both.x");
    assert.equal(both?.psubs.length, 1);
    assert.equal(both?.qsubs.length, 1);

    // The same answers again (the sublist caches a subject on its second miss), and the empty match itself.
    for (let i = 0; i < 3; i++) {
      assert.equal(a.interestIn("nobody.x"), undefined);
      assert.equal(a.interestIn("queue.x")?.qsubs.length, 1);
    }
    const none = a.sublist.match("nobody.x");
    assert.deepEqual([none.psubs.length, none.qsubs.length], [0, 0]);
    assert.equal(a.sublist.hasInterest("nobody.x"), false);
    assert.equal(a.sublist.hasInterest("queue.x"), true);
  });
});
