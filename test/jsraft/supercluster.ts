// In-process JetStream superclusters for the tests: clusters of Petrel nodes (routes within a cluster, fixed
// ports), every cluster joined to every other by gateways; one meta group spans them all.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { freePort, isAddrInUse } from "../helpers/ports.ts";

export interface JsSupercluster {
  readonly dir: string;
  /** Node names, `<first letter of the cluster><index>` (e1, e2, w1, w2). */
  readonly names: string[];
  /** The cluster of each node. */
  readonly clusterOf: string[];
  readonly nodes: Array<Petrel | undefined>;
  node(name: string): Petrel;
  close(): Promise<void>;
}

/** Starts `perCluster` JetStream nodes in each of `clusters` (names must start with different letters). */
export async function startJsSupercluster(
  clusters: string[],
  perCluster: number,
  opts: { tags?: (name: string) => string[] | undefined; storage?: "file" | "memory" } = {},
  attempt = 1,
): Promise<JsSupercluster> {
  const dir = mkdtempSync(join(tmpdir(), "petrel-jssc-"));
  const routePorts: number[][] = [];
  const gwPorts: number[][] = [];
  for (let c = 0; c < clusters.length; c++) {
    routePorts.push([]);
    gwPorts.push([]);
    for (let i = 0; i < perCluster; i++) {
      routePorts[c].push(await freePort());
      gwPorts[c].push(await freePort());
    }
  }
  const names: string[] = [];
  const clusterOf: string[] = [];
  const nodes: Array<Petrel | undefined> = [];
  const sc: JsSupercluster = {
    dir,
    names,
    clusterOf,
    nodes,
    node(name) {
      const p = nodes[names.indexOf(name)];
      if (!p) throw new Error(`node ${name} is not running`);
      return p;
    },
    async close() {
      for (let i = 0; i < nodes.length; i++) {
        const p = nodes[i];
        nodes[i] = undefined;
        await p?.stop({ handOff: false }).catch(() => {}); // the whole supercluster goes: no hand-off
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let c = 0; c < clusters.length; c++) {
      for (let i = 0; i < perCluster; i++) {
        const name = `${clusters[c][0]}${i + 1}`;
        const tags = opts.tags?.(name);
        names.push(name);
        clusterOf.push(clusters[c]);
        nodes.push(await startPetrel({
          options: {
            server_name: name,
            ...(tags ? { server_tags: tags } : {}),
            host: "127.0.0.1",
            port: -1,
            jetstream: { enabled: true, store_dir: join(dir, name), storage: opts.storage ?? "file" },
            cluster: {
              name: clusters[c],
              host: "127.0.0.1",
              port: routePorts[c][i],
              routes: routePorts[c].map((p) => `nats://127.0.0.1:${p}`),
            },
            gateway: {
              name: clusters[c],
              host: "127.0.0.1",
              port: gwPorts[c][i],
              gateways: clusters.map((n, k) => ({ name: n, urls: gwPorts[k].map((p) => `nats://127.0.0.1:${p}`) })),
            },
          },
        }));
      }
    }
  } catch (e) {
    await sc.close();
    // A port picked as free was taken meanwhile (other test runs share the machine): start over on new ones.
    if (attempt < 3 && isAddrInUse(e)) {
      return startJsSupercluster(clusters, perCluster, opts, attempt + 1);
    }
    throw e;
  }
  return sc;
}

/** Every node agrees on one meta leader and a meta group of every node; returns the leader's name. */
export async function waitSuperMeta(sc: JsSupercluster, timeoutMs = 20_000): Promise<string> {
  let leader = "";
  let seen = "";
  await waitFor("one meta group across the supercluster", async () => {
    const views: string[] = [];
    const leaders = new Set<string>();
    for (const p of sc.nodes) {
      if (!p) continue;
      const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz"))).json() as {
        meta_cluster?: { leader?: string; cluster_size?: number };
      };
      const m = jsz.meta_cluster;
      views.push(`${m?.leader ?? "-"}/${m?.cluster_size ?? 0}`);
      leaders.add(m?.leader && m.cluster_size === sc.nodes.filter(Boolean).length ? m.leader : "");
    }
    seen = views.join(", ");
    if (leaders.size !== 1 || leaders.has("")) return false;
    leader = [...leaders][0];
    return true;
  }, timeoutMs).catch((e: Error) => {
    throw new Error(`${e.message} (leader/size per node: ${seen})`);
  });
  return leader;
}
