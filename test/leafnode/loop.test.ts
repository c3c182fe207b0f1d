// Two Petrels that are each other's hub: the second link closes a cycle, is refused through loop detection
// ($LDS.<id> coming back), and is not redialed at once; the first link keeps working.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startPetrel } from "../../mod.ts";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { LeafNodes } from "../../src/leafnode/leafnode.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { leafUrl, leafz } from "./helpers.ts";

describe("a leafnode cycle", () => {
  let a: Petrel | undefined, b: Petrel | undefined;

  before(async () => {
    a = await startPetrel({ options: { server_name: "a", host: "127.0.0.1", port: -1, leafnodes: { host: "127.0.0.1", port: -1 } } });
    b = await startPetrel({
      options: { server_name: "b", host: "127.0.0.1", port: -1, leafnodes: { host: "127.0.0.1", port: -1, remotes: [{ urls: [leafUrl(a)] }] } },
    });
    await waitFor("b linked to a", async () => (await leafz(a!)).leafnodes === 1, 5000, 20);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("keeps one link when a second would close a loop", async () => {
    // a dials b as well (a second remote, started by hand: b's port was not known when a started).
    const back = new LeafNodes(a!.server, { host: "127.0.0.1", port: 0, no_advertise: true, remotes: [{ urls: [leafUrl(b!)] }] }, {
      transport: currentRuntime().tcp,
      logger: a!.server.logger,
    });
    const first = (await leafz(b!)).leafs.map((l) => l.port);
    assert.equal(first.length, 1);
    try {
      await back.start();
      // The cycle-closing link is refused, and its next dial is put off for 30 s (not the ordinary 1 s redial:
      // with that, the delay seen here would be 1000 and this wait would time out).
      await waitFor("the cycle-closing link gone, its redial put off 30 s", () => back.conns.size === 0 && back.redialDelays[0] === 30_000, 5000, 10);
      await waitFor("b back to its first link only", async () => (await leafz(b!)).leafnodes === 1, 5000, 10);
      assert.deepEqual((await leafz(b!)).leafs.map((l) => l.port), first, "b keeps its first link");
      assert.equal((await leafz(a!)).leafnodes, 1, "a keeps its first link");
    } finally {
      await back.stop();
    }
  });
});
