// A rolling restart of a 3-server JetStream cluster under a steady publisher: each server hands the
// leaderships it holds to a caught-up peer before it stops, so no publish fails and every acknowledged
// message is on every replica at the end.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";

interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean }>;
}

describe("graceful stop hands leaderships over", () => {
  it("a rolling restart under a publisher fails no publish", { timeout: 90_000 }, async () => {
    const c = await startJsCluster(3);
    let nc: NatsConnection | undefined;
    try {
      await waitMetaLeader(c, 20_000);
      nc = await connect({ servers: c.nodes.map((p) => p!.clientUrl), reconnectTimeWait: 50, maxReconnectAttempts: -1 });
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await jsm.streams.add({ name: "LD", subjects: ["ld.>"], num_replicas: 3 });
      // Polled with short request timeouts: an info request that reaches a server while the stream's leadership
      // moves goes unanswered, and the next one should not wait the client's default 5 s for that.
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      const T0 = Date.now();
      const timeline: string[] = [];
      const mark = (what: string) => void timeline.push(`${Date.now() - T0}ms ${what}`);
      // A timeout says what the last answer was (leader, replicas and how far behind each one is).
      let lastInfo = "none yet";
      const allCurrent = async () => {
        await waitFor("LD led and every replica current", async () => {
          const info = await quick.streams.info("LD").catch((e: Error) => e);
          if (info instanceof Error) {
            lastInfo = info.message;
            return false;
          }
          const cl = info.cluster as ClusterInfo | undefined;
          lastInfo = `last seq ${info.state.last_seq}, cluster ${JSON.stringify(cl)}`;
          return !!cl?.leader && cl.replicas?.length === 2 && cl.replicas.every((r) => r.current);
        }, 20_000).catch((e: Error) => {
          throw new Error(`${e.message} (last answer: ${lastInfo}); ${timeline.join(", ")}`);
        });
      };
      await allCurrent();
      const failures: string[] = [];
      const acked: number[] = [];
      let stop = false;
      let n = 0;
      // The client's own server going away drops a reply in flight (as with nats-server without lame duck):
      // such a publish is retried with its Nats-Msg-Id. Any other failure is the hand-off's fault.
      let disconnects = 0;
      const timeouts: number[] = [];
      void (async () => {
        for await (const st of nc.status()) if (st.type === "disconnect") disconnects++;
      })();
      // The publisher runs up to `budget` publishes, which each phase of the test raises: a fixed cap (5000) ran
      // out before the last restart on a fast machine ("publishes go on" then waited in vain), and no cap at all
      // leaves a restarted replica chasing a publisher at full speed (every phase waits for all replicas current).
      let budget = 0;
      let wake: () => void = () => {};
      // For the failure message: when each phase stopped and restarted its server, and who was elected when (Bun
      // runs under load failed a burst of publishes with 503 "no responders": 1 of 3 runs of test/jsraft +
      // test/jetstream/cluster, and once in a full run before; not reproduced alone in 13 runs).
      const adv = nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>", {
        callback: (_e, m) => mark(`${m.subject.split(".").slice(4).join(".")} ${m.json<{ leader?: string }>().leader ?? ""}`),
      });
      const allow = (more: number) => {
        budget = n + more;
        wake();
      };
      allow(200);
      const publisher = (async () => {
        // One at a time, each retried at most 3 times after a disconnect.
        while (!stop) {
          if (n >= budget) {
            await new Promise<void>((r) => (wake = r));
            continue;
          }
          n++;
          for (let attempt = 0; attempt < 4; attempt++) {
            const seen = disconnects;
            try {
              const ack = await js.publish(`ld.${n}`, `m${n}`, { msgID: `ld-${n}`, timeout: 5000 });
              acked.push(ack.seq);
              break;
            } catch (e) {
              if (disconnects !== seen && attempt < 3) continue;
              // A publish routed to the old leader's server is passed on to the new leader while that server runs
              // (jetstream/cluster/forward.ts), but one that reaches it as it closes is lost; the client retries
              // it with its Nats-Msg-Id. At most one such window per hand-off.
              if (/timeout/i.test((e as Error).message) && attempt < 3) {
                timeouts.push(n);
                continue;
              }
              failures.push(`${n}: ${(e as Error).message} (on ${nc!.info?.server_name}, ${Date.now() - T0}ms)`);
              break;
            }
          }
        }
      })();
      await waitFor("some publishes", () => acked.length >= 20);
      for (let i = 0; i < 3; i++) {
        // The server leading the stream goes first, so the hand-off is exercised.
        const leader = (await jsm.streams.info("LD")).cluster!.leader!;
        const victim = c.names.indexOf(leader);
        const before = acked.length;
        // Publishes in flight through the stop and the restart, and on after it.
        allow(100_000);
        mark(`stopping ${leader}`);
        await c.stop(victim);
        mark(`stopped ${leader}`);
        await c.start(victim);
        mark(`restarted ${leader}`);
        allow(200);
        await allCurrent();
        await waitFor("publishes go on", () => acked.length >= before + 20, 20_000);
      }
      stop = true;
      wake();
      await publisher;
      adv.unsubscribe();
      assert.deepEqual(failures, [], `publishes failed (${failures.length}); ${timeline.join(", ")}`);
      assert.ok(timeouts.length <= 3, `publishes unanswered: ${timeouts.join(", ")}`);
      assert.deepEqual(acked, Array.from({ length: acked.length }, (_, i) => i + 1));
      for (const p of c.nodes) {
        await waitFor("every replica holds every acknowledged message", async () => {
          const jsz = await (await p!.monitorFetch(new Request("http://localhost/jsz"))).json() as { messages: number };
          return jsz.messages === acked.length;
        }, 20_000);
      }
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });
});
