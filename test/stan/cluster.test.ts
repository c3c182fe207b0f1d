// Clustered NATS Streaming: three Petrel servers joined by routes, each with `streaming { cluster { node_id,
// peers, log_path } }`. The official client (node-nats-streaming) publishes through one node and subscribes
// through another; only the Raft leader answers; the leader is stopped, a new one takes over, the same client
// connections go on publishing and receiving; no acknowledged message is lost or reordered; a durable resumes
// on a third connection; the stopped node restarts from its Raft log (a snapshot and the entries after it) and
// catches up.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import type { Petrel } from "../../src/petrel.ts";
import { startPetrel } from "../../mod.ts";
import { monitor, routeUrl, startNode, stopAll, waitForMesh } from "../cluster/helpers.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeStan, connectStan, endSub, publish, type Stan, subReady } from "./helpers.ts";
import { encode } from "../../src/stan/proto.ts";

const IDS = ["a", "b", "c"];

interface Serverz {
  state: string;
  role?: string;
  total_msgs: number;
  clients: number;
}

function serverz(p: Petrel): Promise<Serverz> {
  return monitor<Serverz>(p, "/streaming/serverz");
}

function clientUrl(p: Petrel): string {
  const u = p.ports().nats?.[0];
  if (u === undefined) throw new Error("no client listener");
  return u;
}

/** The one serving node among `nodes` (every other one a follower). */
async function waitLeader(nodes: Petrel[]): Promise<Petrel> {
  let leader: Petrel | undefined;
  await waitFor("one STAN leader", async () => {
    const roles = await Promise.all(nodes.map(async (n) => (await serverz(n)).role));
    const leaders = nodes.filter((_, i) => roles[i] === "Leader");
    leader = leaders.length === 1 ? leaders[0] : undefined;
    return leader !== undefined;
  }, 10_000);
  if (leader === undefined) throw new Error("no leader");
  return leader;
}

/** Unacknowledged messages of every subscription on `channel` as `node` holds them. */
async function pendingOn(node: Petrel, channel: string): Promise<number> {
  const ch = await monitor<{ subscriptions?: { pending_count: number }[] }>(node, `/streaming/channelsz?channel=${channel}&subs=1`);
  return (ch.subscriptions ?? []).reduce((n, s) => n + s.pending_count, 0);
}

describe("clustered NATS Streaming (three Petrel servers, Raft over routes)", () => {
  it("refuses to start without a cluster {} block for its routes", async () => {
    await assert.rejects(
      startPetrel({ options: { host: "127.0.0.1", port: -1, streaming: { cluster: { node_id: "a", peers: IDS, log_path: "" } } } }),
      /streaming\.cluster: .*needs a cluster \{\} block/,
    );
  });

  it("serves from the leader, fails over without losing an acknowledged message, restarts a node from its log", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-stanc-"));
    const nodes: (Petrel | undefined)[] = [];
    const clients: Stan[] = [];
    const streaming = (id: string) => ({
      streaming: {
        cluster_id: "stanc",
        store: "file" as const,
        dir: join(dir, id, "store"),
        // Snapshots every few entries: the restart below starts from one, and catches up through the leader's.
        cluster: { node_id: id, peers: IDS, log_path: join(dir, id, "raft"), compact_every: 5 },
      },
    });
    try {
      const a = await startNode({ name: "a", extra: streaming("a") });
      const b = await startNode({ name: "b", routes: [routeUrl(a)], extra: streaming("b") });
      const c = await startNode({ name: "c", routes: [routeUrl(a), routeUrl(b)], extra: streaming("c") });
      nodes.push(a, b, c);
      const live = () => nodes.filter((n): n is Petrel => n !== undefined);
      await waitForMesh(live());
      const leader = await waitLeader(live());
      assert.equal((await serverz(leader)).state, "CLUSTERED");
      const [f1, f2] = live().filter((n) => n !== leader);

      // Exactly one node answers a request (followers stay silent): count raw answers to a malformed connect.
      const nc = await connect({ servers: clientUrl(f1) });
      let answers = 0;
      nc.subscribe("_INBOX.count.>", { callback: () => void answers++ });
      const bad = encode("ConnectRequest", { clientID: "", heartbeatInbox: "", protocol: 1, connID: new Uint8Array(0), pingInterval: 5, pingMaxOut: 3 });
      nc.publish("_STAN.discover.stanc", bad, { reply: "_INBOX.count.1" });
      // The marker: a second request answered after the first means every answer to the first is in.
      await nc.request("_STAN.discover.stanc", bad, { timeout: 5000 });
      await nc.flush();
      assert.equal(answers, 1, "one answer to a discover request");
      await nc.close();

      // A publisher on one follower, a durable subscriber on the other.
      const pub = await connectStan(clientUrl(f1), "pub", {}, "stanc");
      clients.push(pub);
      const subc = await connectStan(clientUrl(f2), "sub", {}, "stanc");
      clients.push(subc);
      const opts = subc.subscriptionOptions().setDeliverAllAvailable().setDurableName("dur").setManualAckMode(true).setAckWait(2_000);
      const inbox = await subReady(subc, "orders", opts);
      // A queue group with a member on each follower's connection: each message goes to one of them.
      const qopts = (sc: Stan) => sc.subscriptionOptions().setDeliverAllAvailable().setManualAckMode(true).setAckWait(2_000);
      const q1 = await subReady(pub, "orders", qopts(pub), "workers");
      const q2 = await subReady(subc, "orders", qopts(subc), "workers");
      const firstTimes = new Map<number, number>();
      for (const q of [q1, q2]) {
        q.sub.on("message", (m: { getSequence(): number; isRedelivered(): boolean; ack(): void }) => {
          if (!m.isRedelivered()) firstTimes.set(m.getSequence(), (firstTimes.get(m.getSequence()) ?? 0) + 1);
          m.ack();
        });
      }
      for (let i = 1; i <= 5; i++) await publish(pub, "orders", `m${i}`);
      const first = await inbox.next(5);
      assert.deepEqual(first.map((m) => [m.seq, m.data]), [[1, "m1"], [2, "m2"], [3, "m3"], [4, "m4"], [5, "m5"]]);
      for (const m of first) m.msg.ack();
      // Every node applied the five messages.
      await waitFor("followers hold the messages", async () => (await serverz(f1)).total_msgs === 5 && (await serverz(f2)).total_msgs === 5);
      // ... and the acks (an ack the leader takes with it is a redelivery later, which is STAN's at-least-once).
      await waitFor("followers hold the acks", async () => (await pendingOn(f1, "orders")) === 0 && (await pendingOn(f2, "orders")) === 0);

      // The leader goes away; a follower takes over; the same connections go on.
      const gone = nodes.indexOf(leader);
      await leader.stop();
      nodes[gone] = undefined;
      const next = await waitLeader([f1, f2]);
      for (let i = 6; i <= 10; i++) await publish(pub, "orders", `m${i}`);
      const more = await inbox.next(5);
      // Redeliveries of messages whose acks the old leader had not replicated may come first: skip those.
      const fresh = [...more.filter((m) => !m.redelivered)];
      while (fresh.length < 5) fresh.push(...(await inbox.next(1)).filter((m) => !m.redelivered));
      assert.deepEqual(fresh.map((m) => [m.seq, m.data]), [[6, "m6"], [7, "m7"], [8, "m8"], [9, "m9"], [10, "m10"]]);
      for (const m of [...more, ...fresh]) m.msg.ack();
      // The queue group got every message, each one first delivered to exactly one member (a redelivery after
      // the fail-over is flagged).
      await waitFor("the queue group got all ten", () => firstTimes.size === 10 || [...firstTimes.values()].some((n) => n > 1));
      assert.deepEqual([...firstTimes.entries()].sort((x, y) => x[0] - y[0]), Array.from({ length: 10 }, (_, i) => [i + 1, 1]));

      // The durable is closed and resumed by the same client ID through the new leader's node.
      await endSub(inbox, "close");
      await closeStan(subc);
      clients.splice(clients.indexOf(subc), 1);
      await publish(pub, "orders", "m11");
      const again = await connectStan(clientUrl(next), "sub", {}, "stanc");
      clients.push(again);
      const resumed = await subReady(again, "orders", again.subscriptionOptions().setDurableName("dur").setManualAckMode(true));
      const [m11] = (await resumed.next(1));
      assert.deepEqual([m11.seq, m11.data, m11.redelivered], [11, "m11", false]);

      // The stopped node restarts from its Raft log and catches up with the messages it missed.
      const back = await startNode({ name: IDS[gone], routes: [routeUrl(f1), routeUrl(f2)], extra: streaming(IDS[gone]) });
      nodes[gone] = back;
      await waitFor("the restarted node caught up", async () => (await serverz(back)).total_msgs === 11, 10_000);
      assert.equal((await serverz(back)).role, "Follower");
      await publish(pub, "orders", "m12");
      await waitFor("and follows on", async () => (await serverz(back)).total_msgs === 12);

      // As a follower it took snapshots: stopped and restarted again, it starts from its last one.
      await back.stop();
      nodes[gone] = undefined;
      await publish(pub, "orders", "m13");
      const again2 = await startNode({ name: IDS[gone], routes: [routeUrl(f1), routeUrl(f2)], extra: streaming(IDS[gone]) });
      nodes[gone] = again2;
      await waitFor("the node restarted from its snapshot caught up", async () => (await serverz(again2)).total_msgs === 13, 10_000);
      const ch = await monitor<{ last_seq: number; subscriptions?: { last_sent: number }[] }>(again2, "/streaming/channelsz?channel=orders&subs=1");
      assert.equal(ch.last_seq, 13);
      assert.deepEqual(ch.subscriptions?.map((x) => x.last_sent), [13, 13], "the durable's and the queue group's positions came back with the snapshot");
    } finally {
      await Promise.all(clients.map((sc) => closeStan(sc).catch(() => {})));
      await stopAll(nodes);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
