// store_limits and heartbeats: max_channels, max_subs, max_msgs as nats-streaming-server enforces them, and a
// client that stops answering heartbeats is closed by the server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { closeStan, connectStan, publish, registerDeadClient, subReady, subscribe } from "./helpers.ts";

describe("STAN limits and heartbeats (Petrel)", () => {
  let s: RunningServer;
  before(async () => {
    s = await startServer("petrel", {
      monitor: true,
      conf: `streaming {
        cluster_id: "lim"
        hb_interval: "100ms"
        hb_timeout: "500ms"
        hb_fail_count: 2
        store_limits { max_channels: 3, max_msgs: 3, max_subs: 2, channels: { "big": { max_msgs: 0 } } }
      }`,
    });
  });
  after(async () => {
    await s.stop();
  });

  test("max_channels, max_subs and max_msgs", async () => {
    const sc = await connectStan(s.url, "limited", {}, "lim");
    try {
      for (let i = 1; i <= 5; i++) await publish(sc, "small", `s${i}`);
      // Only the last three are kept: an all-available subscriber starts at 3.
      const all = await subReady(sc, "small", sc.subscriptionOptions().setDeliverAllAvailable());
      assert.deepEqual((await all.next(3)).map((m) => [m.seq, m.data]), [[3, "s3"], [4, "s4"], [5, "s5"]]);
      // The per-channel override: unlimited.
      for (let i = 1; i <= 5; i++) await publish(sc, "big", `b${i}`);
      const big = await subReady(sc, "big", sc.subscriptionOptions().setDeliverAllAvailable());
      assert.equal((await big.next(5))[0].seq, 1);

      await subReady(sc, "small");
      const third = subscribe(sc, "small");
      assert.equal((await third.failed).message, "too many subscriptions per channel");

      await publish(sc, "c3", "x");
      await assert.rejects(publish(sc, "c4", "x"), /too many channels/);
    } finally {
      await closeStan(sc);
    }
  });

  test("a client that stops answering heartbeats is closed; one that answers stays", async () => {
    const alive = await connectStan(s.url, "alive", {}, "lim");
    const total = async (id = "silent") => {
      const r = await fetch(`${s.monitorUrl}/streaming/clientsz?client=${id}`);
      await r.body?.cancel();
      return r.status;
    };
    await registerDeadClient(s.url, "silent", "lim");
    assert.equal(await total(), 200);
    // Two missed heartbeats (100 ms apart, 500 ms to answer each: the answering client must not miss two on a
    // loaded host, where 100 ms once closed it too): gone within a bounded number of checks.
    let status = 200;
    for (let i = 0; i < 200 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await total();
    }
    assert.equal(status, 404);
    // The other client answered the same heartbeats all along.
    assert.equal(await total("alive"), 200);
    await publish(alive, "small", "still here");
    await closeStan(alive);
  });
});

describe("STAN max_inactivity (Petrel)", () => {
  let s: RunningServer;
  before(async () => {
    s = await startServer("petrel", {
      monitor: true,
      // 1 s, not less: the channel must still be there when first asked for, on a loaded host too (at 200 ms
      // a full run under load once found it deleted before that first check).
      conf: `streaming { cluster_id: "idle", store_limits { max_inactivity: "1s" } }`,
    });
  });
  after(async () => {
    await s.stop();
  });

  test("a channel without subscriptions and new messages is deleted; one with a subscription stays", async () => {
    const sc = await connectStan(s.url, "idler", {}, "idle");
    try {
      const channel = async (name: string) => {
        const r = await fetch(`${s.monitorUrl}/streaming/channelsz?channel=${name}`);
        await r.body?.cancel();
        return r.status;
      };
      await subReady(sc, "kept");
      await publish(sc, "kept", "k");
      await publish(sc, "gone", "g1");
      await publish(sc, "gone", "g2");
      assert.equal(await channel("gone"), 200);
      let status = 200;
      for (let i = 0; i < 200 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = await channel("gone");
      }
      assert.equal(status, 404);
      assert.equal(await channel("kept"), 200);
      // Its messages went with it: the channel starts over.
      await publish(sc, "gone", "again");
      const all = await subReady(sc, "gone", sc.subscriptionOptions().setDeliverAllAvailable());
      assert.deepEqual((await all.next(1)).map((m) => [m.seq, m.data]), [[1, "again"]]);
    } finally {
      await closeStan(sc);
    }
  });
});
