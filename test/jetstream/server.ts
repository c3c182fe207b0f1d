import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startPetrel } from "../../mod.ts";
import { Petrel } from "../../src/petrel.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import type { ServerOptions } from "../../src/config/schema.ts";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import type { JetStreamAccounts } from "../../src/jetstream/accounts.ts";
import type { JetStream } from "../../src/jetstream/engine.ts";
import { jetStreamExtension } from "../../adapters/storage/jetstream_extension.ts";
import type { StorageKind } from "../../src/jetstream/store/types.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

export interface JsServer {
  petrel: Petrel;
  url: string;
  dir: string;
  engine: JetStream;
  stop(): Promise<void>;
}

/** An in-process Petrel with JetStream on a loopback port and a fresh (or given) store directory. */
export async function startJsServer(
  opts: { dir?: string; storage?: StorageKind; monitor?: boolean } = {},
): Promise<JsServer> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "petrel-js-"));
  let engine: JetStream | undefined;
  const petrel = await startPetrel({
    options: { port: -1, host: "127.0.0.1", ...(opts.monitor ? { http_port: -1 } : {}) },
    extensions: [
      jetStreamExtension(
        { enabled: true, store_dir: dir, max_memory_store: -1, max_file_store: -1, storage: opts.storage ?? "file" },
        (e) => (engine = e),
      ),
    ],
  });
  if (!engine) throw new Error("jetstream did not start");
  return {
    petrel,
    url: petrel.clientUrl,
    dir,
    engine,
    stop: async () => {
      await petrel.stop();
    },
  };
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * An in-process Petrel with accounts (options in the accounts contract's shape) and JetStream, for tests that
 * need accounts before every config path reads them.
 */
export async function startAccountsPetrel(
  opts: {
    dir: string;
    accounts: NonNullable<ServerOptions["accounts"]>;
    system_account?: string;
    monitor?: boolean;
    storage?: StorageKind;
  },
): Promise<JsServer & { all: JetStreamAccounts }> {
  const rt = currentRuntime();
  let all: JetStreamAccounts | undefined;
  const options = {
    ...applyDefaults({ port: -1, host: "127.0.0.1", ...(opts.monitor ? { http_port: -1 } : {}) }),
    accounts: opts.accounts,
    ...(opts.system_account ? { system_account: opts.system_account } : {}),
  };
  const petrel = new Petrel(options, {
    transport: rt.tcp,
    serveHttp: (o, f) => rt.serveHttp(o, f),
    extensions: [
      jetStreamExtension(
        { enabled: true, store_dir: opts.dir, max_memory_store: -1, max_file_store: -1, storage: opts.storage ?? "file" },
        (_e, a) => (all = a),
      ),
    ],
  });
  await petrel.start();
  if (!all) throw new Error("jetstream did not start");
  const engine = all.get("$G") ?? [...all.engines.values()][0];
  return { petrel, url: petrel.clientUrl, dir: opts.dir, engine, all, stop: () => petrel.stop() };
}
