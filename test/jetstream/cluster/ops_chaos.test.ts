// A bounded chaos run: 3 servers, an R3 stream, a publisher with Nats-Msg-Id retrying what is not
// acknowledged, and seeded random stops and restarts of servers (at most 4 faults, one down at a time). At
// the end every acknowledged message is in the stream exactly once, and every replica holds them all.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";

/** mulberry32: the faults follow the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("chaos (bounded)", () => {
  it("random stops and restarts lose no acknowledged message and duplicate none", { timeout: 90_000 }, async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 7);
    const rand = prng(seed);
    const c = await startJsCluster(3);
    let nc: NatsConnection | undefined;
    try {
      await waitMetaLeader(c, 20_000);
      nc = await connect({ servers: c.nodes.map((p) => p!.clientUrl), reconnectTimeWait: 50, maxReconnectAttempts: -1 });
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await jsm.streams.add({ name: "CH", subjects: ["ch.>"], num_replicas: 3 });
      const acked = new Map<string, number>();
      let stop = false;
      let n = 0;
      const publisher = (async () => {
        // Until told to stop (the cap is only a bound): a capped publisher that ran out before the last fault
        // would leave "publishes go on" waiting in vain on a fast machine.
        while (!stop && n < 30_000) {
          n++;
          const id = `ch-${n}`;
          // Retried with the same id until acknowledged (bounded: 60 tries of at most 2 s).
          for (let t = 0; t < 60 && !acked.has(id); t++) {
            try {
              const ack = await js.publish(`ch.${n}`, id, { msgID: id, timeout: 2000 });
              acked.set(id, ack.seq);
            } catch {
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
      })();
      await waitFor("some publishes", () => acked.size >= 20);
      for (let f = 0; f < 4; f++) {
        const i = Math.floor(rand() * 3);
        const before = acked.size;
        await c.stop(i);
        await waitFor("publishes go on with a server down", () => acked.size >= before + 10, 20_000);
        await c.start(i);
        await waitFor("publishes go on after the restart", () => acked.size >= before + 20, 20_000);
      }
      stop = true;
      await publisher;
      const total = acked.size;
      assert.ok(total >= 100, `acknowledged ${total}`);
      // Sequences are unique: nothing acknowledged twice under two numbers.
      assert.equal(new Set(acked.values()).size, total);
      // Every replica holds exactly the acknowledged messages (no loss, no duplicate).
      for (const p of c.nodes) {
        await waitFor("a replica holds every acknowledged message", async () => {
          const jsz = await (await p!.monitorFetch(new Request("http://localhost/jsz"))).json() as { messages: number };
          return jsz.messages === total;
        }, 20_000);
      }
      // Read back from the leader: each id once, at its acknowledged sequence.
      await jsm.consumers.add("CH", { durable_name: "CHK", ack_policy: AckPolicy.None });
      const cons = await js.consumers.get("CH", "CHK");
      const seen = new Map<string, number>();
      for (let round = 0; round < Math.ceil(total / 500) + 10 && seen.size < total; round++) {
        const batch = await cons.fetch({ max_messages: 500, expires: 2000 });
        for await (const m of batch) {
          const id = m.string();
          assert.ok(!seen.has(id), `${id} stored twice`);
          seen.set(id, m.seq);
        }
      }
      assert.equal(seen.size, total);
      for (const [id, seq] of acked) assert.equal(seen.get(id), seq, `${id} at its acknowledged sequence`);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });
});
