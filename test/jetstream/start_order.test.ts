// A starting server takes clients only once its extensions (JetStream among them) have started, as nats-server
// starts its client accept loop last: a client served earlier had its JetStream requests answered with no
// responders, which clients read as "JetStream is not enabled", by a server that has JetStream. A client that
// connects meanwhile waits for its INFO (nats-server's port is not bound yet: its connect is refused and retried);
// a connection closed before its INFO failed benchmark clients and a first connect.
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
import { connectRaw, type RawClient } from "../helpers/raw.ts";
import { waitFor } from "../helpers/servers.ts";

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
    let jsStarted = false;
    const held = (ext: PetrelExtension): PetrelExtension =>
      ext.name !== "jetstream" ? ext : {
        name: ext.name,
        async start(server, ctx) {
          reached();
          await go;
          const h = await ext.start(server, ctx);
          jsStarted = true;
          return h;
        },
      };
    const petrel = new Petrel(options, { transport: rt.tcp, logger: silentLogger, extensions: defaultExtensions(options, rt).map(held) });
    const started = petrel.start();
    const conns: NatsConnection[] = [];
    let raw: RawClient | undefined;
    try {
      await starting;
      // A client connects while JetStream is starting: it is held, not served and not closed.
      raw = await connectRaw(petrel.server.clientPort);
      let infoBeforeJetStream: boolean | undefined;
      const first = raw.readUntil("INFO ", 20_000).then(() => (infoBeforeJetStream = !jsStarted));
      await waitFor("the early client held", () => petrel.server.clientsWaiting === 1, 10_000);
      // What it sends meanwhile (a JetStream request among it) is served once JetStream has started: the request
      // gets JetStream's answer, not a no-responders status.
      await raw.send(`CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.early 1\r\nPUB $JS.API.INFO _INBOX.early 0\r\n\r\nPING\r\n`);
      release();
      await started;
      await first;
      assert.equal(infoBeforeJetStream, false, "a client was served before JetStream started");
      const answer = await raw.readUntil(/MSG _INBOX\.early 1 \d+\r\n[^\r]*\r\n/, 10_000);
      assert.match(answer, /io\.nats\.jetstream\.api\.v1\.account_info_response/);
      assert.doesNotMatch(answer, /HMSG/, "no responders answered the early JetStream request");
      assert.equal(petrel.server.clientsWaiting, 0);
      const nc = await connect({ servers: petrel.clientUrl, reconnect: false });
      conns.push(nc);
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.getAccountInfo()).streams, 0);
    } finally {
      release();
      raw?.close();
      for (const nc of conns) await nc.close().catch(() => {});
      await started.catch(() => {});
      await petrel.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
