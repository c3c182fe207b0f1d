// The legacy `nats` v2 client's JetStream API (still widely deployed) against Petrel and nats-server.
import { it } from "node:test";
import assert from "node:assert/strict";
import { AckPolicy, connect, StringCodec } from "nats";
import { forEachServer, startServer } from "../helpers/servers.ts";

const sc = StringCodec();

forEachServer(["nats-server", "petrel"], (kind) => {
  it("nats v2: streams, publish acks, pull consumers and KV", { timeout: 30_000 }, async () => {
    const server = await startServer(kind, { jetstream: true });
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
      const js = nc.jetstream();
      const acks = [];
      for (let i = 1; i <= 5; i++) acks.push(await js.publish(`orders.${i}`, sc.encode(`order ${i}`), { msgID: `id-${i}` }));
      assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3, 4, 5]);
      const dup = await js.publish("orders.1", sc.encode("again"), { msgID: "id-1" });
      assert.equal(dup.duplicate, true);

      await jsm.consumers.add("ORDERS", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get("ORDERS", "worker");
      const batch = await consumer.fetch({ max_messages: 5, expires: 2000 });
      const got: string[] = [];
      for await (const m of batch) {
        got.push(sc.decode(m.data));
        m.ack();
      }
      assert.deepEqual(got, ["order 1", "order 2", "order 3", "order 4", "order 5"]);
      const info = await jsm.streams.info("ORDERS");
      assert.equal(info.state.messages, 5);

      const kv = await js.views.kv("config");
      await kv.put("color", sc.encode("blue"));
      const rev = await kv.put("color", sc.encode("green"));
      const e = await kv.get("color");
      assert.equal(e?.revision, rev);
      assert.equal(sc.decode(e!.value), "green");
      await assert.rejects(kv.update("color", sc.encode("red"), rev - 1));
      await kv.delete("color");
      assert.equal((await kv.get("color"))?.operation, "DEL");
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});
