// A stream's old leader with proposals whose fate is still open, and publishes it lost unproposed waiting behind
// them (StreamReplica.#deferred), gets a snapshot installed that covers those proposals' indices: the log that
// would have told their fate is gone. Each is settled by what can be known (the snapshot's term, the restored
// stream's dedupe window), its bytes leave the intake, and what waited for it goes on once the store caught up.
// Before, they stayed open for good: their clients never answered, the waiting publishes never sent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loneLeader } from "./lone_replica.ts";
import type { SyncBatch } from "../../src/jetstream/cluster/entries.ts";
import type { Snapshot } from "../../src/raft/types.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";

const enc = new TextEncoder();
const acks = <T extends { subject: string }>(answers: T[]) => answers.filter((a) => a.subject.startsWith("_INBOX."));
const withId = (id: string) => enc.encode(`NATS/1.0\r\nNats-Msg-Id: ${id}\r\n\r\n`);
const pub = (reply: string, text: string, id?: string): BusMsg => ({
  subject: "s.1",
  reply,
  payload: enc.encode(text),
  headers: id === undefined ? undefined : withId(id),
});

/** The lone leader, with its catch-up requests recorded (answered by the test through `onSyncBatch`). */
function leader() {
  const asked: Array<{ from: number; to: number }> = [];
  const h = loneLeader({ requestSync: (_g, from, to) => void asked.push({ from, to }) });
  /** The leader of `term` installs its snapshot at `index` (of an entry of `term`), holding messages 1..n. */
  const install = (index: number, term: number, msgs: Array<{ text: string; id?: string }>) => {
    const snap: Snapshot = {
      meta: { index, term, membership: { voters: ["n1", "n2", "n3"], observers: [] } },
      data: enc.encode(JSON.stringify({ lastSeq: msgs.length, firstSeq: 1, consumers: [] })),
    };
    h.replica.restore(snap);
    return () => {
      const from = asked.at(-1)?.from ?? 1;
      const batch: SyncBatch = {
        group: "g",
        from,
        next: msgs.length + 1,
        msgs: msgs.map((m, i) => ({
          op: "msg" as const,
          seq: i + 1,
          ts: 0,
          subject: "s.1",
          headers: m.id === undefined ? undefined : withId(m.id),
          data: enc.encode(m.text),
          restored: true,
        })),
      };
      h.replica.onSyncBatch(batch);
    };
  };
  return { ...h, install, asked };
}

describe("an old leader's open proposals under an installed snapshot", () => {
  it("are settled, their intake released, and what it lost unproposed goes on after the catch-up", () => {
    const { replica, flush, loseTo, sent, marks, answers, install, asked } = leader();
    replica.publish(pub("_INBOX.c.two", "two"));
    flush(); // index 2, term 1: open
    replica.publish(pub("_INBOX.c.three", "three")); // batched, lost unproposed: waits for two
    loseTo("n2", 2);
    assert.deepEqual(sent(), []);
    // n2 committed its own entries over index 2 and compacted: whose entry index 2 holds, the snapshot
    // (term 2 at index 4) does not say, and "two" has no Msg-Id to look up.
    const caughtUp = install(4, 2, [{ text: "x" }, { text: "y" }]);
    assert.equal(replica.inFlight, 0, "nothing of this server stays open under the snapshot");
    assert.equal(replica.backlog(), 0, "its bytes left the intake");
    assert.equal(asked.length, 1, "the store catches up");
    assert.deepEqual(sent(), [], "not before the store holds the takeover point");
    caughtUp();
    assert.equal(replica.stream.lastSequence, 2);
    // "two" dropped unanswered (as nats-server drops a lost proposal), "three" sent after the stream's last
    // sequence as it stands.
    assert.deepEqual(marks(), [["three", 0, 2]]);
    assert.deepEqual(acks(answers), []);
  });

  it("answers its own committed entries (the snapshot's term is theirs) with their sequences", () => {
    const { replica, flush, loseTo, marks, answers, install } = leader();
    replica.publish(pub("_INBOX.c.one", "one"));
    replica.publish(pub("_INBOX.c.two", "two"));
    flush(); // indices 2 and 3, term 1
    replica.publish(pub("_INBOX.c.three", "three"));
    loseTo("n2", 2);
    // n2 committed n1's entries: its snapshot ends at index 3, term 1.
    const caughtUp = install(3, 1, [{ text: "one" }, { text: "two" }]);
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.c.one", 1], ["_INBOX.c.two", 2]]);
    assert.equal(replica.inFlight, 0);
    caughtUp();
    assert.deepEqual(marks(), [["three", 0, 2]]);
  });

  it("answers a Msg-Id publish the restored stream holds, not one it does not; a replaced one goes again first", () => {
    const { replica, node, flush, loseTo, marks, answers, install } = leader();
    replica.publish(pub("_INBOX.c.a", "a", "id-a"));
    replica.publish(pub("_INBOX.c.b", "b", "id-b"));
    flush(); // indices 2 and 3, term 1
    // n1 led again in term 3 and proposed at index 4 before losing to n4 (term 4).
    node.term = 3;
    replica.publish(pub("_INBOX.c.c", "c"));
    flush(); // index 4, term 3
    replica.publish(pub("_INBOX.c.d", "d")); // unproposed
    loseTo("n4", 4);
    // n4's snapshot: index 4 holds an entry of term 2, so n1's term-3 entry there was replaced; indices 2 and 3
    // hold something committed by another leader: "a" is in the stream (its client's retry, say), "b" is not.
    const caughtUp = install(4, 2, [{ text: "z" }, { text: "a", id: "id-a" }]);
    assert.equal(replica.inFlight, 0);
    assert.equal(replica.backlog(), 0);
    assert.deepEqual(acks(answers), [], "the dedupe window is read once the store caught up");
    caughtUp();
    assert.deepEqual(acks(answers).map((x) => [x.subject, x.body.seq, x.body.duplicate]), [["_INBOX.c.a", 2, true]]);
    assert.deepEqual(marks(), [["c", 0, 2], ["d", 1, 2]]);
  });

  it("leaves a proposal after the snapshot open: its entry in the log that follows tells", () => {
    const { replica, log, flush, loseTo, marks, answers, install } = leader();
    replica.publish(pub("_INBOX.c.one", "one"));
    replica.publish(pub("_INBOX.c.two", "two"));
    flush(); // indices 2 and 3, term 1
    replica.publish(pub("_INBOX.c.three", "three"));
    loseTo("n2", 2);
    const caughtUp = install(2, 1, [{ text: "one" }]);
    assert.equal(replica.inFlight, 1, "index 3 is after the snapshot");
    caughtUp();
    assert.deepEqual(marks(), [], "three waits for two");
    replica.apply(log[2]); // n2 commits two at index 3, term 1
    assert.deepEqual(acks(answers).map((a) => [a.subject, a.body.seq]), [["_INBOX.c.one", 1], ["_INBOX.c.two", 2]]);
    assert.deepEqual(marks(), [["three", 0, 2]]);
  });

  // A delete of seq N (the API's message removal) of unknown fate: the restored store tells. N gone is what a
  // successful delete leaves (a sequence never comes back), N still there means the removal was not applied.
  // Before, both were dropped unanswered.
  it("answers a covered message removal whose sequence the restored stream no longer holds, not one it still holds", () => {
    const { replica, log, flush, loseTo, answers, asked } = leader();
    for (const t of ["one", "two", "three"]) replica.publish(pub(`_INBOX.c.${t}`, t));
    flush();
    for (const e of log.slice(1)) replica.apply(e); // indices 2-4: seqs 1-3 stored
    answers.length = 0;
    const removed: Array<[number, unknown]> = [];
    for (const seq of [1, 2]) replica.propose({ op: "remove", seqs: [seq] }, (n) => void removed.push([seq, n]));
    flush(); // indices 5 and 6, term 1: open
    loseTo("n2", 2);
    // n2's snapshot (index 6, term 2): seq 1 is gone (another removal, a retry of this one...), 2 and 3 are there.
    const snap: Snapshot = {
      meta: { index: 6, term: 2, membership: { voters: ["n1", "n2", "n3"], observers: [] } },
      data: enc.encode(JSON.stringify({ lastSeq: 3, firstSeq: 2, consumers: [] })),
    };
    replica.restore(snap);
    assert.equal(replica.inFlight, 0);
    assert.deepEqual(removed, [], "the store is read once it caught up");
    const batch: SyncBatch = {
      group: "g",
      from: asked.at(-1)!.from,
      next: 4,
      msgs: [2, 3].map((seq) => ({ op: "msg" as const, seq, ts: 0, subject: "s.1", headers: undefined, data: enc.encode(`m${seq}`), restored: true })),
    };
    replica.onSyncBatch(batch);
    assert.equal(replica.stream.has(1), false);
    assert.deepEqual(removed, [[1, 1]], "seq 1 answered as removed; seq 2, still stored, not at all");
  });
});
