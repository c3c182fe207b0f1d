// Five servers that all name each other (and themselves) in `cluster.routes`, started one after another as
// a deployment would: every pair dials both ways at once, so duplicate routes are resolved on both ends while
// gossip adds more. Each round must reach a full mesh (one route per pair) within a bounded wait.
import { test } from "node:test";
import type { Petrel } from "../../src/petrel.ts";
import { freePort, isAddrInUse } from "../helpers/ports.ts";
import { startNode, stopAll, waitForMesh } from "./helpers.ts";

const N = 5;
const ROUNDS = 5;

test("five servers naming each other reach a full route mesh, round after round", async () => {
  let addrInUse = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const ports: number[] = [];
    for (let i = 0; i < N; i++) ports.push(await freePort());
    const routes = ports.map((p) => `nats://127.0.0.1:${p}`);
    const nodes: Petrel[] = [];
    try {
      try {
        for (let i = 0; i < N; i++) nodes.push(await startNode({ name: `m${i + 1}`, routes, clusterPort: ports[i] }));
      } catch (e) {
        // A port picked as free was taken meanwhile (the machine is shared): this round starts over on new ones.
        if (addrInUse < 3 && isAddrInUse(e)) {
          addrInUse++;
          round--;
          continue;
        }
        throw e;
      }
      await waitForMesh(nodes, 10_000).catch((e: Error) => {
        throw new Error(`round ${round}: ${e.message}`);
      });
    } finally {
      await stopAll(nodes);
    }
  }
});
