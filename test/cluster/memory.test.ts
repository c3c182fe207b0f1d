// Clusters on the in-memory network: routes that are reset are re-established (configured and gossiped
// ones alike), and interest is announced again on the new route.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryNetwork } from "../../transports/memory.ts";
import { Server } from "../../src/server/server.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { Cluster } from "../../src/cluster/cluster.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { waitFor } from "../helpers/servers.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

interface Node {
  name: string;
  server: Server;
  cluster: Cluster;
}

const te = new TextEncoder();

async function startNode(net: MemoryNetwork, name: string, routes: string[]): Promise<Node> {
  const transport = net.node(name);
  const options = applyDefaults({ server_name: name, host: name, port: -1, cluster: { name: "mem", host: name, port: -1, routes } });
  const server = new Server(options, { transport, logger: silentLogger });
  await server.start();
  const cluster = new Cluster(server, options.cluster!, { transport, logger: silentLogger });
  await cluster.start();
  return { name, server, cluster };
}

function meshed(nodes: Node[]): boolean {
  return nodes.every((n) => n.cluster.remotes.size === nodes.length - 1 && nodes.every((o) => o === n || n.cluster.remotes.has(o.server.serverId)));
}

describe("routes over an unreliable network", () => {
  const net = new MemoryNetwork();
  const nodes: Node[] = [];
  after(async () => {
    for (const n of nodes) {
      await n.cluster.stop();
      await n.server.shutdown();
    }
  });

  it("re-establishes configured and gossiped routes after resets, with interest re-announced", async () => {
    const a = await startNode(net, "a", []);
    nodes.push(a);
    const seed = `nats-route://a:${a.cluster.port}`;
    nodes.push(await startNode(net, "b", [seed]), await startNode(net, "c", [seed]));
    const [, b, c] = nodes;
    await waitFor("mesh", () => meshed(nodes));

    const got: string[] = [];
    const onC = c.server.createInternalClient("test");
    onC.subscribe("mem.>", (m) => got.push(new TextDecoder().decode(m.payload)));
    const pubB = b.server.createInternalClient("pub");
    await waitFor("B sees C's interest", () => b.server.accounts.global.sublist.match("mem.x").psubs.length === 1);

    // The gossiped B-C route and the configured B-A route both drop.
    const before = new Set(nodes.flatMap((n) => [...n.cluster.remotes.values()]));
    assert.ok(net.dropBetween("b", "c") > 0);
    assert.ok(net.dropBetween("a", "b") > 0);
    // A mesh of new routes (the dropped ones may still look connected for a moment).
    const renewed = () => [...b.cluster.remotes.values()].every((r) => !before.has(r)); // both of B's were dropped
    await waitFor("mesh again", () => meshed(nodes) && renewed(), 5000);
    await waitFor("B sees C's interest again", () => b.server.accounts.global.sublist.match("mem.x").psubs.length === 1);
    pubB.publish("mem.x", te.encode("after reset"));
    // A second copy would be ahead of a marker on the same path (B to C).
    pubB.publish("mem.end", te.encode("end"));
    await waitFor("delivery", () => got.includes("end"));
    assert.deepEqual(got, ["after reset", "end"]);
    for (const n of nodes) assert.equal(n.cluster.remotes.size, 2);
  });
});
