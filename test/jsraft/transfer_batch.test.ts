// A stream leader's batch of publishes that a leadership transfer refuses (proposals wait while the transfer
// runs): it was dropped — no PubAck, its bytes never left the intake, and the sequences it took were skipped by
// the next publish if the transfer did not happen. Now it waits for the transfer's end and is proposed then
// (the leader's tick) while this server still leads; with the leadership gone it goes to the next leader with the
// rest (replaced_entry.test.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loneLeader as leader } from "./lone_replica.ts";

const enc = new TextEncoder();

describe("a stream leader's batch refused by a leadership transfer", () => {
  it("is proposed once the transfer ended without a successor, and its publisher answered; the next one follows", () => {
    const { replica, node, log, answers, commitAll, flush } = leader();
    node.transferring = true;
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    flush();
    replica.tick();
    assert.equal(log.length, 1, "nothing is proposed while the transfer runs");
    node.transferring = false; // the target did not win in time: this server still leads
    replica.tick();
    assert.equal(log.length, 2, "the refused batch is proposed after the transfer");
    replica.publish({ subject: "s.2", reply: "_INBOX.b", payload: enc.encode("two") });
    flush();
    commitAll(2);
    const acks = answers.filter((a) => a.subject.startsWith("_INBOX."));
    assert.deepEqual(acks.map((a) => [a.subject, a.body.seq]), [["_INBOX.a", 1], ["_INBOX.b", 2]]);
    assert.equal(replica.backlog(), 0, "no bytes left in the intake");
  });

  it("is not proposed here when the transfer succeeded: it leaves with the leadership (to the successor, replaced_entry.test.ts)", () => {
    const { replica, node, log, flush } = leader();
    node.transferring = true;
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    flush();
    replica.leaderChanged(null);
    node.transferring = false;
    replica.tick();
    assert.equal(log.length, 1);
    assert.equal(replica.backlog(), 0);
  });
});
