/**
 * Starts replicated JetStream for the JetStream extension (jetstream_extension.ts), which imports this module only
 * when the server runs in a cluster: the controller, Raft and Raft's storage are not loaded by a single server.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { JetStreamCluster } from "../../src/jetstream/cluster/controller.ts";
import type { JetStream } from "../../src/jetstream/engine.ts";
import type { JsBus } from "../../src/jetstream/types.ts";
import { MemoryStorage as RaftMemoryStorage } from "../../src/raft/memory_storage.ts";
import type { RaftStorage } from "../../src/raft/storage.ts";
import type { Server } from "../../src/server/server.ts";
import { FileStorage as RaftFileStorage } from "../raft/file_storage.ts";

/** The replicated JetStream of `engines` (by account): Raft over routes through `nrg` (a system-account client), logs in `raftDir`. */
export function startCluster(
  server: Server,
  engines: ReadonlyMap<string, JetStream>,
  nrg: ReturnType<Server["createInternalClient"]>,
  raftDir: string,
  kind: string,
  syncInterval: "always" | number | undefined,
  peers: { expected: number; cluster: number },
): JetStreamCluster {
  const sysBus: JsBus = {
    subscribe: (s, h, o) => nrg.subscribe(s, h, o),
    unsubscribe: (sid) => nrg.unsubscribe(sid),
    publish: (s, p, o) => nrg.publish(s, p, o),
  };
  const peersFile = path.join(raftDir, "meta.peers.json");
  const memory = kind === "memory";
  const cluster = new JetStreamCluster({
    engines,
    serverName: server.serverName,
    clusterName: server.options.cluster?.name ?? "",
    tags: server.options.server_tags ?? [],
    sysBus,
    openStorage: (g): RaftStorage => memory ? new RaftMemoryStorage() : new RaftFileStorage(path.join(raftDir, g), syncInterval ?? 120_000, { asyncCompaction: true }),
    dropStorage: (g) => {
      if (!memory) fs.rmSync(path.join(raftDir, g), { recursive: true, force: true });
    },
    loadMetaPeers: () => {
      if (memory || !fs.existsSync(peersFile)) return undefined;
      return JSON.parse(fs.readFileSync(peersFile, "utf8")) as string[];
    },
    saveMetaPeers: (peers) => {
      if (memory) return;
      fs.mkdirSync(raftDir, { recursive: true });
      fs.writeFileSync(peersFile, JSON.stringify(peers));
    },
    random: Math.random,
    expectedPeers: peers.expected,
    clusterPeers: peers.cluster,
    routedServers: () => server.routedServers?.() ?? [],
    logger: server.logger,
  });
  return cluster;
}
