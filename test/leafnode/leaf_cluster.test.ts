// A leaf cluster (two routed servers, each with its own link to the hub), differential with nats-server 2.9.10:
// a spoke tells the hub only of its own clients' interest and does not forward the hub's messages over its
// routes, so every message is delivered once, whichever side publishes, queue groups included.
import { it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { forEachServer, monitorJson, type RunningServer, waitFor, startServer } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";

/** Publish probes until `seen` reports one arrived, so interest has crossed every link. */
async function probe(pub: NatsConnection, subject: string, seen: () => boolean): Promise<void> {
  await waitFor(`interest in ${subject}`, async () => {
    pub.publish(subject, te.encode("probe"));
    await pub.flush();
    await new Promise((r) => setTimeout(r, 20));
    return seen();
  }, 10_000, 0);
}

forEachServer(["nats-server", "petrel"], (kind) => {
  it("delivers once through a leaf cluster whose servers each link to the hub", { timeout: 40_000 }, async () => {
    const servers: RunningServer[] = [];
    const conns: NatsConnection[] = [];
    try {
      const hub = await startServer(kind, { conf: `leafnodes { listen: "127.0.0.1:-1" }\n`, monitor: true });
      servers.push(hub);
      const lp = (await monitorJson<{ leaf: { port: number } }>(hub, "/varz")).leaf.port;
      const remote = `leafnodes { remotes: [{url: "nats-leaf://127.0.0.1:${lp}"}] }\n`;
      const l1 = await startServer(kind, { conf: `cluster { name: lc, listen: "127.0.0.1:-1" }\n${remote}` });
      servers.push(l1);
      servers.push(await startServer(kind, { conf: `cluster { name: lc, listen: "127.0.0.1:-1", routes: ["nats-route://127.0.0.1:${l1.clusterPort}"] }\n${remote}` }));
      const l2 = servers[2];
      await waitFor("two leafnode links", async () => (await monitorJson<{ leafnodes: number }>(hub, "/leafz")).leafnodes === 2, 10_000, 50);
      const [onL2, onL1, onHub, pubL1] = await Promise.all([l2, l1, hub, l1].map((s) => connect({ servers: `127.0.0.1:${s.port}`, reconnect: false })));
      conns.push(onL2, onL1, onHub, pubL1);
      const down: string[] = [];
      const up: string[] = [];
      const work: string[] = [];
      onL2.subscribe("down", { callback: (_e, m) => void down.push(td.decode(m.data)) });
      onL2.subscribe("work", { queue: "g", callback: (_e, m) => void work.push(td.decode(m.data)) });
      onL1.subscribe("work", { queue: "g", callback: (_e, m) => void work.push(td.decode(m.data)) });
      onHub.subscribe("up", { callback: (_e, m) => void up.push(td.decode(m.data)) });
      await Promise.all([onL2.flush(), onL1.flush(), onHub.flush()]);
      await probe(onHub, "down", () => down.includes("probe"));
      await probe(pubL1, "up", () => up.includes("probe"));
      await probe(onHub, "work", () => work.includes("probe"));
      const real = (l: string[]) => l.filter((x) => x !== "probe");

      for (let i = 0; i < 10; i++) onHub.publish("down", te.encode(`d${i}`));
      for (let i = 0; i < 10; i++) onHub.publish("work", te.encode(`w${i}`));
      onHub.publish("down", te.encode("end"));
      for (let i = 0; i < 10; i++) pubL1.publish("up", te.encode(`u${i}`));
      pubL1.publish("up", te.encode("end"));
      await onHub.flush();
      await pubL1.flush();
      await waitFor("markers", () => down.includes("end") && up.includes("end"), 5000, 5);
      await waitFor("ten jobs", () => real(work).length >= 10, 5000, 5);
      // The jobs were published before the marker on the same connection; a duplicate would have come with them.
      onHub.publish("down", te.encode("end2"));
      await onHub.flush();
      await waitFor("second marker", () => down.includes("end2"), 5000, 5);
      assert.deepEqual(real(down), [...Array.from({ length: 10 }, (_, i) => `d${i}`), "end", "end2"]);
      assert.deepEqual(real(up), [...Array.from({ length: 10 }, (_, i) => `u${i}`), "end"]);
      assert.deepEqual(real(work).sort(), Array.from({ length: 10 }, (_, i) => `w${i}`).sort());
    } finally {
      await closeAll(conns);
      for (const s of servers.reverse()) await s.stop();
    }
  });
});
