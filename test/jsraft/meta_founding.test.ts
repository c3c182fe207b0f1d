// Founding the meta group when the servers were configured with different routes, the usual seed layout: the seed
// has no routes (it expects only itself and founds a group alone at once), the others route to it. A server routed
// to the seed that heard another one first (both expecting two) founded a second group with it: two meta groups
// under one name that never merged (dashboard/browser's "a meta group of three" that never came, 2 of 6 runs of
// a copy at load 17). A server now waits, before founding, for the hello of every server it has a route to
// (bounded: a server without JetStream never says one). Hellos are delivered by hand here; time is a fake clock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { JetStreamCluster } from "../../src/jetstream/cluster/controller.ts";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import type { BusMsg, JsBus } from "../../src/jetstream/types.ts";
import { waitFor } from "../helpers/servers.ts";

const dec = new TextDecoder();

interface Hello {
  name: string;
  seen: string[];
  meta: string[];
}

/** A controller whose system bus records what it publishes; `deliver` hands it a message. */
function server(name: string, expected: number, routed: () => string[], now: () => number) {
  const subs = new Map<number, { subject: string; handler: (m: BusMsg) => void }>();
  const hellos: Hello[] = [];
  let sid = 0;
  const bus: JsBus = {
    subscribe: (subject, handler) => {
      subs.set(++sid, { subject, handler });
      return sid;
    },
    unsubscribe: (id) => void subs.delete(id),
    publish: (subject, payload) => {
      if (subject === "$JSC.HELLO") hellos.push(JSON.parse(dec.decode(payload)) as Hello);
    },
  };
  const c = new JetStreamCluster({
    engines: new Map(),
    serverName: name,
    clusterName: "c",
    sysBus: bus,
    openStorage: () => new MemoryStorage(),
    dropStorage: () => {},
    loadMetaPeers: () => undefined,
    saveMetaPeers: () => {},
    random: () => 0.5,
    now,
    tickMs: 5,
    expectedPeers: expected,
    clusterPeers: expected,
    routedServers: routed,
  });
  const deliver = (h: Hello) => {
    const payload = new TextEncoder().encode(JSON.stringify({ cluster: "c", tags: [], ...h }));
    for (const s of subs.values()) if (s.subject === "$JSC.HELLO") s.handler({ subject: "$JSC.HELLO", payload });
  };
  return { c, hellos, deliver };
}

describe("founding the meta group", () => {
  it("a server routed to the seed waits for the seed's hello before founding with another one, and joins the seed's group", async () => {
    let t = 1_000_000;
    const now = () => t;
    // bravo routes to alpha (the seed) and expects two servers; it hears charlie first.
    const bravo = server("bravo", 2, () => ["alpha", "charlie"], now);
    bravo.c.start();
    try {
      bravo.deliver({ name: "charlie", seen: ["bravo", "charlie"], meta: [] });
      // bravo answers a new peer's hello at once: it has seen charlie.
      await waitFor("bravo heard charlie", () => bravo.hellos.some((h) => h.seen.includes("charlie")), 5000, 5);
      // Its next periodic hello (250 ms on by its clock, sent from its tick) says whether it founded meanwhile.
      const before = bravo.hellos.length;
      t += 300;
      await waitFor("bravo's next hello", () => bravo.hellos.length > before, 5000, 5);
      assert.deepEqual(bravo.hellos.at(-1)!.meta, [], "bravo founded a meta group without hearing alpha, the server it routes to");
      // alpha's hello: it leads a group of its own (founded alone, as a seed does). bravo joins it (it starts
      // empty, to be added by alpha's leader) instead of founding another.
      bravo.deliver({ name: "alpha", seen: ["alpha", "bravo", "charlie"], meta: ["alpha"] });
      await waitFor("bravo joined alpha's group", () => bravo.c.metaGroup !== undefined, 5000, 5);
      assert.deepEqual([...bravo.c.metaGroup!.node.membership().voters], []);
    } finally {
      bravo.c.stop();
    }
  });

  it("a routed server that never says hello (no JetStream) delays the founding by the settle time only", async () => {
    let t = 1_000_000;
    const bravo = server("bravo", 2, () => ["alpha", "charlie"], () => t);
    bravo.c.start();
    try {
      bravo.deliver({ name: "charlie", seen: ["bravo", "charlie"], meta: [] });
      await waitFor("bravo heard charlie", () => bravo.hellos.some((h) => h.seen.includes("charlie")), 5000, 5);
      // Its clock on in steps of 300 ms, each seen through a tick of bravo's (a periodic hello is sent from it).
      for (let step = 0; step < 8 && bravo.c.metaGroup === undefined; step++) {
        const before = bravo.hellos.length;
        t += 300;
        await waitFor("bravo's next hello", () => bravo.hellos.length > before, 5000, 5);
        if (step < 4) assert.equal(bravo.c.metaGroup, undefined, `founded ${(step + 1) * 300} ms after hearing charlie, alpha unheard`);
      }
      assert.ok(bravo.c.metaGroup !== undefined, "founded once alpha stayed silent for the settle time");
      assert.deepEqual([...bravo.c.metaGroup!.node.membership().voters].sort(), ["bravo", "charlie"]);
    } finally {
      bravo.c.stop();
    }
  });
});
