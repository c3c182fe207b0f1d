// Petrel JetStream servers whose every route crosses a proxy (test/helpers/link_proxy.ts), so that a test can
// hold, slow or cut what one server sends another: leader_forward and create_races.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { type LinkProxy, startLinkProxy } from "../helpers/link_proxy.ts";

export interface ProxiedCluster {
  /** `n1`, `n2`, ... in order. */
  readonly nodes: Petrel[];
  /** `dial[i][j]`: the proxy server i dials server j through (undefined for i = j). */
  readonly dial: LinkProxy[][];
  /** Stops the servers (no hand-off), closes the proxies and removes the stores. */
  close(): Promise<void>;
}

/** `n` servers of cluster `name`, file storage in a fresh directory. */
export async function startProxiedCluster(n: number, name: string): Promise<ProxiedCluster> {
  const dir = mkdtempSync(join(tmpdir(), `petrel-${name}-`));
  const nodes: Petrel[] = [];
  const dial: LinkProxy[][] = [];
  // Each server's route port is known once it started (port -1: no port picked ahead that another may take).
  const ports: number[] = new Array(n).fill(0);
  for (let i = 0; i < n; i++) {
    dial.push([]);
    for (let j = 0; j < n; j++) dial[i].push(i === j ? undefined! : await startLinkProxy(() => ports[j]));
  }
  for (let i = 0; i < n; i++) {
    nodes.push(await startPetrel({
      options: {
        server_name: `n${i + 1}`,
        host: "127.0.0.1",
        port: -1,
        jetstream: { enabled: true, store_dir: join(dir, `n${i + 1}`), storage: "file" },
        cluster: { name, host: "127.0.0.1", port: -1, routes: dial[i].filter((p) => p !== undefined).map((p) => p.url) },
      },
    }));
    ports[i] = Number(new URL(nodes[i].ports().cluster![0]).port);
  }
  return {
    nodes,
    dial,
    async close() {
      for (const p of nodes) await p.stop({ handOff: false }).catch(() => {});
      for (const row of dial) for (const p of row) await p?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
