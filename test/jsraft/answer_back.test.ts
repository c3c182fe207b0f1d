// A stream API request (or a publish) passed on by the old leader to the new one ahead of the interest in its
// reply (a fresh inbox): the new leader answers it back through the server that first passed it on (answer_back.ts), as
// nats-server sends an answer to a request that crossed a gateway back to the server it came through. Units here;
// leader_forward.test.ts drives three servers through it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ANSWER_BACK_MS, AnswerBack, publishAnswerBack } from "../../src/jetstream/cluster/answer_back.ts";
import type { BusMsg, JsBus, PublishOpts } from "../../src/jetstream/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One account's bus on one server: subscriptions by subject, what was published, who listens. */
function fakeBus(listening: Set<string>) {
  const subs = new Map<number, { subject: string; handler: (m: BusMsg) => void; local?: boolean }>();
  const published: Array<{ subject: string; text: string; headers?: Uint8Array }> = [];
  let sid = 0;
  const bus: JsBus = {
    subscribe: (subject, handler, opts) => (subs.set(++sid, { subject, handler, local: opts?.local }), sid),
    unsubscribe: (id) => void subs.delete(id),
    publish: (subject: string, payload: Uint8Array, o?: PublishOpts) => {
      published.push({ subject, text: dec.decode(payload), headers: o?.headers });
      for (const s of [...subs.values()]) if (s.subject === subject) s.handler({ subject, payload, headers: o?.headers });
    },
    hasInterest: (s) => listening.has(s),
  };
  return { bus, subs, published };
}

describe("answers to passed-on requests whose reply the leader has not heard of", () => {
  const setup = () => {
    const listening = new Set<string>();
    const leader = fakeBus(listening);
    const sent: Array<{ origin: string; wire: Uint8Array }> = [];
    const ab = new AnswerBack({ busOf: (a) => a === "ACC" ? leader.bus : undefined, sendTo: (origin, wire) => sent.push({ origin, wire }) });
    return { listening, leader, sent, ab };
  };

  it("go to the origin, which publishes them to the reply in the account; one answer, then the subject is gone", () => {
    const { leader, sent, ab } = setup();
    const mapped = ab.map("ACC", "_INBOX.fresh", "n1", 0)!;
    assert.match(mapped, /^\$JSC\.AB\./);
    // Heard on this server only: the subscription stays off the routes.
    assert.deepEqual([...leader.subs.values()].map((s) => [s.subject, s.local]), [[mapped, true]]);
    leader.bus.publish(mapped, enc.encode("{\"type\":\"info\"}"));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].origin, "n1");
    assert.equal(leader.subs.size, 0);
    assert.equal(ab.size, 0);
    // A second answer on the mapped subject goes nowhere.
    leader.bus.publish(mapped, enc.encode("again"));
    assert.equal(sent.length, 1);
    // The origin: its own bus of the account publishes it to the plain reply.
    const origin = fakeBus(new Set(["_INBOX.fresh"]));
    publishAnswerBack(sent[0].wire, (a) => a === "ACC" ? origin.bus : undefined);
    assert.deepEqual(origin.published.map((p) => [p.subject, p.text]), [["_INBOX.fresh", "{\"type\":\"info\"}"]]);
    // An account the origin has no JetStream for, or a broken frame: nothing.
    publishAnswerBack(sent[0].wire, () => undefined);
    publishAnswerBack(new Uint8Array([0, 0, 0, 9, 1]), () => origin.bus);
    assert.equal(origin.published.length, 1);
  });

  it("go to the reply directly when the leader has heard of it by the time it answers", () => {
    const { listening, leader, sent, ab } = setup();
    const mapped = ab.map("ACC", "_INBOX.r", "n1", 0)!;
    listening.add("_INBOX.r");
    leader.bus.publish(mapped, enc.encode("ok"));
    assert.deepEqual(sent, []);
    assert.deepEqual(leader.published.map((p) => p.subject), [mapped, "_INBOX.r"]);
  });

  it("are mapped to a new subject each, given up after their bound, and not at all without the account's bus", () => {
    const { leader, ab } = setup();
    const a = ab.map("ACC", "_INBOX.a", "n1", 0)!;
    const b = ab.map("ACC", "_INBOX.b", "n2", 10)!;
    assert.notEqual(a, b);
    assert.equal(ab.map("OTHER", "_INBOX.c", "n1", 0), undefined);
    ab.sweep(ANSWER_BACK_MS - 1);
    assert.equal(ab.size, 2);
    ab.sweep(ANSWER_BACK_MS);
    assert.equal(ab.size, 1);
    ab.close();
    assert.equal(ab.size, 0);
    assert.equal(leader.subs.size, 0);
  });

  it("replyFor: the reply itself once heard here, else a mapped subject; the reply when nothing can be mapped", () => {
    const { listening, ab } = setup();
    listening.add("_INBOX.heard");
    assert.equal(ab.replyFor("ACC", "_INBOX.heard", "n1", 0), "_INBOX.heard");
    assert.equal(ab.size, 0);
    assert.match(ab.replyFor("ACC", "_INBOX.fresh", "n1", 0), /^\$JSC\.AB\./);
    assert.equal(ab.size, 1);
    assert.equal(ab.replyFor("OTHER", "_INBOX.fresh", "n1", 0), "_INBOX.fresh");
    ab.close();
  });

  it("are mapped at most 1,000 at once", () => {
    const { ab } = setup();
    for (let i = 0; i < 1_000; i++) assert.notEqual(ab.map("ACC", `_INBOX.${i}`, "n1", 0), undefined);
    assert.equal(ab.map("ACC", "_INBOX.over", "n1", 0), undefined);
    ab.close();
  });
});
