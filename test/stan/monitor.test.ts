// NATS Streaming's monitoring pages on the monitoring port, with nats-streaming-server's fields.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { closeStan, connectStan, publish, subReady } from "./helpers.ts";

async function get(s: RunningServer, path: string): Promise<{ status: number; body: Record<string, unknown> | string }> {
  const r = await fetch(`${s.monitorUrl}${path}`);
  const text = await r.text();
  return { status: r.status, body: r.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
}

describe("STAN monitoring (/streaming/*)", () => {
  let s: RunningServer;
  before(async () => {
    s = await startServer("petrel", {
      monitor: true,
      conf: `streaming { cluster_id: "mon", store_limits: { max_channels: 5, max_msgs: 100, channels: { "b.*": { max_msgs: 7 } } } }`,
    });
  });
  after(async () => {
    await s.stop();
  });

  test("serverz, storez, clientsz and channelsz report clients, channels and subscriptions", async () => {
    const sc = await connectStan(s.url, "watcher", {}, "mon");
    let closed = false;
    try {
      await publish(sc, "a", "12345");
      await publish(sc, "a", "6789");
      await publish(sc, "b.x", "z");
      const inbox = await subReady(sc, "a", sc.subscriptionOptions().setDeliverAllAvailable().setDurableName("d1").setManualAckMode(true).setMaxInFlight(10));
      await inbox.next(2);

      const server = (await get(s, "/streaming/serverz")).body as Record<string, unknown>;
      assert.equal(server.cluster_id, "mon");
      assert.equal(server.state, "STANDALONE");
      assert.deepEqual([server.clients, server.channels, server.subscriptions, server.total_msgs], [1, 2, 1, 3]);
      assert.deepEqual([server.in_msgs, server.in_bytes, server.out_msgs, server.out_bytes], [3, 10, 2, 9]);
      assert.equal(typeof server.uptime, "string");

      const store = (await get(s, "/streaming/storez")).body as Record<string, unknown>;
      assert.equal(store.type, "MEMORY");
      assert.equal(store.total_msgs, 3);
      const limits = store.limits as Record<string, unknown>;
      assert.equal(limits.max_channels, 5);
      assert.equal(limits.max_msgs, 100);
      assert.equal((limits.channels as Record<string, Record<string, unknown>>)["b.*"].max_msgs, 7);

      const clients = (await get(s, "/streaming/clientsz?subs=1")).body as Record<string, unknown>;
      assert.deepEqual([clients.count, clients.total], [1, 1]);
      const [c] = clients.clients as Array<Record<string, unknown>>;
      assert.equal(c.id, "watcher");
      const subs = (c.subscriptions as Record<string, Array<Record<string, unknown>>>).a;
      assert.equal(subs.length, 1);
      assert.deepEqual(
        [subs[0].durable_name, subs[0].is_durable, subs[0].is_offline, subs[0].max_inflight, subs[0].last_sent, subs[0].pending_count],
        ["d1", true, false, 10, 2, 2],
      );
      assert.equal((await get(s, "/streaming/clientsz?client=nobody")).status, 404);

      const names = (await get(s, "/streaming/channelsz")).body as Record<string, unknown>;
      assert.deepEqual(names.names, ["a", "b.x"]);
      const one = (await get(s, "/streaming/channelsz?channel=a&subs=1")).body as Record<string, unknown>;
      assert.deepEqual([one.name, one.msgs, one.first_seq, one.last_seq], ["a", 2, 1, 2]);
      assert.equal((one.subscriptions as unknown[]).length, 1);
      const missing = await get(s, "/streaming/channelsz?channel=zzz");
      assert.equal(missing.status, 404);
      assert.match(String(missing.body), /Channel zzz not found/);

      // Closed, the durable is reported offline with its position.
      await closeStan(sc);
      closed = true;
      const after = (await get(s, "/streaming/channelsz?subs=1")).body as Record<string, unknown>;
      const a = (after.channels as Array<Record<string, unknown>>).find((ch) => ch.name === "a");
      const [offline] = a?.subscriptions as Array<Record<string, unknown>>;
      assert.deepEqual([offline.client_id, offline.is_offline, offline.last_sent, offline.pending_count], ["watcher", true, 2, 2]);
      assert.equal(((await get(s, "/streaming/clientsz")).body as Record<string, unknown>).total, 0);
    } finally {
      if (!closed) await closeStan(sc);
    }
  });
});
