// A publish a stream's old leader sends again (its entry replaced by another leader's log, or lost unproposed
// with the leadership) is checked again by the leader that takes it, against the stream as it is then, and is
// taken only in the order its client sent it: never after a publish the same client sent later (an async
// publisher's next publish, a KV put of the same key overtaken by the older value). nats-server sends nothing
// again (a lost proposal is not acknowledged, the client times out): a re-send that cannot keep its place is
// dropped the same way. And the leader's discard-new limits count what is in flight.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loneLeader as leader } from "./lone_replica.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";

const enc = new TextEncoder();
/** What the replica answered publishers (not its advisories). */
const acks = <T extends { subject: string }>(answers: T[]) => answers.filter((a) => a.subject.startsWith("_INBOX."));
const dec = new TextDecoder();

const pub = (subject: string, reply: string, text: string, extra: Partial<BusMsg> = {}): BusMsg => ({
  subject,
  reply,
  payload: enc.encode(text),
  ...extra,
});
const resent = (text: string, k: number, after: number, chain = "n9.1", headers?: string): BusMsg =>
  pub("s.1", `_INBOX.c.${text}`, text, {
    forwarded: true,
    hops: 1,
    resend: { chain, k, after },
    headers: headers === undefined ? undefined : enc.encode(`NATS/1.0\r\n${headers}\r\n\r\n`),
  });

describe("a re-sent publish at the leader that takes it", () => {
  it("is dropped, with the rest of its chain, once the leader took anything after the takeover point (not knowing whose)", () => {
    const { replica, log, answers, flush, commitAll } = leader();
    // The client's later publish reached the new leader first.
    replica.publish(pub("s.1", "_INBOX.c.four", "four"));
    replica.publish(resent("two", 0, 0));
    replica.publish(resent("three", 1, 0));
    flush();
    const proposed = log.slice(1).map((e) => e.kind);
    assert.deepEqual(proposed, ["cmd"], "only the later publish is proposed: the re-sent two would follow it");
    commitAll(2);
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.c.four", 1]]);
  });

  it("is taken at its takeover point, its chain in order, each checked again (an expected last sequence)", () => {
    const { replica, log, answers, flush, commitAll } = leader();
    replica.publish(resent("two", 0, 0, "n9.1", "Nats-Expected-Last-Sequence: 7"));
    replica.publish(resent("three", 1, 0));
    replica.publish(resent("four", 2, 0));
    // Another chain from the same point cannot come after this one.
    replica.publish(resent("other", 0, 0, "n8.1"));
    flush();
    commitAll(2);
    const got = acks(answers).map((a) => [a.subject, a.body.error ? (a.body.error as { err_code: number }).err_code : a.body.seq]);
    assert.deepEqual(got, [["_INBOX.c.two", 10071], ["_INBOX.c.three", 1], ["_INBOX.c.four", 2]]);
    assert.equal(log.length, 3);
  });

  it("is taken after other clients' publishes since the takeover, not after a later one of its own client", () => {
    const { replica, log, node, group, flush, loseTo, answers, commitAll } = leader();
    // n1 followed n2 for a while and leads again (term 3): its no-op at index 2 makes it ready at sequence 0.
    loseTo("n2", 2);
    node.term = 3;
    group.leader = "n1";
    replica.leaderChanged("n1");
    log.push({ index: 2, term: 3, kind: "noop", data: new Uint8Array(0) });
    replica.apply(log[1]);
    const again = (reply: string, text: string, k: number) =>
      pub("s.1", reply, text, { forwarded: true, hops: 1, resend: { chain: "n2.7", k, after: 0 } });
    replica.publish(pub("s.1", "_INBOX.Y.5", "y5")); // client Y's later publish, taken first
    replica.publish(again("_INBOX.X.2", "x2", 0)); // client X: nothing of X taken since the takeover
    replica.publish(again("_INBOX.Y.3", "y3", 1)); // client Y sent it before y5: it would follow y5
    replica.publish(again("_INBOX.X.4", "x4", 2)); // after x2, of the same chain
    flush();
    commitAll(3);
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.Y.5", 1], ["_INBOX.X.2", 2], ["_INBOX.X.4", 3]]);
  });

  it("is not stored on a subject the stream no longer has", () => {
    const { replica, log, flush } = leader();
    replica.publish(pub("t.1", "_INBOX.c.t", "elsewhere", { forwarded: true, hops: 1 }));
    replica.publish(resent("two", 0, 0));
    flush();
    assert.equal(log.length, 2, "only the publish on s.1 is proposed");
    assert.equal(dec.decode(log[1].data).includes("elsewhere"), false);
  });
});

describe("what an old leader sends again", () => {
  it("waits for its open proposals: a publish lost unproposed follows the one before it, replaced and re-sent", () => {
    const { replica, flush, loseTo, sent, marks } = leader();
    replica.publish(pub("s.1", "_INBOX.c.two", "two"));
    flush(); // index 2, term 1, open
    replica.publish(pub("s.1", "_INBOX.c.three", "three")); // batched, not proposed
    loseTo("n2", 2);
    assert.deepEqual(sent(), [], "three must not overtake two, whose fate is open");
    replica.apply({ index: 2, term: 2, kind: "noop", data: new Uint8Array(0) });
    assert.deepEqual(marks(), [["two", 0, 0], ["three", 1, 0]]);
  });

  it("sends the unproposed one after the point where its open proposal was committed", () => {
    const { replica, log, flush, loseTo, sent, marks, answers } = leader();
    replica.publish(pub("s.1", "_INBOX.c.two", "two"));
    flush();
    replica.publish(pub("s.1", "_INBOX.c.three", "three"));
    loseTo("n2", 2);
    assert.deepEqual(sent(), []);
    replica.apply(log[1]); // n2 had it: committed in term 1, answered here
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.c.two", 1]]);
    assert.deepEqual(marks(), [["three", 0, 1]]);
  });

  it("sends what came during a hand-off to the successor at once, unmarked (the successor holds every entry)", () => {
    const { replica, log, flush, loseTo, sent, marks, answers } = leader();
    replica.publish(pub("s.1", "_INBOX.c.two", "two"));
    flush();
    replica.handingOff = true;
    replica.publish(pub("s.1", "_INBOX.c.three", "three"));
    loseTo("n2", 2);
    assert.deepEqual(sent(), [["n2", "s.1", "_INBOX.c.three", "three"]]);
    assert.deepEqual(marks(), [["three", undefined, undefined]]);
    replica.apply(log[1]); // the successor commits two: answered here
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.c.two", 1]]);
  });
});

describe("a replicated stream's discard-new limits count the publishes in flight", () => {
  it("max_msgs_per_subject with discard new per subject: a second publish in flight on the subject is refused", () => {
    const { replica, log, answers, flush, commitAll } = leader({}, { discard: "new", max_msgs_per_subject: 1, discard_new_per_subject: true });
    replica.publish(pub("s.1", "_INBOX.a", "one"));
    replica.publish(pub("s.1", "_INBOX.b", "two"));
    replica.publish(pub("s.2", "_INBOX.c", "other subject"));
    flush();
    commitAll(2);
    const got = acks(answers).map((a) => [a.subject, a.body.error ? (a.body.error as { description: string }).description : a.body.seq]);
    assert.deepEqual(got, [["_INBOX.b", "maximum messages per subject exceeded"], ["_INBOX.a", 1], ["_INBOX.c", 2]]);
    assert.equal(replica.stream.state().messages, 2);
    assert.equal(log.length, 3);
  });

  it("max_msgs with discard new: publishes in flight count", () => {
    const { replica, answers, flush, commitAll } = leader({}, { discard: "new", max_msgs: 1 });
    replica.publish(pub("s.1", "_INBOX.a", "one"));
    replica.publish(pub("s.2", "_INBOX.b", "two"));
    flush();
    commitAll(2);
    const got = acks(answers).map((a) => [a.subject, a.body.error ? (a.body.error as { description: string }).description : a.body.seq]);
    assert.deepEqual(got, [["_INBOX.b", "maximum messages exceeded"], ["_INBOX.a", 1]]);
    // Applied: the count is the stream's own again.
    replica.publish(pub("s.3", "_INBOX.c", "three"));
    flush();
    assert.deepEqual(acks(answers).at(-1)?.body.error, acks(answers)[0].body.error);
  });
});
