// Replica count changes through a stream update: R1 → R3 → R5 → R3 → R1 on five servers with publishes in
// between, every acknowledged message on every replica of each step; scaling past the cluster is refused with
// nats-server 2.9.10's error and changes nothing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";

interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; lag?: number }>;
}

async function messagesOn(c: JsCluster, name: string): Promise<number> {
  const p = c.nodes[c.names.indexOf(name)];
  if (!p) return -1;
  return ((await (await p.monitorFetch(new Request("http://localhost/jsz"))).json()) as { messages: number }).messages;
}

/**
 * Waits until the stream has `n` peers, all current, and every one of them holds `msgs` messages. `jsm` should
 * have short request timeouts: an info request arriving while the leadership moves goes unanswered.
 */
async function settled(c: JsCluster, jsm: JetStreamManager, n: number, msgs: number): Promise<string[]> {
  let peers: string[] = [];
  await waitFor(`R${n} with every replica current`, async () => {
    const info = await jsm.streams.info("RS").catch(() => undefined);
    const cl = info?.cluster as ClusterInfo | undefined;
    if (!cl?.leader || info?.config.num_replicas !== n) return false;
    const reps = cl.replicas ?? [];
    peers = [cl.leader, ...reps.map((r) => r.name)];
    return peers.length === n && reps.every((r) => r.current);
  }, 20_000);
  for (const p of peers) await waitFor(`${p} holds ${msgs}`, async () => (await messagesOn(c, p)) === msgs, 15_000);
  // Servers outside the peer set hold nothing of it.
  for (const other of c.names.filter((x) => !peers.includes(x))) {
    await waitFor(`${other} dropped its replica`, async () => (await messagesOn(c, other)) === 0, 15_000);
  }
  return peers;
}

describe("replica changes by stream update", () => {
  it("R1 → R3 → R5 → R3 → R1 keeps every acknowledged message", { timeout: 60_000 }, async () => {
    const c = await startJsCluster(5);
    let nc: NatsConnection | undefined;
    try {
      await waitMetaLeader(c, 20_000);
      nc = await connect({ servers: c.nodes[0]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      const js = jetstream(nc);
      const si = await jsm.streams.add({ name: "RS", subjects: ["rs.>"], num_replicas: 1 });
      let seq = 0;
      const publish = async (k: number) => {
        for (let i = 0; i < k; i++) {
          seq++;
          const ack = await js.publish(`rs.${seq}`, `m${seq}`, { msgID: `id-${seq}`, retries: 10, timeout: 1000 });
          assert.equal(ack.seq, seq);
        }
      };
      await publish(20);
      for (const n of [3, 5, 3, 1]) {
        const u = await jsm.streams.update("RS", { ...si.config, num_replicas: n });
        assert.equal(u.config.num_replicas, n);
        await settled(c, quick, n, seq);
        await publish(10);
        await settled(c, quick, n, seq);
      }
      const info = await jsm.streams.info("RS");
      assert.equal(info.state.messages, seq);
      assert.equal(info.state.last_seq, seq);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });

  it("refuses more replicas than servers, and more than 5, with nats-server's errors", { timeout: 30_000 }, async () => {
    const c = await startJsCluster(3);
    let nc: NatsConnection | undefined;
    try {
      await waitMetaLeader(c, 20_000);
      nc = await connect({ servers: c.nodes[0]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      const si = await jsm.streams.add({ name: "RS", subjects: ["rs.>"], num_replicas: 1 });
      await assert.rejects(jsm.streams.update("RS", { ...si.config, num_replicas: 5 }), (e: Error) => {
        assert.match(e.message, /no suitable peers for placement/);
        return true;
      });
      await assert.rejects(jsm.streams.update("RS", { ...si.config, num_replicas: 6 }), /maximum replicas is 5/);
      const info = await jsm.streams.info("RS");
      assert.equal(info.config.num_replicas, 1);
      assert.equal(info.cluster?.replicas, undefined);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });
});
