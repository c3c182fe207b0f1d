/**
 * NATS Streaming as a Petrel extension: opens the streaming store (`streaming { store, dir }`) and serves the
 * STAN protocol through an internal client of the global account. In clustered mode (`streaming { cluster {
 * node_id, peers, log_path } }`) the STAN cluster's state is one Raft group hosted like JetStream's (a RaftHost
 * whose batches travel over the routes in the system account, `$NRG.<node_id>`), its log under `log_path`; the
 * channels are rebuilt from that log at start. In fault-tolerance mode (`ft_group`) it stands by until it holds
 * the shared store's lock (src/stan/ft.ts). Lives in adapters/ because it opens runtime storage.
 */
import type { StreamingOptions } from "../../src/config/streaming.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StorageProvider } from "../../src/jetstream/store/types.ts";
import type { PetrelExtension } from "../../src/petrel.ts";
import { runtimeClock } from "../../src/runtime/clock.ts";
import { StanServer } from "../../src/stan/server.ts";
import { loadJsSchemas } from "../../src/jetstream/schemas_on_demand.ts";
import { stanMonitorSections } from "../../src/stan/monitor.ts";
import type { Server } from "../../src/server/server.ts";
import { FileStorage } from "./file_store.ts";
import { SqliteStorage } from "./sqlite_store.ts";
import { sqliteDriver } from "../sqlite/open.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { RaftHost } from "../../src/raft/host.ts";
import { runHost } from "../../src/raft/driver.ts";
import { MemoryStorage as RaftMemoryStorage } from "../../src/raft/memory_storage.ts";
import type { RaftStorage } from "../../src/raft/storage.ts";
import type { Entry } from "../../src/raft/types.ts";
import { routeTransport } from "../../src/jetstream/cluster/transport.ts";
import { FileStorage as RaftFileStorage } from "../raft/file_storage.ts";
import { FT_HB_INTERVAL, ftSubject, startFaultTolerance } from "../../src/stan/ft.ts";
import { storeLock } from "./store_lock.ts";

/**
 * The file store keeps each cluster ID's channels apart, under `<dir>/jetstream/$STAN.<cluster_id>/streams`
 * (the stream engine's layout, as an account of its own), so a JetStream store in the same directory never
 * mixes with it; SQLite uses `<dir>/stan/<cluster_id>.sqlite`.
 */
async function openStanStorage(opts: StreamingOptions): Promise<StorageProvider> {
  // Clustered: the Raft log is what is kept; the channels are rebuilt from it in memory.
  if (opts.store === "memory" || opts.cluster) return new MemoryStorage();
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
    start(server: Server, ctx) {
      if (opts.cluster && !server.options.cluster) {
        return Promise.reject(new Error("streaming.cluster: clustered NATS Streaming needs a cluster {} block (its Raft traffic travels over the routes)"));
      }
      const log = (m: string) => ctx.logger.info(m);
      if (opts.ft_group === undefined) return serveStan(server, opts, log, onStart);
      return Promise.resolve(standBy(server, opts, opts.ft_group, log, onStart));
    },
  };
}

/**
 * Fault-tolerance mode: stand by (not serving STAN) until the active server's heartbeats stop and this server
 * takes the store lock, then open the store and serve.
 */
function standBy(server: Server, opts: StreamingOptions, group: string, log: (m: string) => void, onStart?: (stan: StanServer) => void) {
  const client = server.createInternalClient("STAN FT", {});
  const id = crypto.randomUUID();
  const lock = storeLock(opts.dir, id, FT_HB_INTERVAL * 3);
  let serving: { stop(): Promise<void> } | undefined;
  const ft = startFaultTolerance({
    subject: ftSubject(opts.cluster_id, group),
    id,
    clock: runtimeClock,
    interval: FT_HB_INTERVAL,
    missedAfter: FT_HB_INTERVAL * 3,
    subscribe(subject, handler) {
      const sid = client.subscribe(subject, (m) => handler(m.payload));
      return () => client.unsubscribe(sid);
    },
    publish: (subject, payload) => void client.publish(subject, payload),
    tryLock: () => lock.tryLock(),
    refreshLock: () => lock.refresh(),
    releaseLock: () => lock.release(),
    async activate() {
      serving = await serveStan(server, opts, log, onStart);
    },
    async deactivate() {
      const s = serving;
      serving = undefined;
      await s?.stop();
    },
    log,
  });
  return {
    async stop() {
      ft.stop();
      const s = serving;
      serving = undefined;
      await s?.stop();
      lock.release();
      client.close();
    },
  };
}

async function serveStan(server: Server, opts: StreamingOptions, log: (m: string) => void, onStart?: (stan: StanServer) => void) {
  // Channels are JetStream streams whose config goes through its schema.
  await loadJsSchemas();
  const storage = await openStanStorage(opts);
  const client = server.createInternalClient("STAN", {});
  const raft = opts.cluster ? startRaft(server, opts) : undefined;
  const stan = new StanServer(opts, {
    bus: client,
    storage,
    clock: runtimeClock,
    log,
    replication: raft
      ? {
        propose: (d) => raft.propose(d),
        applied: () => raft.applied(),
        snapshot: () => raft.snapshot(),
        compact: (index, data) => raft.compact(index, data),
        compactEvery: opts.cluster?.compact_every ?? 10_000,
      }
      : undefined,
  });
  try {
    stan.start();
    raft?.join(stan);
  } catch (err) {
    raft?.stop();
    stan.stop();
    storage.close();
    throw err;
  }
  log(`Starting NATS Streaming with cluster ID "${opts.cluster_id}" (${opts.store} store${opts.dir ? ` in ${opts.dir}` : ""})`);
  const sections = Object.entries(stanMonitorSections(stan));
  for (const [name, f] of sections) {
    server.monitorSections.set(`streaming/${name}`, (q) => f(q ?? new URLSearchParams()));
  }
  onStart?.(stan);
  return {
    stop() {
      for (const [name] of sections) server.monitorSections.delete(`streaming/${name}`);
      raft?.stop();
      stan.stop();
      storage.sync();
      storage.close();
      client.close();
      return Promise.resolve();
    },
  };
}

/** The STAN cluster's Raft group on this node: hosted and transported as JetStream's groups are. */
function startRaft(server: Server, opts: StreamingOptions) {
  const c = opts.cluster;
  if (c === undefined) throw new Error("stan: startRaft without streaming.cluster");
  const nrg = server.createInternalClient("$STAN NRG", { account: server.accounts.system.name });
  const transport = routeTransport({
    subscribe: (s, h, o) => nrg.subscribe(s, h, o),
    unsubscribe: (sid) => nrg.unsubscribe(sid),
    publish: (s, p, o) => nrg.publish(s, p, o),
  }, c.node_id, (b) => host.receive(b));
  const host = new RaftHost({ id: c.node_id, transport, random: Math.random });
  const groupId = `_stan_${opts.cluster_id}`;
  let group: ReturnType<RaftHost["addGroup"]> | undefined;
  let stopTicks: (() => void) | undefined;
  let stopped = false;
  return {
    propose(d: Uint8Array): number {
      if (stopped || group === undefined) return 0;
      const r = group.propose(d);
      return r.ok ? r.index : 0;
    },
    applied(): readonly Entry[] {
      return group ? group.node.log.slice(1, group.node.applied) : [];
    },
    snapshot(): Uint8Array | undefined {
      return group?.node.log.snapshot?.data;
    },
    compact(index: number, data: Uint8Array): void {
      group?.compact(index, data);
    },
    join(stan: StanServer): void {
      const storage: RaftStorage = c.log_path === ""
        ? new RaftMemoryStorage()
        : new RaftFileStorage(path.join(c.log_path, opts.cluster_id), 1_000);
      group = host.addGroup({
        group: groupId,
        storage,
        initial: { voters: c.peers, observers: [] },
        handlers: {
          apply: (e) => stan.applyEntry(e),
          restore: (snap) => stan.restoreSnapshot(snap.data),
          leaderChanged: (leader) => stan.leaderChanged(leader === c.node_id),
        },
      });
      stopTicks = runHost(host, 50);
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      stopTicks?.();
      host.flush();
      host.removeGroup(groupId);
      transport.close();
      nrg.close();
    },
  };
}
