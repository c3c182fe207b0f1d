// Found by the chaos harness: a replica catching up from an installed snapshot asked the leader for the first
// batch, then the next replica in its list for the rest; when that one could not serve (down, or catching up
// itself) the retry started over from the store's first message and went the same way, forever — the replica
// stayed behind while Raft called it current. Here the other follower is down while a restarted one catches up,
// once for each follower (which one the old code asked second depended on the peer order).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type JetStreamClient, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";

async function lastSeq(c: JsCluster, i: number): Promise<number> {
  const p = c.nodes[i];
  if (!p) return -1;
  const j = await (await p.monitorFetch(new Request("http://localhost/jsz?streams=true"))).json() as {
    account_details?: Array<{ stream_detail?: Array<{ name: string; state: { last_seq: number } }> }>;
  };
  return j.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === "CH")?.state.last_seq ?? -1;
}

describe("replicated stream: catch-up from a snapshot while another follower is down", () => {
  let c: JsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  before(async () => {
    c = await startJsCluster(3);
    await waitMetaLeader(c, 20_000);
    nc = await connect({ servers: c.nodes.map((p) => p!.clientUrl), maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc, { timeout: 5000 });
    await jsm.streams.add({ name: "CH", subjects: ["ch"], num_replicas: 3 });
  });
  after(async () => {
    await nc?.close();
    await c?.close();
  });

  /** `n` publishes, 500 in flight, each retried with its Nats-Msg-Id until acknowledged. */
  async function publish(n: number, tag: string): Promise<void> {
    const one = async (i: number) => {
      for (let t = 0;; t++) {
        try {
          return await js.publish("ch", "x", { msgID: `${tag}-${i}` });
        } catch (e) {
          if (t >= 30) throw e;
        }
      }
    };
    for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => one(i + k)));
  }

  for (const pick of [0, 1]) {
    it(`follower ${pick + 1} restarted behind the leader's snapshot catches up with the other follower down`, { timeout: 90_000 }, async () => {
      const leader = (await jsm.streams.info("CH")).cluster!.leader!;
      const followers = c.names.map((_, i) => i).filter((i) => c.names[i] !== leader);
      const x = followers[pick];
      const y = followers[1 - pick];
      await c.stop(x);
      // More than a log compaction's worth: the leader drops the log behind a snapshot x must catch up from.
      await publish(9000, `p${pick}`);
      await c.stop(y);
      await c.start(x);
      const want = await waitFor("the leader and x serve again", async () => {
        const i = c.names.indexOf((await jsm.streams.info("CH")).cluster?.leader ?? "");
        return i >= 0 ? await lastSeq(c, i) : undefined;
      }, 30_000);
      await waitFor(`${c.names[x]} holds every message`, async () => (await lastSeq(c, x)) === want, 20_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}: ${c.names[x]} at ${await lastSeq(c, x)}, leader at ${want}`);
      });
      await c.start(y);
      await publish(10, `q${pick}`);
      const end = (await jsm.streams.info("CH")).state.last_seq;
      for (const i of [0, 1, 2]) {
        await waitFor(`${c.names[i]} caught up`, async () => (await lastSeq(c, i)) === end, 20_000);
      }
      assert.equal(await lastSeq(c, x), end);
    });
  }
});
