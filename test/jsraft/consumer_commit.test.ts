// A replicated consumer's changes are answered once committed in its stream's log (consumer_groups.ts), and the
// ones that cannot commit get an answer too. On the lone-leader harness (lone_replica.ts: stream S led by n1, its
// Raft group reduced to a leadership, a term and a log) with n1's consumer groups wired in, its clock injected
// (`now`, and `tick` as the host's tick), and API requests served by n1's engine the way the cluster routes them.
//
// 1. A delete whose removal cannot commit (the stream without a leader for 30 s) was given up unanswered after 15
//    proposals, the consumer still there: now answered with a 503 the client may retry, the consumer still there.
// 2. An inactive consumer's removal, lost with the stream's leadership, was proposed once: its record stayed in the
//    stream's log for good. Now it is proposed again (to the leader then) until applied, as nats-server's consumer
//    does until its assignment is gone.
// 3. A create that came passed on already, whose assignment is lost again, was dropped unanswered: now answered
//    with a 503 the client may retry (one that came directly goes to the next leader, as before).
// 4. Consumer info of a consumer whose assignment is on its way was answered from its paused copy: now "consumer
//    not found" (10014) until applied, as nats-server answers until its meta layer has the assignment; nor is it
//    counted in its stream's consumers or shown in /jsz until then.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConsumerGroups } from "../../src/jetstream/cluster/consumer_groups.ts";
import { decodeCmd, encodeCmd, type GroupCmd } from "../../src/jetstream/cluster/entries.ts";
import type { EngineCluster } from "../../src/jetstream/engine.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";
import type { RaftHost } from "../../src/raft/host.ts";
import { loadJsSchemas } from "../../src/jetstream/schemas_on_demand.ts";
import { loneLeader } from "./lone_replica.ts";

const enc = new TextEncoder();
const API = "$JS.API.";

/** n1 leading S, with its consumer groups; everything they send and answer recorded. */
function n1() {
  let now = 0;
  let cg: ConsumerGroups | undefined;
  const h = loneLeader({ consumerRemoved: (name, group) => cg!.removedApplied("S", name, group) });
  const { replica, engine } = h;
  /** What n1 asked the stream's leader to propose (`$JSC.CPROP.<group>`: it did not lead). */
  const cprop: GroupCmd[] = [];
  const passedOn: BusMsg[] = [];
  cg = new ConsumerGroups({
    engine,
    host: {} as RaftHost, // no consumer is placed on n1 here: no group is opened
    self: "n1",
    clusterName: "C",
    sysBus: {
      subscribe: () => 0,
      unsubscribe: () => {},
      publish: (subject, payload) => {
        const cmd = decodeCmd(payload);
        if (subject.startsWith("$JSC.CPROP.") && !(cmd instanceof Error)) cprop.push(cmd);
      },
    },
    random: () => 0.5,
    now: () => now,
    openStorage: () => {
      throw new Error("no consumer group is opened on n1 here");
    },
    dropStorage: () => {},
    replicas: new Map([["S", replica]]),
    assignment: () => undefined,
    stepDown: () => {},
    online: () => true,
    activeNs: () => 0,
    respond: (reply, body) => {
      if (reply) engine.bus.publish(reply, enc.encode(JSON.stringify(body)));
    },
    passOn: (_stream, m) => void passedOn.push(m),
  });
  const groups = cg;
  const cluster: EngineCluster = {
    // Consumer requests the way the controller routes them once the stream's leader is ready.
    api: (m) => {
      const op = m.subject.slice(API.length).split(".");
      return op[0] === "CONSUMER" && groups.api(m, op, replica);
    },
    publish: () => {},
    consumerChanged: (c) => groups.changed(c),
    consumerDeleted: (c) => groups.deleted(c),
    answerCreate: (c, m, answer) => groups.answerCreate(c, m, answer),
    consumerUpdate: (c, cfg) => groups.update(c, cfg),
    deleteOnCommit: (c, answer) => groups.deleteOnCommit(c, answer),
    consumerState: () => {},
    streamCluster: () => ({}),
  };
  engine.cluster = cluster;
  /** An API request to n1's engine. */
  const request = (subject: string, reply: string, body: unknown, forwarded = false) =>
    engine.apiRequest({ subject: API + subject, reply, payload: enc.encode(JSON.stringify(body)), forwarded });
  /** The answers n1 sent to `reply`. */
  const answersTo = (reply: string) => h.answers.filter((a) => a.subject === reply).map((a) => a.body);
  /** `ms` later, one tick of the host. */
  const tick = (ms: number) => {
    now += ms;
    groups.tick();
  };
  /** Consumer `name` assigned (committed) on n2 only: n1 holds its record and no replica of it. */
  const assignedOnN2 = (name: string, group: string) => {
    const from = h.log.length + 1;
    replica.propose({ op: "cadd", name, config: { durable_name: name, ack_policy: "explicit" } as never, created: "", group, peers: ["n2"] }, undefined);
    h.flush();
    h.commitAll(from);
    assert.equal(replica.consumers.get(name)?.group, group);
  };
  /** Entry `index` of term `term` applied here: a no-op of a new leader, or its command. */
  const applyAt = (index: number, term: number, cmd?: GroupCmd) =>
    replica.apply(cmd ? { index, term, kind: "cmd", data: encodeCmd(cmd) } : { index, term, kind: "noop", data: new Uint8Array(0) });
  return { ...h, groups, cprop, passedOn, request, answersTo, tick, assignedOnN2, applyAt };
}

describe("a replicated consumer's changes that cannot commit", () => {
  before(async () => {
    await loadJsSchemas();
  });

  it("a delete whose removal cannot commit for 30 s is answered with a 503 to retry, the consumer still there", () => {
    const t = n1();
    t.assignedOnN2("d", "G1");
    // The copy that runs it (its replica on n1 is left out of this harness: a paused copy is not reaped).
    const c = t.engine.attachConsumer("S", { durable_name: "d", name: "d", ack_policy: "explicit" } as never, "")!;
    c.paused = true;
    t.request("CONSUMER.DELETE.S.d", "r.del", {});
    t.flush(); // the removal proposed at n1's log, not committed
    assert.deepEqual(t.answersTo("r.del"), [], "answered before its removal committed");
    t.loseTo(null, 2); // no leader from here on
    for (let i = 1; i <= 14; i++) t.tick(2_000);
    assert.deepEqual(t.answersTo("r.del"), [], "given up before 15 proposals");
    t.tick(2_000);
    const [answer] = t.answersTo("r.del") as Array<{ error?: { code: number; err_code: number } }>;
    assert.equal(answer?.error?.code, 503, "the delete given up is answered with an error to retry");
    assert.equal(answer.error.err_code, 10008);
    assert.equal(t.engine.consumers.get("S")?.get("d"), c, "the consumer is still there");
    assert.equal(t.replica.consumers.get("d")?.group, "G1", "and still assigned");
    t.tick(2_000);
    assert.equal(t.answersTo("r.del").length, 1, "answered once");
  });

  it("an inactive consumer's removal lost with the stream's leadership is proposed again until applied", () => {
    const t = n1();
    t.assignedOnN2("e", "G2");
    const c = t.engine.attachConsumer("S", { durable_name: "e", name: "e", ack_policy: "explicit" } as never, "")!;
    t.engine.remove(c); // its inactivity threshold passed, nobody waiting
    t.flush();
    const at = t.log.length;
    assert.deepEqual(decodeCmd(t.log[at - 1].data), { op: "cdel", name: "e", group: "G2" });
    // n2 leads from term 2; its no-op replaces the removal at that index.
    t.loseTo("n2", 2);
    t.applyAt(at, 2);
    assert.equal(t.replica.consumers.get("e")?.group, "G2", "the removal was lost");
    t.tick(1_000);
    assert.deepEqual(t.cprop, [], "not proposed again before the retry interval");
    t.tick(1_000);
    assert.deepEqual(t.cprop, [{ op: "cdel", name: "e", group: "G2" }], "proposed again, to the leader then");
    // Past the tries a delete asked by a client gets: still proposed.
    for (let i = 0; i < 20; i++) t.tick(2_000);
    assert.equal(t.cprop.length, 21);
    t.applyAt(at + 1, 2, { op: "cdel", name: "e", group: "G2" });
    assert.equal(t.replica.consumers.has("e"), false);
    t.tick(2_000);
    t.tick(2_000);
    assert.equal(t.cprop.length, 21, "not proposed once applied");
  });

  it("a create that came passed on and whose assignment is lost again is answered with a 503 to retry", async () => {
    const t = n1();
    const cfg = { stream_name: "S", config: { durable_name: "p", ack_policy: "explicit" } };
    t.request("CONSUMER.DURABLE.CREATE.S.p", "r.fwd", cfg, true); // passed on by the old leader
    t.request("CONSUMER.DURABLE.CREATE.S.p", "r.direct", cfg); // the same asked directly meanwhile
    t.flush();
    const at = t.log.length;
    assert.equal((decodeCmd(t.log[at - 1].data) as { op: string }).op, "cadd");
    assert.deepEqual([t.answersTo("r.fwd"), t.answersTo("r.direct")], [[], []], "answered before the assignment committed");
    t.loseTo("n2", 2);
    t.applyAt(at, 2); // the assignment replaced
    await Promise.resolve();
    const [answer] = t.answersTo("r.fwd") as Array<{ error?: { code: number; err_code: number } }>;
    assert.equal(answer?.error?.code, 503, "the passed-on create lost again is answered with an error to retry");
    assert.equal(answer.error.err_code, 10008);
    assert.deepEqual(t.answersTo("r.direct"), [], "the direct one is not answered here");
    assert.deepEqual(t.passedOn.map((m) => m.reply), ["r.direct"], "it goes to the next leader");
    assert.equal(t.engine.consumers.get("S")?.has("p"), false, "the paused copy is gone");
  });

  it("consumer info of a consumer whose assignment is on its way is 'consumer not found' until applied, and it is not counted", () => {
    const t = n1();
    t.request("CONSUMER.DURABLE.CREATE.S.q", "r.create", { stream_name: "S", config: { durable_name: "q", ack_policy: "explicit" } });
    t.flush();
    t.request("CONSUMER.INFO.S.q", "r.info1", {});
    const [before] = t.answersTo("r.info1") as Array<{ error?: { code: number; err_code: number } }>;
    assert.equal(before?.error?.err_code, 10014, "info answered from the paused copy before its assignment committed");
    assert.equal(before.error.code, 404);
    assert.equal(t.groups.count("S"), 0, "counted in the stream's consumers before its assignment committed");
    assert.equal(t.groups.hosted("S").size, 0, "shown in /jsz before its assignment committed");
    t.commitAll(t.log.length);
    assert.equal(t.groups.count("S"), 1);
    assert.equal((t.answersTo("r.create")[0] as { name?: string }).name, "q");
    t.request("CONSUMER.INFO.S.q", "r.info2", {});
    assert.equal((t.answersTo("r.info2")[0] as { name?: string }).name, "q", "assigned: its info");
  });
});
