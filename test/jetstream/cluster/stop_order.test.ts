// A JetStream server that stops (SIGTERM, Petrel.stop) lets its clients go before its JetStream and its routes
// stop: a client still connected then has its publishes answered by a server without JetStream, with no
// responders, which clients read as "JetStream is not enabled" (ops_lame_duck failed so on Bun under load).
// nats-server's lame-duck mode closes its clients before JetStream shuts down; its Shutdown steps its Raft
// leaders down first, stops JetStream, then closes clients and routes together.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import type { Petrel } from "../../../src/petrel.ts";

/**
 * A 3-node cluster whose node 1 notes, as each of its extensions stops, how many clients and routes it has, and
 * the client port it advertises (in INFO, and in the connect_urls its routes gossip): still the one it listened
 * on, though the listener has closed (it was "-1", and nats.js on Deno dropped a connection told so).
 */
async function watchedCluster(seen: string[]) {
  return await startJsCluster(3, {
    wrap: (ext, i) => ({
      name: ext.name,
      async start(server, ctx) {
        const h = await ext.start(server, ctx);
        if (!h || i !== 0) return h;
        const port = server.clientPort;
        return {
          ...h,
          stop: async (o) => {
            const routes = server.monitorSections.get("varz.routes")?.() ?? "no";
            const advertised = server.clientPort === port ? "its port" : `port ${server.clientPort}`;
            seen.push(`${ext.name} stops with ${server.clients.size} client(s), ${routes} route(s), advertising ${advertised}`);
            await h.stop?.(o);
          },
        };
      },
    }),
  });
}

describe("stopping a clustered JetStream server", () => {
  for (const how of ["stop", "lame duck"] as const) {
    it(`${how}: its clients leave before its JetStream stops, and JetStream stops before the routes`, { timeout: 60_000 }, async () => {
      const seen: string[] = [];
      const c = await watchedCluster(seen);
      try {
        await waitMetaLeader(c, 20_000);
        const p: Petrel = c.nodes[0]!;
        const nc = await connect({ servers: p.clientUrl, reconnect: false });
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "SO", subjects: ["so.>"], num_replicas: 3 });
        assert.equal((await jetstream(nc).publish("so.1", "one")).seq, 1);
        const closed = nc.closed();
        if (how === "stop") {
          await c.stop(0);
        } else {
          // No grace period, the one client closed at once (the clients' spread is server_limits.test.ts's).
          p.server.options.lame_duck_grace_period = 0;
          p.server.options.lame_duck_duration = 0;
          await p.lameDuck();
        }
        assert.equal(await closed, undefined, "the client saw its server close, not an error");
        assert.deepEqual(seen, [
          "jetstream stops with 0 client(s), 2 route(s), advertising its port",
          "cluster stops with 0 client(s), 2 route(s), advertising its port",
        ]);
      } finally {
        await c.close();
      }
    });
  }
});
