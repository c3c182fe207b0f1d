// A JetStream server that stops (SIGTERM, Petrel.stop) lets its clients go before its JetStream and its routes
// stop: a client still connected then has its publishes answered by a server without JetStream, with no
// responders, which clients read as "JetStream is not enabled" (ops_lame_duck failed so on Bun under load).
// nats-server's lame-duck mode closes its clients before JetStream shuts down; its Shutdown steps its Raft
// leaders down first and closes clients and routes together.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";

describe("stopping a clustered JetStream server", () => {
  it("its clients leave before its JetStream and its routes stop", { timeout: 60_000 }, async () => {
    // What node 1 holds as each of its extensions stops.
    const seen: string[] = [];
    const c = await startJsCluster(3, {
      wrap: (ext, i) => ({
        name: ext.name,
        async start(server, ctx) {
          const h = await ext.start(server, ctx);
          if (!h || i !== 0) return h;
          return {
            ...h,
            stop: async (o) => {
              seen.push(`${ext.name} stops with ${server.clients.size} client(s)`);
              await h.stop?.(o);
            },
          };
        },
      }),
    });
    try {
      await waitMetaLeader(c, 20_000);
      const nc = await connect({ servers: c.nodes[0]!.clientUrl, reconnect: false });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "SO", subjects: ["so.>"], num_replicas: 3 });
      assert.equal((await jetstream(nc).publish("so.1", "one")).seq, 1);
      const closed = nc.closed();
      await c.stop(0);
      assert.equal(await closed, undefined, "the client saw its server close, not an error");
      assert.deepEqual(seen, ["jetstream stops with 0 client(s)", "cluster stops with 0 client(s)"]);
    } finally {
      await c.close();
    }
  });
});
