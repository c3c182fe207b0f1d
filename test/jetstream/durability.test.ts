// Streams and consumer state survive a clean restart; with sync_interval: always every acked message
// survives kill -9 under load, exactly once.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startChild } from "./child.ts";
import { waitFor } from "../helpers/servers.ts";

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-durable-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

for (const storage of ["file", "sqlite"]) {
  describe(`durability (${storage})`, () => {
    it("keeps messages and consumer state across SIGTERM and restart", async () => {
      const store = tmp();
      let srv = await startChild(store, `storage: ${storage}`);
      let nc = await connect({ servers: srv.url, reconnect: false });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "D", subjects: ["d.*"] });
        const js = jetstream(nc);
        for (let i = 1; i <= 20; i++) await js.publish(`d.${i % 3}`, `m${i}`);
        await jsm.streams.purge("D", { seq: 3 }); // drop 1, 2
        await jsm.streams.deleteMessage("D", 10);
        await jsm.consumers.add("D", { durable_name: "c", ack_policy: AckPolicy.Explicit });
        const c = await js.consumers.get("D", "c");
        for await (const m of await c.fetch({ max_messages: 5, expires: 2000 })) {
          if (m.seq !== 5) await m.ackAck();
        }
        await nc.close();
        await srv.stop();
        srv = await startChild(store, `storage: ${storage}`);
        nc = await connect({ servers: srv.url, reconnect: false });
        const jsm2 = await jetstreamManager(nc);
        const st = (await jsm2.streams.info("D")).state;
        assert.equal(st.messages, 17);
        assert.equal(st.first_seq, 3);
        assert.equal(st.last_seq, 20);
        const ci = await jsm2.consumers.info("D", "c");
        assert.equal(ci.delivered.stream_seq, 7);
        assert.equal(ci.num_ack_pending, 1);
        assert.equal(ci.ack_floor.stream_seq, 4);
        assert.equal(ci.num_pending, 12);
        assert.equal((await jetstream(nc).publish("d.1", "after")).seq, 21);
      } finally {
        await nc.close().catch(() => {});
        await srv.stop();
      }
    });
  });
}

describe("durability under kill -9", () => {
  it("keeps every acknowledged message exactly once (sync_interval: always)", async () => {
    const store = tmp();
    let srv = await startChild(store, "sync_interval: always");
    const acked = new Set<number>();
    let nc = await connect({ servers: srv.url, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "K", subjects: ["k"] });
      const js = jetstream(nc);
      let n = 0;
      let stop = false;
      const load = (async () => {
        // Stops when the connection dies: failed publishes reject at once and must not spin the loop.
        while (!stop && !nc.isClosed()) {
          const batch: Promise<void>[] = [];
          for (let i = 0; i < 64; i++) {
            const id = ++n;
            batch.push(
              js.publish("k", String(id), { msgID: String(id), timeout: 2000 }).then(
                () => void acked.add(id),
                () => {},
              ),
            );
          }
          await Promise.all(batch);
          await new Promise((r) => setTimeout(r, 0));
        }
      })();
      // The kill lands in the middle of the load: once a good number are acknowledged (more are in flight).
      await waitFor("1000 publishes acknowledged", () => acked.size >= 1000, 20_000, 10);
      await srv.kill9();
      stop = true;
      await load;
      await nc.close().catch(() => {});
      assert.ok(acked.size > 0, "no publish was acknowledged before the kill");
      srv = await startChild(store, "sync_interval: always");
      nc = await connect({ servers: srv.url, reconnect: false });
      const jsm2 = await jetstreamManager(nc);
      const st = (await jsm2.streams.info("K")).state;
      const c = await jsm2.consumers.add("K", { durable_name: "check", ack_policy: AckPolicy.None });
      const seen = new Map<number, number>();
      const cons = await jetstream(nc).consumers.get("K", c.name);
      let left = st.messages;
      const deadline = Date.now() + 20_000;
      while (left > 0 && Date.now() < deadline) {
        const batch = Math.min(left, 1000);
        for await (const m of await cons.fetch({ max_messages: batch, expires: 5000 })) {
          const id = Number(m.string());
          seen.set(id, (seen.get(id) ?? 0) + 1);
          left--;
        }
      }
      for (const id of acked) assert.equal(seen.get(id), 1, `acked message ${id} missing`);
      for (const [id, count] of seen) assert.equal(count, 1, `message ${id} stored ${count} times`);
      assert.equal(st.messages, seen.size);
    } finally {
      await nc.close().catch(() => {});
      await srv.stop();
    }
  });
});
