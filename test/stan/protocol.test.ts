// NATS Streaming served by Petrel, through the official Node client (node-nats-streaming): every start
// position, durables across client restarts, unsubscribe vs close, queue groups, redelivery after ack_wait,
// max_inflight, and the protocol's errors.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { closeStan, connectStan, endSub, publish, subReady, subscribe } from "./helpers.ts";

describe("STAN protocol (node-nats-streaming against Petrel)", () => {
  let s: RunningServer;
  before(async () => {
    s = await startServer("petrel", { conf: `streaming { cluster_id: "test-cluster" }` });
  });
  after(async () => {
    await s.stop();
  });

  test("publish and subscribe with every start position", async () => {
    const sc = await connectStan(s.url, "starts");
    try {
      await publish(sc, "starts", "m1");
      await publish(sc, "starts", "m2");
      const firstTwo = await subReady(sc, "starts", sc.subscriptionOptions().setDeliverAllAvailable());
      const [, m2] = await firstTwo.next(2);
      // A start time between m2 and m3: the client sends it as a delta from its clock and the server subtracts
      // it from its own when the request arrives, so leave room for the request's travel (a condition, polled).
      while (Date.now() <= m2.time + 200) await new Promise((r) => setTimeout(r, 5));
      await publish(sc, "starts", "m3");
      await publish(sc, "starts", "m4");
      const [m3] = await firstTwo.next(2);
      assert.ok(m3.time > m2.time);

      const all = await subReady(sc, "starts", sc.subscriptionOptions().setDeliverAllAvailable());
      assert.deepEqual((await all.next(4)).map((m) => [m.seq, m.data]), [[1, "m1"], [2, "m2"], [3, "m3"], [4, "m4"]]);

      const last = await subReady(sc, "starts", sc.subscriptionOptions().setStartWithLastReceived());
      assert.deepEqual((await last.next(1)).map((m) => m.data), ["m4"]);

      const atSeq = await subReady(sc, "starts", sc.subscriptionOptions().setStartAtSequence(2));
      assert.deepEqual((await atSeq.next(3)).map((m) => m.seq), [2, 3, 4]);

      const atTime = await subReady(sc, "starts", sc.subscriptionOptions().setStartTime(new Date(m2.time + 20)));
      assert.deepEqual((await atTime.next(2)).map((m) => m.data), ["m3", "m4"]);

      const delta = await subReady(sc, "starts", sc.subscriptionOptions().setStartAtTimeDelta(3_600_000));
      assert.deepEqual((await delta.next(4)).map((m) => m.seq), [1, 2, 3, 4]);

      const newOnly = await subReady(sc, "starts");
      await publish(sc, "starts", "m5");
      // Everyone gets m5; new-only got nothing before it.
      assert.deepEqual((await newOnly.next(1)).map((m) => [m.seq, m.data]), [[5, "m5"]]);
      for (const inbox of [last, atSeq, atTime, delta, all]) assert.equal((await inbox.next(1))[0].seq, 5);
      for (const inbox of [newOnly, last, atSeq, atTime, delta, all]) assert.equal(inbox.unread, 0);
      assert.ok(all.all.every((m) => !m.redelivered));
    } finally {
      await closeStan(sc);
    }
  });

  test("a durable resumes after its client restarts; unsubscribe forgets it, close keeps it", async () => {
    const durable = () => sc.subscriptionOptions().setDeliverAllAvailable().setDurableName("dur").setManualAckMode(true);
    let sc = await connectStan(s.url, "dur-client");
    const pub = await connectStan(s.url, "dur-pub");
    try {
      for (let i = 1; i <= 3; i++) await publish(pub, "dur", `d${i}`);
      let inbox = await subReady(sc, "dur", durable());
      for (const m of await inbox.next(3)) m.msg.ack();
      // The acks go before the close on the same connection; the client ends (the durable stays).
      await closeStan(sc);
      for (let i = 4; i <= 5; i++) await publish(pub, "dur", `d${i}`);

      sc = await connectStan(s.url, "dur-client");
      inbox = await subReady(sc, "dur", durable());
      const resumed = await inbox.next(2);
      assert.deepEqual(resumed.map((m) => m.data), ["d4", "d5"]);
      for (const m of resumed) m.msg.ack();

      // Same durable twice on one client: refused.
      const dup = subscribe(sc, "dur", durable());
      assert.equal((await dup.failed).message, "stan: duplicate durable registration");

      // Close keeps the position.
      await endSub(inbox, "close");
      await publish(pub, "dur", "d6");
      inbox = await subReady(sc, "dur", durable());
      const [d6] = await inbox.next(1);
      assert.equal(d6.data, "d6");
      d6.msg.ack();

      // Unsubscribe removes the durable: the next one starts from its start position again.
      await endSub(inbox, "unsubscribe");
      inbox = await subReady(sc, "dur", durable());
      assert.deepEqual((await inbox.next(6)).map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
    } finally {
      await closeStan(sc);
      await closeStan(pub);
    }
  });

  test("queue groups: every message to exactly one member; a durable queue group keeps its position", async () => {
    const a = await connectStan(s.url, "q-a");
    const b = await connectStan(s.url, "q-b");
    try {
      const qa = await subReady(a, "work", a.subscriptionOptions(), "workers");
      const qb = await subReady(b, "work", b.subscriptionOptions(), "workers");
      // A plain subscriber on the same channel is the marker: it sees every message after the group got it.
      const all = await subReady(a, "work", a.subscriptionOptions());
      const n = 20;
      for (let i = 1; i <= n; i++) await publish(b, "work", `w${i}`);
      await all.next(n);
      // b's deliveries travel on another connection: wait for the total.
      while (qa.all.length + qb.all.length < n) await qb.next(1);
      const seqs = [...qa.all, ...qb.all].map((m) => m.seq).sort((x, y) => x - y);
      assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1));
      assert.ok(qa.all.length > 0 && qb.all.length > 0, "both members get messages");

      // Durable queue group: closed by its last member, resumed where it stopped.
      const dq = () => a.subscriptionOptions().setDeliverAllAvailable().setDurableName("dq");
      let g = await subReady(a, "work", dq(), "dqg");
      assert.equal((await g.next(n)).length, n);
      await endSub(g, "close");
      await publish(b, "work", "after");
      g = await subReady(a, "work", dq(), "dqg");
      assert.deepEqual((await g.next(1)).map((m) => m.data), ["after"]);
    } finally {
      await closeStan(a);
      await closeStan(b);
    }
  });

  test("redelivery after ack_wait carries the redelivered flag; max_inflight holds messages back", async () => {
    const sc = await connectStan(s.url, "redeliver");
    try {
      const opts = sc.subscriptionOptions().setManualAckMode(true).setAckWait(1000).setMaxInFlight(2)
        .setDeliverAllAvailable();
      const limited = await subReady(sc, "rd", opts);
      const marker = await subReady(sc, "rd", sc.subscriptionOptions().setDeliverAllAvailable());
      for (let i = 1; i <= 4; i++) await publish(sc, "rd", `r${i}`);
      const first = await limited.next(2);
      assert.deepEqual(first.map((m) => [m.seq, m.redelivered]), [[1, false], [2, false]]);
      // The marker subscriber (same connection, served after it) has all four: nothing more came to the
      // limited one, two messages are in flight.
      await marker.next(4);
      assert.equal(limited.unread, 0);

      // Not acknowledged within ack_wait: both come again, flagged.
      const again = await limited.next(2);
      assert.deepEqual(again.map((m) => [m.seq, m.redelivered, m.count]), [[1, true, 1], [2, true, 1]]);
      again[0].msg.ack();
      const [third] = await limited.next(1);
      assert.deepEqual([third.seq, third.redelivered], [3, false]);
      again[1].msg.ack();
      third.msg.ack();
      const [fourth] = await limited.next(1);
      assert.deepEqual([fourth.seq, fourth.redelivered], [4, false]);
      fourth.msg.ack();
    } finally {
      await closeStan(sc);
    }
  });

  test("errors: duplicate client ID while alive, unknown cluster ID, bad subject", async () => {
    const sc = await connectStan(s.url, "dup-id");
    try {
      await assert.rejects(connectStan(s.url, "dup-id"), /stan: clientID already registered/);
      await assert.rejects(connectStan(s.url, "bad.id"), /stan: invalid clientID/);
      await assert.rejects(
        connectStan(s.url, "other", { connectTimeout: 300 }, "no-such-cluster"),
        /stan: connect request timeout/,
      );
      const bad = subscribe(sc, "foo.*");
      assert.equal((await bad.failed).message, "stan: invalid subject");
      await assert.rejects(publish(sc, "foo..bar", "x"), /stan: invalid publish request/);
      // Still serving.
      await publish(sc, "still", "ok");
    } finally {
      await closeStan(sc);
    }
  });
});
