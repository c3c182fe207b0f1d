// NATS Streaming's file and SQLite stores on Petrel's stream engine: a restarted server keeps the messages and the durables'
// positions (and unacknowledged messages); a client whose connection died is replaced by a new one with its ID.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { closeStan, connectStan, publish, registerDeadClient, subReady } from "./helpers.ts";

describe("STAN stores (node-nats-streaming against Petrel)", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "petrel-stan-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const store of ["file", "sqlite"]) {
    test(`${store} store: a server restart keeps messages, durable positions and unacknowledged messages`, async () => {
      const conf = `streaming { cluster_id: "stan-${store}", store: ${store}, dir: "${dir}" }`;
      let s: RunningServer = await startServer("petrel", { conf });
      const durable = (sc: Awaited<ReturnType<typeof connectStan>>) =>
        sc.subscriptionOptions().setDeliverAllAvailable().setDurableName("keep").setManualAckMode(true).setAckWait(60_000);
      try {
        let sc = await connectStan(s.url, "writer", {}, `stan-${store}`);
        for (let i = 1; i <= 5; i++) await publish(sc, "orders", `o${i}`);
        const inbox = await subReady(sc, "orders", durable(sc));
        const got = await inbox.next(5);
        // 1..3 acknowledged, 4 and 5 delivered but not acknowledged.
        for (const m of got.slice(0, 3)) m.msg.ack();
        await closeStan(sc);
        await s.stop();

        s = await startServer("petrel", { conf });
        sc = await connectStan(s.url, "reader", {}, `stan-${store}`);
        const all = await subReady(sc, "orders", sc.subscriptionOptions().setDeliverAllAvailable());
        assert.deepEqual((await all.next(5)).map((m) => [m.seq, m.data]), [[1, "o1"], [2, "o2"], [3, "o3"], [4, "o4"], [5, "o5"]]);
        await publish(sc, "orders", "o6");
        await all.next(1);
        await closeStan(sc);

        // The durable belongs to client "writer": it resumes with 4 and 5 again (flagged), then 6.
        sc = await connectStan(s.url, "writer", {}, `stan-${store}`);
        const resumed = await subReady(sc, "orders", durable(sc));
        const again = await resumed.next(3);
        assert.deepEqual(again.map((m) => [m.seq, m.redelivered]), [[4, true], [5, true], [6, false]]);
        for (const m of again) m.msg.ack();
        // Sequences go on from the stored ones.
        await publish(sc, "orders", "o7");
        assert.equal((await resumed.next(1))[0].seq, 7);
        await closeStan(sc);
      } finally {
        await s.stop();
      }
    });
  }

  test("clients and their subscriptions outlive a server restart: a reconnected client goes on", async () => {
    const conf = `streaming { cluster_id: "stan-live", store: file, dir: "${dir}/live" }`;
    let s: RunningServer = await startServer("petrel", { conf });
    const port = s.port;
    try {
      const sc = await connectStan(s.url, "keeper", { reconnectTimeWait: 100 }, "stan-live");
      const lost = new Promise<unknown>((resolve) => sc.once("connection_lost", resolve));
      const plain = await subReady(sc, "live");
      const queue = await subReady(sc, "live", sc.subscriptionOptions().setManualAckMode(true).setAckWait(60_000), "workers");
      await publish(sc, "live", "before");
      assert.equal((await plain.next(1))[0].data, "before");
      const [unacked] = await queue.next(1);
      assert.equal(unacked.data, "before");

      const reconnected = new Promise<void>((resolve) => sc.once("reconnect", () => resolve()));
      await s.stop();
      s = await startServer("petrel", { conf, port });
      await reconnected;
      // Same client, same subscriptions, same request subjects: publishing and delivery go on.
      await publish(sc, "live", "after");
      assert.deepEqual((await plain.next(1)).map((m) => [m.seq, m.data]), [[2, "after"]]);
      const [next] = await queue.next(1);
      assert.deepEqual([next.seq, next.data], [2, "after"]);
      next.msg.ack();
      unacked.msg.ack();
      assert.equal(await Promise.race([lost, Promise.resolve("still connected")]), "still connected");
      await closeStan(sc);
    } finally {
      await s.stop();
    }
  });

  test("a client whose connection died is replaced by a new connect with its ID", async () => {
    const s = await startServer("petrel", { conf: `streaming { cluster_id: "test-cluster" }` });
    try {
      // The NATS connection goes away without a STAN close: the server still lists the client.
      await registerDeadClient(s.url, "phoenix");
      const sc = await connectStan(s.url, "phoenix");
      await publish(sc, "alive", "yes");
      await closeStan(sc);
    } finally {
      await s.stop();
    }
  });
});
