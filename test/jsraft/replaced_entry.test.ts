// A stream leader's publish whose log entry another leader's log replaced (a leadership lost for a moment, and a
// server with a shorter log won the election): never committed, and it was dropped unanswered — its client waited
// out its whole timeout, a sequential publisher for good (ops_sigusr2's 10 s without an acknowledged publish after
// the lame duck's exit). Now it goes again, as it came, to whoever leads; so do the publishes the old leader had
// batched but not proposed yet.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeCmd } from "../../src/jetstream/cluster/entries.ts";
import { loneLeader as leader } from "./lone_replica.ts";

const enc = new TextEncoder();

describe("a stream leader's publish whose entry another leader replaced", () => {
  it("goes to the new leader once that leader's no-op takes its index", () => {
    const { replica, flush, loseTo, sent } = leader();
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one"), headers: undefined });
    flush(); // proposed at index 2, term 1, not committed
    assert.ok(replica.backlog() > 0);
    loseTo("n2", 2);
    assert.deepEqual(sent(), [], "not yet: the new leader may still commit it");
    // n2 won with a log ending at index 1: its no-op at index 2 replaces the publish.
    replica.apply({ index: 2, term: 2, kind: "noop", data: new Uint8Array(0) });
    assert.deepEqual(sent(), [["n2", "s.1", "_INBOX.a", "one"]]);
    assert.equal(replica.backlog(), 0, "its bytes left the intake");
    assert.equal(replica.inFlight, 0);
  });

  it("goes to the new leader when another leader's publish is committed at its index, and with it every later one", () => {
    const { replica, flush, loseTo, sent } = leader();
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    replica.publish({ subject: "s.2", reply: "_INBOX.b", payload: enc.encode("two") });
    flush(); // indices 2 and 3, term 1
    loseTo("n3", 3);
    const other = encodeCmd({ op: "msg", seq: 1, ts: 0, subject: "s.9", headers: undefined, data: enc.encode("nine") });
    replica.apply({ index: 2, term: 3, kind: "cmd", data: other });
    assert.deepEqual(sent(), [["n3", "s.1", "_INBOX.a", "one"], ["n3", "s.2", "_INBOX.b", "two"]]);
    assert.equal(replica.backlog(), 0);
  });

  it("is answered here, not sent again, when the new leader commits it", () => {
    const { replica, log, answers, flush, loseTo, sent } = leader();
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    flush();
    loseTo("n2", 2);
    replica.apply(log[1]); // n2 had it: committed with its term 1
    replica.apply({ index: 3, term: 2, kind: "noop", data: new Uint8Array(0) });
    assert.deepEqual(sent(), []);
    assert.deepEqual(answers.filter((a) => a.subject === "_INBOX.a").map((a) => a.body.seq), [1]);
  });

  it("a publish batched but not proposed when the leadership went goes to the next leader once one is known", () => {
    const { replica, flush, loseTo, sent, log } = leader();
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    loseTo(null, 2); // before the batch's turn
    flush();
    assert.equal(log.length, 1, "nothing proposed without the leadership");
    assert.deepEqual(sent(), []);
    loseTo("n2", 2);
    assert.deepEqual(sent(), [["n2", "s.1", "_INBOX.a", "one"]]);
    assert.equal(replica.backlog(), 0);
  });

  it("a batch the Raft node refused as no longer leading goes to the next leader, its bytes out of the intake", () => {
    const { replica, node, flush, loseTo, sent, log } = leader();
    replica.publish({ subject: "s.1", reply: "_INBOX.a", payload: enc.encode("one") });
    node.refuses = true;
    flush();
    assert.equal(log.length, 1);
    assert.equal(replica.backlog(), 0, "the refused batch's bytes left the intake");
    loseTo("n2", 2);
    assert.deepEqual(sent(), [["n2", "s.1", "_INBOX.a", "one"]]);
  });
});

// A consumer's assignment proposed by the stream's leader: its proposer is told when it is applied (the create is
// answered then) or when it never will be (the create goes to the next leader: consumer_groups.ts).
describe("a stream leader's consumer assignment", () => {
  const cadd = (group: string) => ({ op: "cadd" as const, name: "c", config: { ack_policy: "explicit" } as never, created: "", group, peers: ["n1"] });

  it("tells its proposer when applied, here as a follower too when the next leader commits it", () => {
    const { replica, log, flush, loseTo } = leader();
    const said: string[] = [];
    assert.ok(replica.propose(cadd("G1"), () => said.push("applied"), () => said.push("lost")));
    flush();
    loseTo("n2", 2);
    assert.deepEqual(said, []);
    replica.apply(log[1]); // n2 had it: committed with its term 1
    assert.deepEqual(said, ["applied"]);
    assert.equal(replica.consumers.get("c")?.group, "G1");
  });

  it("tells its proposer it is lost when another leader's entry replaces it, or when it went unproposed", () => {
    const { replica, flush, loseTo } = leader();
    const said: string[] = [];
    replica.propose(cadd("G1"), () => said.push("applied 1"), () => said.push("lost 1"));
    flush();
    loseTo("n2", 2);
    replica.apply({ index: 2, term: 2, kind: "noop", data: new Uint8Array(0) });
    assert.deepEqual(said, ["lost 1"]);
    assert.equal(replica.consumers.has("c"), false);

    const second = leader();
    second.replica.propose(cadd("G2"), () => said.push("applied 2"), () => said.push("lost 2"));
    second.loseTo(null, 2); // before the batch's turn
    second.flush();
    assert.deepEqual(said, ["lost 1", "lost 2"]);
    assert.equal(second.replica.propose(cadd("G3"), () => said.push("applied 3"), () => said.push("lost 3")), false, "not leading");
    assert.deepEqual(said, ["lost 1", "lost 2"], "a proposal refused at once is neither");
  });

  it("a removal naming a group removes that consumer only, not one created again under its name", () => {
    const { replica, log, flush } = leader();
    // G1 assigned and removed, G2 assigned under the same name, then G1's removal once more (proposed again).
    replica.propose(cadd("G1"), undefined);
    replica.propose({ op: "cdel", name: "c", group: "G1" }, undefined);
    replica.propose(cadd("G2"), undefined);
    replica.propose({ op: "cdel", name: "c", group: "G1" }, undefined);
    flush();
    for (const e of log.slice(1)) replica.apply(e);
    assert.equal(replica.consumers.get("c")?.group, "G2");
  });
});
