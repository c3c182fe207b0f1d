// A starting server takes clients only once its extensions (JetStream among them) have started, as nats-server
// starts its client accept loop last: a client served earlier had its JetStream requests answered with no
// responders, which clients read as "JetStream is not enabled", by a server that has JetStream.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Petrel, type PetrelExtension } from "../../src/petrel.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { defaultExtensions } from "../../adapters/extensions.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

describe("starting a JetStream server", () => {
  it("takes no client until JetStream has started", { timeout: 30_000 }, async () => {
    await loadSchemas();
    const dir = mkdtempSync(join(tmpdir(), "petrel-start-order-"));
    const rt = currentRuntime();
    const options = applyDefaults({ host: "127.0.0.1", port: -1, jetstream: { enabled: true, store_dir: dir } });
    // JetStream's start waits for the test: the client port is bound by then.
    let reached = () => {};
    const starting = new Promise<void>((r) => (reached = r));
    let release = () => {};
    const go = new Promise<void>((r) => (release = r));
    const held = (ext: PetrelExtension): PetrelExtension =>
      ext.name !== "jetstream" ? ext : {
        name: ext.name,
        async start(server, ctx) {
          reached();
          await go;
          return ext.start(server, ctx);
        },
      };
    const petrel = new Petrel(options, { transport: rt.tcp, logger: silentLogger, extensions: defaultExtensions(options, rt).map(held) });
    const started = petrel.start();
    const conns: NatsConnection[] = [];
    try {
      await starting;
      const early = await connect({ servers: petrel.clientUrl, reconnect: false, timeout: 2000 }).catch((e: Error) => e);
      if (!(early instanceof Error)) conns.push(early);
      assert.ok(early instanceof Error, "a client was taken before JetStream started");
      release();
      await started;
      const nc = await connect({ servers: petrel.clientUrl, reconnect: false });
      conns.push(nc);
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.getAccountInfo()).streams, 0);
    } finally {
      release();
      for (const nc of conns) await nc.close().catch(() => {});
      await started.catch(() => {});
      await petrel.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
