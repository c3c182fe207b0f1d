// JetStream in a cluster is per server for now: each server answers for its own streams, and an API request
// is answered once, by the server the client is connected to (not by every server in the mesh).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Petrel } from "../../src/petrel.ts";
import { routeUrl, startNode, stopAll, waitForMesh } from "../cluster/helpers.ts";

describe("JetStream on a cluster of Petrel servers", () => {
  it("answers each API request once and keeps streams on the server that created them", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-jsc-"));
    const nodes: Petrel[] = [];
    const conns: NatsConnection[] = [];
    try {
      const js = (d: string) => ({ jetstream: { enabled: true, store_dir: join(dir, d) } });
      nodes.push(await startNode({ name: "a", extra: js("a") }));
      nodes.push(await startNode({ name: "b", routes: [routeUrl(nodes[0])], extra: js("b") }));
      await waitForMesh(nodes);
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
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(answers, 1, "one answer to $JS.API.INFO");

      const jsmA = await jetstreamManager(a);
      await jsmA.streams.add({ name: "LOCAL", subjects: ["local.>"] });
      const ack = await jetstream(a).publish("local.x", "hi");
      assert.equal(ack.seq, 1);
      assert.equal(ack.duplicate, false);
      const jsmB = await jetstreamManager(b);
      assert.deepEqual(await jsmB.streams.names().next(), [], "b has no streams of its own");
      assert.equal((await jsmA.streams.info("LOCAL")).state.messages, 1, "stored once");
    } finally {
      for (const c of conns) await c.close().catch(() => {});
      await stopAll(nodes);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
