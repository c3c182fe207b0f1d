// Creates on a cluster whose routes are held or slow (every route through a proxy; three Petrel servers).
//
// 1. A consumer created on a stream's leader that loses the leadership before the consumer's assignment commits.
// The leader's API answers the create at once and proposes the assignment through the stream's log; the
// consumer waits, paused, until a group runs it. With the leadership lost before the proposal committed (a
// step-down's transfer, an election under load), the proposal went with it and the consumer stayed paused on
// that server for good, answered "created" and never delivering — a mirror's or source's feed of it stopped
// (jsraft/mirror, after a leader change of the sourcing stream followed by one of its origin). The server that
// created it now proposes the assignment again, to the stream's leader, until the log has it. The stream's
// leader L is cut off one way: what it sends is held, what it receives is not. A client of a follower creates a
// durable consumer: L takes the request, creates the consumer and appends its assignment, which no follower
// sees; the followers elect one of themselves, whose log replaces L's entry. Then what L sent is let through
// (the create's answer among it).
//
// 2. A stream create answered while its subjects' interest is still on its way to another server: the requester
// publishing through that server next found no responders (jsraft/mirror under load: "no responders: 'ord2.x'"
// right after ORD2 was made). The answer now waits until every server of the cluster has read the RS+.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { LinkProxy } from "../helpers/link_proxy.ts";
import { waitFor } from "../helpers/servers.ts";
import { type ProxiedCluster, startProxiedCluster } from "./proxied_cluster.ts";

const N = 3;

describe("creates on a cluster whose routes are held or slow", () => {
  let cluster: ProxiedCluster | undefined;
  /** `dial[i][j]`: the proxy server i dials server j through. */
  const dial: LinkProxy[][] = [];
  const conns: NatsConnection[] = [];

  before(async () => {
    cluster = await startProxiedCluster(N, "creates");
    dial.push(...cluster.dial);
    for (const p of cluster.nodes) conns.push(await connect({ servers: p.clientUrl }));
    await waitFor("the meta group", () => jetstreamManager(conns[0], { timeout: 1000 }).then((m) => m.getAccountInfo()).catch(() => undefined), 20_000);
  });

  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await cluster?.close();
  });

  /** What server `from` sends server `to` (over either route between them) is held, or let through. */
  const holdSent = (from: number, to: number, on: boolean) => {
    const [a, b] = [dial[from][to], dial[to][from]];
    if (on) {
      a.hold("toTarget");
      b.hold("fromTarget");
    } else {
      a.release("toTarget");
      b.release("fromTarget");
    }
  };

  it("a consumer whose assignment was lost with its stream leader's leadership is proposed again through the next leader, runs, and delivers", { timeout: 60_000 }, async () => {
    const jsm0: JetStreamManager = await jetstreamManager(conns[0], { timeout: 2000 });
    await waitFor("an R3 stream", () => jsm0.streams.add({ name: "LATE", subjects: ["late.>"], num_replicas: 3 }).catch(() => undefined), 15_000);
    // Followers caught up, so that either may win the election below.
    const leaderName = await waitFor("its leader and caught-up followers", async () => {
      const c = (await jsm0.streams.info("LATE").catch(() => undefined))?.cluster;
      return c?.replicas?.length === 2 && c.replicas.every((r) => r.current && (r.lag ?? 0) === 0) ? c.leader : undefined;
    }, 15_000);
    const l = Number(leaderName.slice(1)) - 1;
    const [f, g] = [0, 1, 2].filter((i) => i !== l);

    for (const o of [f, g]) holdSent(l, o, true);
    // The create from a follower's client: L takes it (the followers leave it to their leader, L) and answers
    // into the held route; its assignment stays in L's log.
    // No API check (an account info the meta leader answers: it may be L).
    const jsmF = await jetstreamManager(conns[f], { timeout: 30_000, checkAPI: false });
    const created = jsmF.consumers.add("LATE", { durable_name: "late", ack_policy: AckPolicy.Explicit });
    // The followers stop hearing L and elect one of themselves; asked through the follower's server.
    const quickF = await jetstreamManager(conns[f], { timeout: 1000, checkAPI: false });
    const next = await waitFor("a leader among the followers", async () => {
      const c = (await quickF.streams.info("LATE").catch(() => undefined))?.cluster;
      return c?.leader !== undefined && c.leader !== leaderName ? c.leader : undefined;
    }, 20_000);
    for (const o of [f, g]) holdSent(l, o, false);
    const info = await created;
    assert.equal(info.name, "late");

    // A message after all that, published through the new leader's own server, and a pull from a client of the
    // old leader: on the old code the consumer stayed paused on L, the pull went unanswered.
    const js = jetstream(conns[Number(next.slice(1)) - 1]);
    await waitFor("a publish taken", () => js.publish("late.x", "after", { timeout: 2000 }).catch(() => undefined), 15_000);
    const consumer = await jetstream(conns[l]).consumers.get("LATE", "late");
    const m = await waitFor("the message delivered", () => consumer.next({ expires: 2000 }).catch(() => null).then((x) => x ?? undefined), 20_000);
    assert.equal(new TextDecoder().decode(m.data), "after");
    m.ack();
    // The assignment is in the stream's log: every server lists the consumer.
    for (const nc of conns) {
      const names = await waitFor("the consumer listed", async () => {
        const r = await nc.request("$JS.API.CONSUMER.NAMES.LATE", "", { timeout: 2000 }).catch(() => undefined);
        const n = (r?.json() as { consumers?: string[] } | undefined)?.consumers;
        return n && n.length > 0 ? n : undefined;
      }, 15_000);
      assert.deepEqual(names, ["late"]);
    }
  });
  it("a stream create is answered once every server heard of its subjects: the first publish through another finds its leader", { timeout: 60_000 }, async () => {
    // What the others send server x arrives 400 ms late; the requester is a client of y.
    const [x, y] = [2, 0];
    const slowInto = (ms: number) => {
      for (const o of [0, 1, 2]) {
        if (o === x) continue;
        dial[o][x].setDelays({ toTargetMs: ms });
        dial[x][o].setDelays({ fromTargetMs: ms });
      }
    };
    const jsmY = await jetstreamManager(conns[y], { timeout: 15_000, checkAPI: false });
    const jsX = jetstream(conns[x]);
    try {
      slowInto(400);
      // x is slow to hear votes too, so another server leads as a rule; a stream that x leads proves nothing
      // (it listens locally): another one then (bounded).
      let tried = 0;
      for (let i = 1; i <= 4 && tried === 0; i++) {
        const name = `FIRST${i}`;
        const info = await jsmY.streams.add({ name, subjects: [`first${i}.>`], num_replicas: 3 });
        if (info.cluster?.leader === `n${x + 1}`) continue;
        tried++;
        // At once, one try: on the old code "no responders" (x had neither the RS+ nor its own replica yet).
        const ack = await jsX.publish(`first${i}.a`, "one", { timeout: 5000, retries: 1 });
        assert.equal(ack.stream, name);
        assert.equal(ack.seq, 1);
      }
      assert.equal(tried, 1, "a stream led by another server than x");
    } finally {
      slowInto(0);
    }
  });
});
