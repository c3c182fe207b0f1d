// In-process cluster nodes for the cluster tests: Petrel brokers on random loopback ports, routes included.
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { OptionLayer } from "../../src/config/normalize.ts";
import { createLogger, type Logger } from "../../src/log/logger.ts";
import { waitFor } from "../helpers/servers.ts";

export interface RoutezJson {
  server_id: string;
  num_routes: number;
  routes: { remote_id: string; did_solicit: boolean; subscriptions: number; subscriptions_list?: string[] }[];
}

export interface NodeOptions {
  name: string;
  cluster?: string;
  routes?: string[];
  /** Cluster listen port: -1 random (default), 0 none, or a fixed one (restarts). */
  clusterPort?: number;
  extra?: OptionLayer;
  clusterExtra?: NonNullable<OptionLayer["cluster"]>;
  /** To watch what the node logs (a refused route, say). */
  logger?: Logger;
}

/** A logger that keeps every line, for waiting on what a node logs. */
export function lineLogger(): { logger: Logger; lines: string[]; count(text: string): number } {
  const lines: string[] = [];
  const logger = createLogger({ debug: false, trace: false, logtime: false, pid: 0, write: (l) => void lines.push(l) });
  return { logger, lines, count: (text) => lines.filter((l) => l.includes(text)).length };
}

export function startNode(o: NodeOptions): Promise<Petrel> {
  return startPetrel({
    logger: o.logger,
    options: {
      server_name: o.name,
      host: "127.0.0.1",
      port: -1,
      ...o.extra,
      cluster: {
        name: o.cluster ?? "test",
        host: "127.0.0.1",
        port: o.clusterPort ?? -1,
        routes: o.routes ?? [],
        ...o.clusterExtra,
      },
    },
  });
}

export function routeUrl(p: Petrel): string {
  const u = p.ports().cluster?.[0];
  if (u === undefined) throw new Error("node has no route listener");
  return u;
}

export function clusterPort(p: Petrel): number {
  return Number(new URL(routeUrl(p)).port);
}

export async function monitor<T>(p: Petrel, path: string): Promise<T> {
  const res = await p.monitorFetch(new Request(`http://localhost${path}`));
  return (await res.json()) as T;
}

export function routez(p: Petrel, subs = false): Promise<RoutezJson> {
  return monitor<RoutezJson>(p, subs ? "/routez?subs=1" : "/routez");
}

/** Waits until every node has exactly one route to each of the others. */
export async function waitForMesh(nodes: Petrel[], timeoutMs = 8000): Promise<void> {
  const ids = nodes.map((n) => n.server.serverId);
  await waitFor(`a full mesh of ${nodes.length}`, async () => {
    for (const n of nodes) {
      const r = await routez(n);
      if (r.num_routes !== nodes.length - 1) return false;
      const remote = r.routes.map((x) => x.remote_id).sort();
      const want = ids.filter((id) => id !== n.server.serverId).sort();
      if (JSON.stringify(remote) !== JSON.stringify(want)) return false;
    }
    return true;
  }, timeoutMs);
}

/** Waits until `node` sees `count` remote subscriptions on `subject` across its routes. */
export async function waitForRemoteInterest(node: Petrel, subject: string, count: number, timeoutMs = 5000): Promise<void> {
  await waitFor(`${count} remote subscriptions on ${subject}`, async () => {
    const r = await routez(node, true);
    let n = 0;
    for (const route of r.routes) for (const s of route.subscriptions_list ?? []) if (s === subject) n++;
    return n === count;
  }, timeoutMs);
}

export async function stopAll(nodes: (Petrel | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop().catch(() => {})));
}
