// A connection that is its own subscriber: 60k x 1 KiB published to a subject it subscribes to, on the same
// connection, all arrive, in order, and the connection stays up (nats-server paces such a client; it does not
// drop a client that is still reading). Same client code against both servers. max_pending is set to 8 MB so
// that the 60 MB sent is still many times what the connection may hold (as 250 MB was against the default 64 MB),
// at a quarter of the cost.
import { it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { forEachServer, monitorJson, startServer } from "../helpers/servers.ts";

const N = 60_000;
const MAX_PENDING = "8MB";
const SIZE = 1024;

forEachServer(["nats-server", "petrel"], (kind) => {
  it(`receives all ${N} of its own ${SIZE}-byte messages in order`, { timeout: 120_000 }, async () => {
    const server = await startServer(kind, { monitor: true, conf: `max_pending: ${MAX_PENDING}\n` });
    const nc = await connect({ servers: server.url, reconnect: false });
    try {
      let next = 0;
      let outOfOrder = -1;
      let resolveDone: () => void = () => {};
      const done = new Promise<void>((r) => (resolveDone = r));
      nc.subscribe("self.loop", {
        callback: (err, m) => {
          if (err) throw err;
          const i = new DataView(m.data.buffer, m.data.byteOffset, 4).getUint32(0);
          if (i !== next && outOfOrder < 0) outOfOrder = next;
          next++;
          if (next === N) resolveDone();
        },
      });
      await nc.flush();
      const closed = nc.closed().then((e) => {
        const log = server.logs().split("\n").filter((l) => /Slow|closed|Error|ERR/i.test(l)).slice(-5).join("\n");
        throw new Error(`connection closed after ${next} messages: ${e ?? "no error"}\n${log}`);
      });
      for (let i = 0; i < N; i++) {
        // A fresh buffer each time: the client may hold on to it until it is written.
        const payload = new Uint8Array(SIZE);
        new DataView(payload.buffer).setUint32(0, i);
        nc.publish("self.loop", payload);
      }
      await Promise.race([done, closed]);
      assert.equal(next, N);
      assert.equal(outOfOrder, -1, "in order");
      const varz = await monitorJson(server, "/varz");
      assert.equal(varz.slow_consumers, 0, "not marked a slow consumer");
    } finally {
      await nc.close().catch(() => {});
      await server.stop();
    }
  });
});
