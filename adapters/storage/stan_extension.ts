/**
 * NATS Streaming as a Petrel extension: opens the streaming store (`streaming { store, dir }`) and serves the
 * STAN protocol through an internal client of the global account. Lives in adapters/ because it opens runtime
 * storage (the filesystem).
 */
import type { StreamingOptions } from "../../src/config/streaming.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StorageProvider } from "../../src/jetstream/store/types.ts";
import type { PetrelExtension } from "../../src/petrel.ts";
import { runtimeClock } from "../../src/runtime/clock.ts";
import { StanServer } from "../../src/stan/server.ts";
import { stanMonitorSections } from "../../src/stan/monitor.ts";
import type { Server } from "../../src/server/server.ts";
import { FileStorage } from "./file_store.ts";
import { SqliteStorage } from "./sqlite_store.ts";
import { sqliteDriver } from "../sqlite/open.ts";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The file store keeps each cluster ID's channels apart, under `<dir>/jetstream/$STAN.<cluster_id>/streams`
 * (the stream engine's layout, as an account of its own), so a JetStream store in the same directory never
 * mixes with it; SQLite uses `<dir>/stan/<cluster_id>.sqlite`.
 */
async function openStanStorage(opts: StreamingOptions): Promise<StorageProvider> {
  if (opts.store === "memory") return new MemoryStorage();
  if (opts.store === "file") return new FileStorage(opts.dir, 120_000, `$STAN.${opts.cluster_id}`);
  // SQLite (Petrel's): one database per cluster ID, apart from JetStream's.
  const dir = path.join(opts.dir, "stan");
  fs.mkdirSync(dir, { recursive: true });
  const open = await sqliteDriver();
  return new SqliteStorage(open(path.join(dir, `${encodeURIComponent(opts.cluster_id)}.sqlite`)), 120_000);
}

export function stanExtension(opts: StreamingOptions, onStart?: (stan: StanServer) => void): PetrelExtension {
  return {
    name: "streaming",
    async start(server: Server, ctx) {
      const storage = await openStanStorage(opts);
      const client = server.createInternalClient("STAN", {});
      const stan = new StanServer(opts, {
        bus: client,
        storage,
        clock: runtimeClock,
        log: (m) => ctx.logger.info(m),
      });
      try {
        stan.start();
      } catch (err) {
        stan.stop();
        storage.close();
        throw err;
      }
      ctx.logger.info(`Starting NATS Streaming with cluster ID "${opts.cluster_id}" (${opts.store} store${opts.dir ? ` in ${opts.dir}` : ""})`);
      for (const [name, f] of Object.entries(stanMonitorSections(stan))) {
        server.monitorSections.set(`streaming/${name}`, (q) => f(q ?? new URLSearchParams()));
      }
      onStart?.(stan);
      return {
        stop() {
          stan.stop();
          storage.sync();
          storage.close();
          return Promise.resolve();
        },
      };
    },
  };
}
