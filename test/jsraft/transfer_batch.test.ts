// A stream leader's batch of publishes that a leadership transfer refuses (proposals wait while the transfer
// runs): it was dropped — no PubAck, its bytes never left the intake, and the sequences it took were skipped by
// the next publish if the transfer did not happen. Now it waits for the transfer's end and is proposed then
// (the leader's tick) while this server still leads; with the leadership gone it goes to the next leader with the
// rest (replaced_entry.test.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { JetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { StreamReplica } from "../../src/jetstream/cluster/stream_replica.ts";
import type { RaftGroup } from "../../src/raft/host.ts";
import type { Entry } from "../../src/raft/types.ts";
import type { JsBus } from "../../src/jetstream/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** n1 leading stream S; the Raft group is reduced to its leadership, a transfer flag and a log of proposals. */
function leader() {
  const answers: Array<{ subject: string; body: Record<string, unknown> }> = [];
  const bus: JsBus = {
    subscribe: () => 0,
    unsubscribe: () => {},
    publish: (subject, payload) => answers.push({ subject, body: JSON.parse(dec.decode(payload)) }),
  };
  const engine = new JetStream(bus, { server_name: "n1", now: () => 0 }, new MemoryStorage());
  const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], num_replicas: 3 });
  // The replica's batch flush, scheduled through this queue and run by `flush` (instead of a microtask).
  const scheduled: Array<() => void> = [];
  const flush = () => {
    for (const fn of scheduled.splice(0)) fn();
  };
  const replica = new StreamReplica(engine.createStream(cfg, new Date(0).toISOString()), {
    engine,
    self: "n1",
    now: () => 0,
    schedule: (fn) => void scheduled.push(fn),
  });
  const log: Entry[] = [{ index: 1, term: 1, kind: "noop", data: new Uint8Array(0) }];
  const node = { term: 1, transferring: false, log: { snapIndex: 0, lastIndex: () => log.length } };
  const group = {
    id: "g",
    leader: "n1",
    node,
    isLeader: () => true,
    proposeBatch(data: readonly Uint8Array[]) {
      if (node.transferring) return { ok: false, error: "transferring", leader: "n1" };
      for (const d of data) log.push({ index: log.length + 1, term: 1, kind: "cmd", data: d });
      return { ok: true, index: log.length, term: 1 };
    },
    snapshotAt: () => null,
  };
  replica.group = group as unknown as RaftGroup;
  replica.apply(log[0]); // the leader's no-op: ready
  const commitAll = (from: number) => {
    for (const e of log.slice(from - 1)) replica.apply(e);
  };
  return { replica, node, log, answers, commitAll, flush };
}

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
