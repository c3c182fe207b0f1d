// In-process JetStream clusters of Petrel nodes for the replicated JetStream tests: fixed route ports, so
// every node names all the others (as nats-server's documented three-node setup does).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { type JetStreamClient, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { startPetrel } from "../../mod.ts";
import type { Petrel, PetrelExtension } from "../../src/petrel.ts";
import { defaultExtensions } from "../../adapters/extensions.ts";
import { applyDefaults, type OptionLayer } from "../../src/config/normalize.ts";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { freePort, isAddrInUse } from "../helpers/ports.ts";

/**
 * The .conf of server `i` of a JetStream cluster of separate processes (kill -9, signals): `names[i]`, its store
 * under `dir`, route ports picked now, and routes naming every server. `extra` lines go at the top level.
 */
export async function processClusterConf(cluster: string, names: readonly string[], dir: string, extra = ""): Promise<(i: number) => string> {
  const ports: number[] = [];
  for (const _ of names) ports.push(await freePort());
  return (i) => `
server_name: ${names[i]}
${extra}jetstream { store_dir: "${join(dir, names[i])}" }
cluster {
  name: ${cluster}
  listen: 127.0.0.1:${ports[i]}
  routes: [${ports.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
`;
}

/** A JetStream cluster of Petrel processes (kill -9, signals), its store under one temp dir. */
export interface ProcessCluster {
  readonly dir: string;
  readonly names: readonly string[];
  /** Server i, or undefined while it is down. */
  readonly servers: Array<RunningServer | undefined>;
  /** Starts server i (again) on its .conf; it becomes `servers[i]`. */
  start(i: number): Promise<RunningServer>;
  /** Stops every server and removes the stores. */
  close(): Promise<void>;
}

/**
 * Starts one Petrel process per name on processClusterConf's configuration (`extra` lines at the top level). A
 * route port picked as free and taken meanwhile (the machine is shared) starts the cluster over on new ports.
 */
export async function startProcessCluster(cluster: string, names: readonly string[], extra = "", attempt = 1): Promise<ProcessCluster> {
  const dir = mkdtempSync(join(tmpdir(), `petrel-${cluster}-`));
  const conf = await processClusterConf(cluster, names, dir, extra);
  const servers: Array<RunningServer | undefined> = names.map(() => undefined);
  const pc: ProcessCluster = {
    dir,
    names,
    servers,
    async start(i) {
      const s = await startServer("petrel", { conf: conf(i), monitor: true });
      servers[i] = s;
      return s;
    },
    async close() {
      for (const s of servers) await s?.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const started = await Promise.allSettled(names.map((_, i) => pc.start(i)));
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await pc.close();
    const reason = (failed as PromiseRejectedResult).reason;
    if (attempt < 3 && isAddrInUse(reason)) return startProcessCluster(cluster, names, extra, attempt + 1);
    throw reason;
  }
  return pc;
}

/** Once the meta group answers through `nc`, creates stream `cfg` (retried while no leader places it). */
export async function addStreamWhenReady(nc: NatsConnection, cfg: Partial<StreamConfig> & { name: string }): Promise<JetStreamManager> {
  const jsm = await waitFor("the meta group answers", async () => await jetstreamManager(nc, { timeout: 1000 }), 20_000);
  await waitFor(`stream ${cfg.name} created`, async () => {
    await jsm.streams.add(cfg);
    return true;
  }, 20_000);
  return jsm;
}

export interface JsCluster {
  readonly dir: string;
  readonly names: string[];
  readonly ports: number[];
  readonly nodes: Array<Petrel | undefined>;
  start(i: number): Promise<Petrel>;
  stop(i: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts `n` JetStream nodes routed to each other (file storage under one temp dir). */
export async function startJsCluster(
  n: number,
  /** `routes: "earlier"`: each node routes to the ones started before it (gossip completes the mesh). */
  opts: {
    storage?: "file" | "memory";
    tags?: string[][];
    routes?: "all" | "earlier";
    leafnodes?: boolean;
    /** Wraps each of node i's extensions (a test watching what a server does as it starts or stops). */
    wrap?: (ext: PetrelExtension, i: number) => PetrelExtension;
  } = {},
  attempt = 1,
): Promise<JsCluster> {
  const dir = mkdtempSync(join(tmpdir(), "petrel-jsraft-"));
  const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const nodes: Array<Petrel | undefined> = new Array(n).fill(undefined);
  const start = async (i: number): Promise<Petrel> => {
    const options: OptionLayer = {
      server_name: names[i],
      ...(opts.tags?.[i] ? { server_tags: opts.tags[i] } : {}),
      host: "127.0.0.1",
      port: -1,
      jetstream: { enabled: true, store_dir: join(dir, names[i]), storage: opts.storage ?? "file" },
      cluster: {
        name: "jsc",
        host: "127.0.0.1",
        port: ports[i],
        routes: (opts.routes === "earlier" ? ports.slice(0, i) : ports).map((p) => `nats://127.0.0.1:${p}`),
      },
      // `leafnodes: true`: each node also takes leafnode connections (its URL in `ports().leafnode`).
      ...(opts.leafnodes ? { leafnodes: { host: "127.0.0.1", port: -1 } } : {}),
    };
    const wrap = opts.wrap;
    const extensions = wrap && defaultExtensions(applyDefaults(options), currentRuntime()).map((e) => wrap(e, i));
    const p = await startPetrel({ options, ...(extensions ? { extensions } : {}) });
    nodes[i] = p;
    return p;
  };
  const c: JsCluster = {
    dir,
    names,
    ports,
    nodes,
    start,
    async stop(i) {
      const p = nodes[i];
      nodes[i] = undefined;
      await p?.stop();
    },
    async close() {
      // The whole cluster goes: no leadership hand-off (the last server would wait ~1 s for peers already gone).
      for (let i = 0; i < n; i++) {
        const p = nodes[i];
        nodes[i] = undefined;
        await p?.stop({ handOff: false }).catch(() => {});
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < n; i++) await start(i);
  } catch (e) {
    await c.close();
    // A port picked as free was taken meanwhile (other test runs share the machine): start over on new ones.
    if (attempt < 3 && isAddrInUse(e)) return startJsCluster(n, opts, attempt + 1);
    throw e;
  }
  return c;
}

/** The meta group has a leader every running node agrees on. */
export async function waitMetaLeader(c: Pick<JsCluster, "nodes">, timeoutMs = 10_000): Promise<string> {
  let leader = "";
  let seen = "";
  await waitFor("a meta leader", async () => {
    const leaders = new Set<string | null>();
    const views: string[] = [];
    for (const p of c.nodes) {
      if (!p) continue;
      const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz"))).json() as {
        meta_cluster?: { leader?: string; cluster_size?: number };
      };
      const routes = await (await p.monitorFetch(new Request("http://localhost/routez"))).json() as { num_routes: number };
      leaders.add(jsz.meta_cluster?.leader ?? null);
      views.push(`${jsz.meta_cluster?.leader ?? "-"}/${jsz.meta_cluster?.cluster_size ?? 0}/routes ${routes.num_routes}`);
    }
    seen = views.join(", ");
    if (leaders.size !== 1) return false;
    const [l] = [...leaders];
    if (!l) return false;
    leader = l;
    return true;
  }, timeoutMs).catch((e: Error) => {
    throw new Error(`${e.message} (leader/size/routes per node: ${seen})`);
  });
  return leader;
}

/**
 * Publishes o1, o2, ... to orders.odd / orders.even, each with its Nats-Msg-Id and retried (up to 30 times) while
 * leaders change: every message is in the stream once, whatever happens. `sent` counts them.
 */
export function ordersPublisher(js: JetStreamClient): { publish(count: number): Promise<void>; readonly sent: number } {
  let n = 0;
  return {
    get sent() {
      return n;
    },
    async publish(count: number) {
      for (let i = 0; i < count; i++) {
        n++;
        for (let attempt = 0; ; attempt++) {
          try {
            await js.publish(`orders.${n % 2 === 0 ? "even" : "odd"}`, `o${n}`, { msgID: `o${n}`, timeout: 1000 });
            break;
          } catch (e) {
            if (attempt > 30) throw e;
          }
        }
      }
    },
  };
}

/**
 * Asks `stream`'s leader to step down (through `nc`) until another server leads it; `quick` (a manager with short
 * request timeouts: the API does not answer during the election) polls its info. A step-down hands the
 * leadership to a caught-up peer; should the old leader win the election again, it is asked again (5 times at
 * most). Resolves to the info naming the new leader, or undefined.
 */
export async function stepDownUntilNewLeader(nc: NatsConnection, quick: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  const before = (await waitFor(`${stream} info`, () => quick.streams.info(stream).catch(() => undefined), 10_000)).cluster?.leader;
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", { timeout: 3000 }).catch(() => undefined);
    if (r && (r.json() as { success?: boolean }).success !== true) continue;
    const info = await waitFor(`a new leader of ${stream}`, async () => {
      const i = await quick.streams.info(stream).catch(() => undefined);
      return i?.cluster?.leader && i.cluster.leader !== before ? i : undefined;
    }, 10_000).catch(() => undefined);
    if (info) return info;
  }
  return undefined;
}
