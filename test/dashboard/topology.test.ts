// The topology frame from real /gatewayz and /leafz output: a server of cluster "east" with a gateway to
// "west" and a leafnode linked to it, seen through the dashboard's event stream.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { Tick } from "../../src/dashboard/types.ts";
import { openSse, type SseEvent } from "./sse.ts";

describe("dashboard topology across gateways and leafnodes", () => {
  const nodes: Petrel[] = [];
  let east: Petrel;

  before(async () => {
    east = await startPetrel({
      options: {
        server_name: "east-1",
        host: "127.0.0.1",
        port: -1,
        http_host: "127.0.0.1",
        http_port: -1,
        gateway: { name: "east", host: "127.0.0.1", port: -1, gateways: [] },
        leafnodes: { host: "127.0.0.1", port: -1 },
      },
    });
    nodes.push(east);
    const gw = east.ports().gateway![0];
    nodes.push(await startPetrel({
      options: {
        server_name: "west-1",
        host: "127.0.0.1",
        port: -1,
        gateway: { name: "west", host: "127.0.0.1", port: -1, gateways: [{ name: "east", urls: [gw] }] },
      },
    }));
    nodes.push(await startPetrel({
      options: {
        server_name: "edge-1",
        host: "127.0.0.1",
        port: -1,
        leafnodes: { host: "127.0.0.1", port: 0, remotes: [{ urls: [east.ports().leafnode![0]] }] },
      },
    }));
  }, { timeout: 30_000 });

  after(async () => {
    for (const n of nodes.reverse()) await n.stop();
  });

  it("shows the remote cluster as a gateway (with its server) and the leafnode, both up", async () => {
    const s = await openSse(`${east.monitorUrl}/dashboard/events`);
    const westId = nodes[1].server.serverId;
    try {
      const done = (e: SseEvent) => {
        if (e.event !== "tick") return false;
        const t = JSON.parse(e.data) as Tick;
        const west = t.topology.nodes.find((n) => n.kind === "gateway" && n.name === "west");
        const leaf = t.topology.nodes.find((n) => n.kind === "leaf");
        return west?.state === "up" && west.direction === "both" && leaf?.state === "up";
      };
      const t = JSON.parse((await s.waitFor(done, 15_000)).data) as Tick;
      assert.equal(t.topology.gateway, "east");
      const west = t.topology.nodes.find((n) => n.name === "west")!;
      assert.deepEqual(west.servers, [westId]);
      const leaf = t.topology.nodes.find((n) => n.kind === "leaf")!;
      assert.equal(leaf.name, "edge-1");
      assert.equal(leaf.direction, "inbound");
      assert.ok(!t.topology.nodes.some((n) => n.name === "east" && n.kind === "gateway"), "its own cluster is not a gateway");
    } finally {
      await s.close();
    }
  });
});
