import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { JetStream } from "../../src/jetstream/engine.ts";
import { jetStreamExtension } from "../../adapters/storage/jetstream_extension.ts";
import type { StorageKind } from "../../src/jetstream/store/types.ts";

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
