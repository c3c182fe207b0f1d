// A publish passed on to a server that no longer leads the stream (forward.ts). A client's server with no interest
// to send a publish by passes it to the leader it knows; if that one stepped down meanwhile (the client's server
// had not heard of the new leader yet), it was dropped there and its client timed out (leader_forward.test.ts
// caught it on a loaded machine). The server it reaches now passes it on to the leader it knows, or holds it
// until one is known, at most MAX_HOPS times in all so that stale views cannot bounce it for ever. The same for a
// stream's API request passed on by its old leader (api_pass_on.ts): one unanswered in leader_forward.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { JetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { StreamReplica } from "../../src/jetstream/cluster/stream_replica.ts";
import { decodeForward, encodeForward, MAX_HOPS, RepeatFilter, REPEAT_WINDOW_MS } from "../../src/jetstream/cluster/forward.ts";
import { ApiPassOn, MAX_HELD_MS, PASS_ON_MS } from "../../src/jetstream/cluster/api_pass_on.ts";
import type { RaftGroup } from "../../src/raft/host.ts";
import type { BusMsg, JsBus } from "../../src/jetstream/types.ts";

const enc = new TextEncoder();

/** n1's replica of stream S; the Raft group is reduced to who leads (n1 is a follower). */
function follower(leader: string | null) {
  const bus: JsBus = { subscribe: () => 0, unsubscribe: () => {}, publish: () => {} };
  const engine = new JetStream(bus, { server_name: "n1", now: () => 0 }, new MemoryStorage());
  const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], num_replicas: 3 });
  const passed: Array<{ to: string; wire: Uint8Array }> = [];
  const replica = new StreamReplica(engine.createStream(cfg, new Date(0).toISOString()), {
    engine,
    self: "n1",
    now: () => 0,
    // What the controller does: encode for `$JSC.FWD.<leader>`; the test decodes it as the receiver would.
    forward: (to, m) => passed.push({ to, wire: encodeForward("$G", "S", m) }),
  });
  const group = { leader, isLeader: () => false };
  replica.group = group as unknown as RaftGroup;
  return { replica, passed, group };
}

/** A publish as the receiving controller decodes it after `times` passes. */
function arrived(times: number): BusMsg {
  let m: BusMsg = { subject: "s.1", reply: "_INBOX.x", payload: enc.encode("m"), viaRoute: true };
  for (let i = 0; i < times; i++) m = decodeForward(encodeForward("$G", "S", m))!.msg;
  return m;
}

describe("a forwarded publish at a server that does not lead", () => {
  it("counts its passes on the wire (a sender without the count counts as one)", () => {
    assert.equal(arrived(1).hops, 1);
    assert.equal(arrived(3).hops, 3);
    const head = enc.encode(JSON.stringify({ a: "$G", s: "S", subject: "s.1", reply: "r", h: 0 }));
    const old = new Uint8Array(4 + head.length + 1);
    new DataView(old.buffer).setUint32(0, head.length);
    old.set(head, 4);
    assert.equal(decodeForward(old)?.msg.hops, 1);
    const bad = enc.encode(JSON.stringify({ a: "$G", s: "S", subject: "s.1", reply: "r", h: 0, n: 0 }));
    const b = new Uint8Array(4 + bad.length);
    new DataView(b.buffer).setUint32(0, bad.length);
    b.set(bad, 4);
    assert.equal(decodeForward(b), undefined);
  });

  it("goes on to the leader this server knows", () => {
    const { replica, passed } = follower("n3");
    replica.publish(arrived(1));
    assert.equal(passed.length, 1);
    assert.equal(passed[0].to, "n3");
    const got = decodeForward(passed[0].wire)!.msg;
    assert.equal(got.hops, 2);
    assert.equal(got.subject, "s.1");
    assert.equal(got.reply, "_INBOX.x");
  });

  it("waits for a leader when none is known, then goes to it", () => {
    const { replica, passed, group } = follower(null);
    replica.publish(arrived(1));
    assert.equal(passed.length, 0);
    group.leader = "n2";
    replica.leaderChanged("n2");
    assert.deepEqual(passed.map((p) => p.to), ["n2"]);
  });

  it(`is not passed on after ${MAX_HOPS} passes`, () => {
    const { replica, passed } = follower("n3");
    replica.publish(arrived(MAX_HOPS));
    // A marker behind it on the same path: passed on, so the one before was dropped and not held back.
    replica.publish(arrived(MAX_HOPS - 1));
    assert.deepEqual(passed.map((p) => decodeForward(p.wire)!.msg.hops), [MAX_HOPS]);
  });
});

describe("a stream API request passed on to a server that does not lead", () => {
  const passOn = () => {
    const sent: Array<{ to: string; hops: number }> = [];
    const p = new ApiPassOn((_key, to, m) => sent.push({ to, hops: decodeForward(encodeForward("$G", "S", m))!.msg.hops! }), () => {});
    return { p, sent };
  };
  const request = (times: number): BusMsg => {
    let m: BusMsg = { subject: "$JS.API.STREAM.INFO.S", reply: "_INBOX.r", payload: new Uint8Array(0), viaRoute: true };
    for (let i = 0; i < times; i++) m = decodeForward(encodeForward("$G", "S", m))!.msg;
    return m;
  };

  it("goes on from a server that never led, up to the bound; a direct one stays with the leader's copy", () => {
    const { p } = passOn();
    assert.equal(p.passesOn("S", request(0), 0), false);
    assert.equal(p.passesOn("S", request(1), 0), true);
    assert.equal(p.passesOn("S", request(MAX_HOPS - 1), 0), true);
    assert.equal(p.passesOn("S", request(MAX_HOPS), 0), false);
  });

  it("goes on from a server that stopped leading before it was told so (a request read in the same turn)", () => {
    const { p, sent } = passOn();
    p.startedLeading("S");
    // Asked while not leading: the Raft node stopped leading, roleChanged(false) is still to come.
    assert.equal(p.passesOn("S", request(0), 10), true);
    p.hold("S", request(0), 10);
    p.leaderIs("S", "n2", "n1", 10);
    assert.deepEqual(sent, [{ to: "n2", hops: 1 }]);
    // For PASS_ON_MS from then, as after being told.
    assert.equal(p.passesOn("S", request(0), 10 + PASS_ON_MS), true);
    assert.equal(p.passesOn("S", request(0), 11 + PASS_ON_MS), false);
    // Told it stopped, and later a replica that never led: nothing to pass on.
    const fresh = passOn().p;
    fresh.startedLeading("S");
    fresh.stoppedLeading("S", 0);
    assert.equal(fresh.passesOn("S", request(0), PASS_ON_MS + 1), false);
  });

  it("carries the server that first passed it on, through every later pass", () => {
    const m: BusMsg = { subject: "$JS.API.STREAM.INFO.S", reply: "_INBOX.r", payload: new Uint8Array(0), viaRoute: true };
    const once = decodeForward(encodeForward("$G", "S", m, "n1"))!.msg;
    assert.equal(once.origin, "n1");
    assert.equal(decodeForward(encodeForward("$G", "S", once, "n2"))!.msg.origin, "n1");
  });

  it("a passed-on copy and its direct one are one request for a window from when the passed-on one came", () => {
    const f = new RepeatFilter();
    f.start(0);
    const direct: BusMsg = { subject: "$JS.API.STREAM.INFO.S", reply: "_INBOX.late", payload: new Uint8Array(0) };
    const passed = { ...direct, forwarded: true };
    // Long after the leadership started: the forwarded one comes, its direct one a window later still matches.
    assert.equal(f.repeat({ subject: "x", reply: "_INBOX.d", payload: new Uint8Array(0) }, 1), false);
    assert.equal(f.repeat(passed, REPEAT_WINDOW_MS - 1), false);
    assert.equal(f.repeat(direct, 2 * REPEAT_WINDOW_MS - 1), true);
    // Matched once: the next identical one is a new request.
    assert.equal(f.repeat(direct, 2 * REPEAT_WINDOW_MS - 1), false);
  });

  it("kept while no leader is known, then passed on to it (a direct one too, at the old leader)", () => {
    const { p, sent } = passOn();
    p.stoppedLeading("S", 0);
    for (const m of [request(0), request(1), request(MAX_HOPS)]) if (p.passesOn("S", m, 1)) p.hold("S", m, 1);
    p.leaderIs("S", "n3", "n1", 1);
    assert.deepEqual(sent, [{ to: "n3", hops: 1 }, { to: "n3", hops: 2 }]);
  });

  // After a long loss of quorum, a request kept for the next leader ran minutes late, its client long gone (a create
  // or delete done behind its back). One kept longer than a client waits is dropped, never run.
  it(`is dropped, not run, when kept longer than MAX_HELD_MS (${MAX_HELD_MS} ms) — passed on or answered`, () => {
    const answered: string[] = [];
    const sent: string[] = [];
    const p = new ApiPassOn((_key, to, m) => sent.push(`${to} ${m.reply}`), (_key, m) => answered.push(m.reply!));
    const at = (reply: string): BusMsg => ({ subject: "$JS.API.STREAM.INFO.S", reply, payload: new Uint8Array(0) });
    // Kept at 0 (stale by the time a leader is known) and at 1 (fresh: the marker behind it on the same path).
    p.hold("S", at("_INBOX.old"), 0);
    p.hold("S", at("_INBOX.new"), 1);
    p.leaderIs("S", "n2", "n1", 1 + MAX_HELD_MS);
    assert.deepEqual(sent, ["n2 _INBOX.new"]);
    // The same when this server leads and becomes ready.
    p.hold("S", at("_INBOX.old"), 0);
    p.hold("S", at("_INBOX.new"), MAX_HELD_MS);
    p.ready("S", MAX_HELD_MS + 1);
    assert.deepEqual(answered, ["_INBOX.new"]);
    // A tick drops what went stale while no leader came; what is fresh stays kept.
    p.hold("S", at("_INBOX.old"), 0);
    p.hold("T", at("_INBOX.tick"), 10);
    p.expire(MAX_HELD_MS + 1);
    p.ready("S", 0);
    p.ready("T", 0);
    assert.deepEqual(answered, ["_INBOX.new", "_INBOX.tick"]);
  });

  // Two leadership changes within PASS_ON_MS (n1 -> n2, then n2 -> n3): n1 and n2 both passed each request on, and
  // n3 took its direct copy and the first passed-on one as one request and the second as another: answered twice
  // (jsraft/accounts: every request right after a meta step-down that followed another one).
  it("is passed on only by the last leader before the current one: not by one whose successor lost the leadership too", () => {
    const { p, sent } = passOn();
    p.startedLeading("S");
    p.stoppedLeading("S", 0);
    p.leaderIs("S", "n2", "n1", 1);
    assert.equal(p.passesOn("S", request(0), 2), true);
    // Its successor led on for a while (the same leader heard again, a new term): still passed on.
    p.leaderIs("S", "n2", "n1", 3);
    assert.equal(p.passesOn("S", request(0), 4), true);
    // n2 stepped down too: n2 passes on what came late, not n1 any more.
    p.leaderIs("S", "n3", "n1", 5);
    assert.equal(p.passesOn("S", request(0), 6), false);
    // What another server passed here still goes on (bounded by its hops), and what n1 kept goes to n3.
    assert.equal(p.passesOn("S", request(1), 6), true);
    p.hold("S", request(1), 6);
    p.leaderIs("S", "n3", "n1", 7);
    assert.deepEqual(sent, [{ to: "n3", hops: 2 }]);
    // Leading again and stopping again: passed on again, until the leadership moves twice more.
    p.startedLeading("S");
    p.stoppedLeading("S", 10);
    assert.equal(p.passesOn("S", request(0), 11), true);
    p.leaderIs("S", "n3", "n1", 11);
    assert.equal(p.passesOn("S", request(0), 12), true);
  });
});
