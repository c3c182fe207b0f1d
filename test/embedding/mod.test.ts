// The embedding API of mod.ts: start a broker in-process from options or from nats-server arguments.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startPetrel } from "../../mod.ts";

describe("embedding: startPetrel", () => {
  it("starts from options, serves clients, internal clients and monitoring, and stops", async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-embed-"));
    const petrel = await startPetrel({
      options: { host: "127.0.0.1", port: -1, http_port: -1, jetstream: { enabled: true, store_dir: dir } },
    });
    try {
      assert.match(petrel.clientUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
      const ports = petrel.ports();
      assert.deepEqual(ports.nats, [petrel.clientUrl]);
      assert.ok(petrel.monitorUrl !== undefined && ports.monitoring?.[0] === petrel.monitorUrl);

      const seen: string[] = [];
      const bus = petrel.server.createInternalClient("embedder");
      bus.subscribe("orders.*", (m) => seen.push(`${m.subject}:${new TextDecoder().decode(m.payload)}`));
      const nc = await connect({ servers: petrel.clientUrl });
      nc.publish("orders.1", "one");
      await nc.flush();
      assert.deepEqual(seen, ["orders.1:one"]);

      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.getAccountInfo()).streams, 0, "JetStream is on");
      await nc.close();

      const varz = await (await fetch(`${petrel.monitorUrl}/varz`)).json();
      assert.equal(varz.server_id, petrel.server.serverId);
    } finally {
      await petrel.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(petrel.server.running, false);
  });

  it("starts from nats-server arguments and reports bad ones as an error", async () => {
    const petrel = await startPetrel({ args: ["-a", "127.0.0.1", "-p", "-1", "-n", "embedded"] });
    try {
      assert.equal(petrel.server.serverName, "embedded");
      assert.equal(petrel.monitorUrl, undefined, "no monitoring unless asked for");
    } finally {
      await petrel.stop();
    }
    await assert.rejects(startPetrel({ args: ["--bogus"] }), /bogus/);
  });
});
