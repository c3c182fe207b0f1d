// JetStream on a cluster of Petrel servers is one JetStream: the meta group's leader answers each API request
// once, and an R1 stream lives on one server yet is reachable from every other. Node b only routes to a (a
// star, not a full list of routes): it joins the meta group a formed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Petrel } from "../../src/petrel.ts";
import { routeUrl, startNode, stopAll, waitForMesh } from "../cluster/helpers.ts";
import { waitFor } from "../helpers/servers.ts";
import { markerThrough } from "../helpers/nats.ts";

async function metaSize(p: Petrel): Promise<{ size: number; leader?: string }> {
  const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz"))).json() as {
    meta_cluster?: { cluster_size: number; leader?: string };
  };
  return { size: jsz.meta_cluster?.cluster_size ?? 0, leader: jsz.meta_cluster?.leader };
}

describe("JetStream on a cluster of Petrel servers", () => {
  it("answers each API request once and serves an R1 stream from every server", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-jsc-"));
    const nodes: Petrel[] = [];
    const conns: NatsConnection[] = [];
    try {
      const js = (d: string) => ({ jetstream: { enabled: true, store_dir: join(dir, d) } });
      nodes.push(await startNode({ name: "a", extra: js("a") }));
      nodes.push(await startNode({ name: "b", routes: [routeUrl(nodes[0])], extra: js("b") }));
      await waitForMesh(nodes);
      await waitFor("b joined a's meta group", async () => {
        const [ma, mb] = [await metaSize(nodes[0]), await metaSize(nodes[1])];
        return ma.size === 2 && mb.size === 2 && ma.leader !== undefined && ma.leader === mb.leader;
      }, 10_000);
      const [a, b] = [await connect({ servers: nodes[0].clientUrl }), await connect({ servers: nodes[1].clientUrl })];
      conns.push(a, b);

      // Count raw replies to one API request: exactly one server must answer.
      let answers = 0;
      a.subscribe("_INBOX.count.>", {
        callback: () => {
          answers++;
        },
      });
      a.publish("$JS.API.INFO", "", { reply: "_INBOX.count.1" });
      await a.flush();
      await waitFor("an answer", () => answers > 0);
      // A second answer, from either server, would be ahead of these markers: the first follows the request to
      // b (a -> route -> b), the second comes back from b to a behind whatever b answered.
      await markerThrough(a, b);
      await markerThrough(b, a);
      assert.equal(answers, 1, "one answer to $JS.API.INFO");

      const jsmA = await jetstreamManager(a);
      await jsmA.streams.add({ name: "LOCAL", subjects: ["local.>"] });
      const ack = await jetstream(b).publish("local.x", "hi");
      assert.equal(ack.seq, 1);
      assert.equal(ack.duplicate, false);
      const jsmB = await jetstreamManager(b);
      assert.deepEqual(await jsmB.streams.names().next(), ["LOCAL"], "b sees the cluster's streams");
      assert.equal((await jsmB.streams.info("LOCAL")).state.messages, 1, "stored once");
      // R1: exactly one server holds it.
      let holders = 0;
      for (const n of nodes) {
        const jsz = await (await n.monitorFetch(new Request("http://localhost/jsz"))).json() as { streams: number };
        holders += jsz.streams;
      }
      assert.equal(holders, 1);
    } finally {
      for (const c of conns) await c.close().catch(() => {});
      await stopAll(nodes);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
