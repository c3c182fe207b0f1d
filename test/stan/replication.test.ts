// Clustered STAN's state machine with the Raft log in the test's hands (which entries commit, who leads):
// a follower fed the committed entries holds what the leader holds; a leader that loses its leadership with
// changes that never committed rebuilds its state from the committed entries alone; entries are checked.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { subjectMatches } from "../../src/subjects/subject.ts";
import { streamingOptions } from "../../src/config/streaming.ts";
import { type StanBus, StanServer } from "../../src/stan/server.ts";
import { decode, encode } from "../../src/stan/proto.ts";
import { decodeStanEntry, encodeStanEntry } from "../../src/stan/replication.ts";
import type { Entry } from "../../src/raft/types.ts";
import { loadJsSchemas } from "../../src/jetstream/schemas_on_demand.ts";

// The STAN server is built here directly, not through its extension: the JetStream schemas its channels are
// validated with load first, as the extension does before STAN opens channels.
await loadJsSchemas();

type Handler = (m: { subject: string; reply?: string; payload: Uint8Array }) => void;

/** One node: its server, what it sent, what it proposed, and the entries it applied. */
function node(clock: ManualClock, compactEvery = 0, nextIndex = () => 1) {
  const subs: Array<[string, Handler]> = [];
  const out: Array<{ subject: string; payload: Uint8Array }> = [];
  const bus: StanBus = {
    subscribe: (s, h) => subs.push([s, h]),
    publish: (subject, payload) => out.push({ subject, payload }),
    close: () => undefined,
  };
  const proposed: Uint8Array[] = [];
  let applied: Entry[] = [];
  const snaps: Array<{ index: number; data: Uint8Array }> = [];
  const opts = streamingOptions({ cluster_id: "c", cluster: { node_id: "x", peers: ["x", "y", "z"], log_path: "" } });
  const stan = new StanServer(opts, {
    bus,
    storage: new MemoryStorage(),
    clock,
    replication: {
      propose: (d) => {
        proposed.push(d);
        return nextIndex() + proposed.length - 1;
      },
      applied: () => applied,
      snapshot: () => snaps[snaps.length - 1]?.data,
      compact: (index, data) => {
        snaps.push({ index, data });
        applied = applied.filter((e) => e.index > index);
      },
      compactEvery,
    },
  });
  stan.start();
  const deliver = (subject: string, payload: Uint8Array, reply?: string) => {
    for (const [s, h] of subs) if (subjectMatches(subject, s)) h({ subject, payload, reply });
  };
  const apply = (e: Entry) => {
    applied.push(e);
    stan.applyEntry(e);
  };
  return { stan, out, proposed, apply, deliver, snaps };
}

function entry(index: number, data: Uint8Array): Entry {
  return { index, term: 1, kind: "cmd", data };
}

describe("clustered STAN state machine", () => {
  test("a follower holds what the leader holds; a deposed leader drops what never committed", () => {
    const clock = new ManualClock();
    const x = node(clock);
    const y = node(clock);
    const log: Entry[] = [];
    /** Commits everything x proposed so far, on both nodes. */
    const commit = () => {
      for (const d of x.proposed.splice(0)) {
        const e = entry(log.length + 1, d);
        log.push(e);
        x.apply(e);
        y.apply(e);
      }
    };

    x.stan.leaderChanged(true);
    assert.equal(x.stan.serving, false, "not serving before its barrier is applied");
    commit();
    assert.equal(x.stan.serving, true);
    assert.equal(y.stan.serving, false);

    // A request to the follower goes unanswered.
    const conn = encode("ConnectRequest", { clientID: "app", heartbeatInbox: "hb", protocol: 1, connID: new Uint8Array([1]), pingInterval: 5, pingMaxOut: 3 });
    y.deliver("_STAN.discover.c", conn, "r.y");
    assert.equal(y.out.length, 0, "followers stay silent");
    x.deliver("_STAN.discover.c", conn, "r.x");
    const cr = decode("ConnectResponse", x.out.find((o) => o.subject === "r.x")?.payload ?? new Uint8Array());
    assert.ok(cr.ok && cr.value.pubPrefix !== undefined);
    commit();
    assert.deepEqual([...y.stan.clients.keys()], ["app"]);

    // A publish is acknowledged only once committed.
    const pub = encode("PubMsg", { clientID: "app", guid: "g1", subject: "foo", reply: "", data: new Uint8Array([7]), connID: new Uint8Array([1]) });
    x.deliver(`${cr.ok ? cr.value.pubPrefix : ""}.foo`, pub, "ack.1");
    assert.equal(x.out.filter((o) => o.subject === "ack.1").length, 0, "no PubAck before the commit");
    commit();
    assert.equal(x.out.filter((o) => o.subject === "ack.1").length, 1, "PubAck once committed");
    assert.equal(y.stan.channels.get("foo")?.stream.lastSequence, 1);

    // A subscription, committed: the follower has the group and the delivered message as unacknowledged.
    const sub = (inbox: string) =>
      encode("SubscriptionRequest", {
        clientID: "app",
        subject: "foo",
        qGroup: "",
        inbox,
        maxInFlight: 10,
        ackWaitInSecs: 30,
        durableName: "",
        startPosition: 4,
        startSequence: 0,
        startTimeDelta: 0,
      });
    x.deliver(cr.ok ? cr.value.subRequests ?? "" : "", sub("in.1"), "s.1");
    assert.equal(x.out.filter((o) => o.subject === "in.1").length, 1, "the stored message delivered");
    commit();
    const pendingOf = (n: ReturnType<typeof node>) => [...(n.stan.channels.get("foo")?.groups.values() ?? [])].map((g) => g.members.map((m) => [...m.pending.keys()]));
    assert.deepEqual(pendingOf(y), [[[1]]]);
    assert.deepEqual(pendingOf(y), pendingOf(x));

    // A second subscription the leader applied first, then it is deposed before that entry commits.
    x.deliver(cr.ok ? cr.value.subRequests ?? "" : "", sub("in.2"), "s.2");
    assert.equal(x.stan.channels.get("foo")?.groups.size, 2);
    x.proposed.splice(0);
    x.stan.leaderChanged(false);
    assert.equal(x.stan.serving, false);
    assert.equal(x.stan.channels.get("foo")?.groups.size, 1, "the uncommitted subscription is gone");
    assert.deepEqual(pendingOf(x), pendingOf(y));
    assert.deepEqual([...x.stan.clients.keys()], ["app"]);
    assert.equal(x.stan.channels.get("foo")?.stream.lastSequence, 1);

    // Leadership moves to y: it serves once its own barrier is applied, and x follows it.
    y.stan.leaderChanged(true);
    for (const d of y.proposed.splice(0)) {
      const e = entry(log.length + 1, d);
      log.push(e);
      x.apply(e);
      y.apply(e);
    }
    assert.equal(y.stan.serving, true);
    assert.equal(x.stan.serving, false);
    // The message x logged as sent and nobody acknowledged goes out from y at once, flagged (x may have died with
    // it still in its socket), not one ack wait (30 s) later behind newer messages; the clock has not moved.
    const again = y.out.filter((o) => o.subject === "in.1").map((o) => decode("MsgProto", o.payload));
    assert.equal(again.length, 1, "the new leader sends the unacknowledged message again at once");
    const m = again[0];
    assert.ok(m.ok && m.value.sequence === 1 && m.value.redelivered === true, "sequence 1, flagged redelivered");
  });

  test("followers compact their log into snapshots; a node restored from one holds the same state", () => {
    const clock = new ManualClock();
    const log: Entry[] = [];
    const x = node(clock, 4, () => log.length + 1);
    const y = node(clock, 4);
    /** Commits x's proposals one by one (and those it makes while applying them). */
    const commit = () => {
      for (let d = x.proposed.shift(); d !== undefined; d = x.proposed.shift()) {
        const e = entry(log.length + 1, d);
        log.push(e);
        x.apply(e);
        y.apply(e);
      }
    };
    x.stan.leaderChanged(true);
    commit();
    const conn = encode("ConnectRequest", { clientID: "app", heartbeatInbox: "hb", protocol: 1, connID: new Uint8Array([1]), pingInterval: 5, pingMaxOut: 3 });
    x.deliver("_STAN.discover.c", conn, "r.x");
    commit();
    const cr = decode("ConnectResponse", x.out.find((o) => o.subject === "r.x")?.payload ?? new Uint8Array());
    assert.ok(cr.ok);
    const subReq = encode("SubscriptionRequest", {
      clientID: "app",
      subject: "foo",
      qGroup: "",
      inbox: "in.d",
      maxInFlight: 2,
      ackWaitInSecs: 30,
      durableName: "dur",
      startPosition: 4,
      startSequence: 0,
      startTimeDelta: 0,
    });
    x.deliver(cr.value.subRequests ?? "", subReq, "s.1");
    commit();
    for (let i = 1; i <= 7; i++) {
      const pub = encode("PubMsg", { clientID: "app", guid: `g${i}`, subject: "foo", reply: i === 3 ? "rep" : "", data: new Uint8Array([i]), connID: new Uint8Array([1]) });
      x.deliver(`${cr.value.pubPrefix}.foo`, pub, `ack.${i}`);
      commit();
      commit();
    }
    assert.ok(y.snaps.length >= 2, `the follower compacted (${y.snaps.length} snapshots)`);
    // The leader snapshots only where everything it applied first is in the log: then it holds what y holds.
    assert.ok(x.snaps.length >= 1, "the leader compacted too");
    for (const xs of x.snaps) {
      const ys = y.snaps.find((s) => s.index === xs.index);
      if (ys) assert.deepEqual(xs.data, ys.data, `snapshots at ${xs.index} are the same`);
    }

    // Nodes that start from the follower's or the leader's last snapshot and the entries after it.
    const fromSnapshot = (snaps: Array<{ index: number; data: Uint8Array }>) => {
      const n = node(clock);
      const last = snaps[snaps.length - 1];
      n.stan.restoreSnapshot(last.data);
      for (const e of log.filter((e) => e.index > last.index)) n.apply(e);
      return n;
    };
    const z = fromSnapshot(y.snaps);
    const w = fromSnapshot(x.snaps);
    const view = (n: ReturnType<typeof node>) => {
      const ch = n.stan.channels.get("foo");
      return {
        clients: [...n.stan.clients.keys()],
        last: ch?.stream.lastSequence,
        msgs: ch?.stream.state().messages,
        reply: ch?.stream.load(3)?.headers !== undefined,
        groups: ch?.savedGroups(),
      };
    };
    assert.deepEqual(view(z), view(y));
    assert.deepEqual(view(w), view(y));
    assert.deepEqual(view(y), view(x));
    assert.equal(view(z).last, 7);
    assert.deepEqual(view(z).groups?.[0].members[0].pending, [[1, 2]], "max_inflight 2: two unacknowledged");
  });

  test("entries round-trip and damaged ones are errors", () => {
    const pub = { op: "pub" as const, origin: "o", ch: "foo", ts: 5, guid: "g", ack: "a", data: new Uint8Array([1, 2, 3]) };
    const back = decodeStanEntry(encodeStanEntry(pub));
    assert.ok(!(back instanceof Error));
    assert.deepEqual(back, pub);
    assert.ok(decodeStanEntry(new Uint8Array([0, 0])) instanceof Error);
    assert.ok(decodeStanEntry(new Uint8Array([0, 0, 0, 9, 1])) instanceof Error);
    const bad = new TextEncoder().encode('{"op":"nope","origin":"o"}');
    const framed = new Uint8Array(4 + bad.length);
    new DataView(framed.buffer).setUint32(0, bad.length);
    framed.set(bad, 4);
    assert.ok(decodeStanEntry(framed) instanceof Error);
  });
});
