// Petrel and nats-server 2.9 linked as leafnodes, both ways round: messages, requests and queue groups
// cross the link, and each side lists the other in /leafz.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { monitorJson, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, markerThrough, td, te } from "../helpers/nats.ts";
import { type LeafzJson, leafUrl, leafz, startHub, startLeaf, waitLeafs } from "./helpers.ts";

/** Waits until the interest `sub` has announced so far has crossed the link towards `pub`: a marker's interest,
 * announced after it on the same link, has (its marker arrived). */
const crossed = (pub: NatsConnection, sub: NatsConnection): Promise<void> => markerThrough(pub, sub);

function exercise(side: () => { hubNc: NatsConnection; leafNc: NatsConnection }): void {
  it("carries messages both ways", async () => {
    const { hubNc, leafNc } = side();
    const up = collect(hubNc, "mx.up");
    const down = collect(leafNc, "mx.down");
    await crossed(leafNc, hubNc);
    await crossed(hubNc, leafNc);
    leafNc.publish("mx.up", te.encode("u"));
    hubNc.publish("mx.down", te.encode("d"));
    assert.equal(td.decode((await up.until(1))[0].data), "u");
    assert.equal(td.decode((await down.until(1))[0].data), "d");
  });

  it("answers requests both ways and splits a queue group", async () => {
    const { hubNc, leafNc } = side();
    const a = hubNc.subscribe("mx.svc", { callback: (_e, m) => void m.respond(te.encode("hub")) });
    const b = leafNc.subscribe("mx.svc2", { callback: (_e, m) => void m.respond(te.encode("leaf")) });
    await crossed(leafNc, hubNc);
    await crossed(hubNc, leafNc);
    assert.equal(td.decode((await leafNc.request("mx.svc", undefined, { timeout: 2000 })).data), "hub");
    assert.equal(td.decode((await hubNc.request("mx.svc2", undefined, { timeout: 2000 })).data), "leaf");
    a.unsubscribe();
    b.unsubscribe();
    let n = 0;
    const qs = [hubNc, leafNc].map((nc) => nc.subscribe("mx.work", { queue: "w", callback: () => void n++ }));
    await crossed(leafNc, hubNc);
    await crossed(hubNc, leafNc);
    for (let i = 0; i < 10; i++) leafNc.publish("mx.work");
    for (let i = 0; i < 10; i++) hubNc.publish("mx.work");
    await waitFor("20 queue deliveries", () => n >= 20, 3000, 10);
    for (const [a, b] of [[leafNc, hubNc], [hubNc, leafNc], [leafNc, leafNc], [hubNc, hubNc]]) await markerThrough(a, b);
    assert.equal(n, 20);
    for (const s of qs) s.unsubscribe();
  });
}

describe("nats-server hub, Petrel leaf", () => {
  let hub: RunningServer | undefined;
  let leaf: Petrel | undefined;
  let hubNc: NatsConnection, leafNc: NatsConnection;

  before(async () => {
    hub = await startServer("nats-server", { conf: `leafnodes {\n  listen: "127.0.0.1:-1"\n}\n`, monitor: true });
    const m = /Listening for leafnode connections on ([\d.]+:\d+)/.exec(hub.logs());
    assert.ok(m, "nats-server leafnode port in its log");
    leaf = await startLeaf("petrel-leaf", `nats://${m[1]}`);
    await waitLeafs(leaf, 1, 8000);
    await waitFor("nats-server lists the leaf", async () => (await monitorJson<LeafzJson>(hub!, "/leafz")).leafnodes === 1, 5000, 20);
    hubNc = await connectTo(hub);
    leafNc = await connect({ servers: leaf.clientUrl, reconnect: false });
  });

  after(async () => {
    await closeAll([hubNc, leafNc]);
    await leaf?.stop();
    await hub?.stop();
  });

  exercise(() => ({ hubNc, leafNc }));

  it("is listed by nats-server's /leafz", async () => {
    const z = await monitorJson<LeafzJson>(hub!, "/leafz");
    // nats-server 2.9 has no leaf name in /leafz (2.10 added it).
    assert.equal(z.leafs[0].account, "$G");
    assert.ok(z.leafs[0].in_msgs > 0);
  });
});

describe("Petrel hub, nats-server leaf", () => {
  let hub: Petrel | undefined;
  let leaf: RunningServer | undefined;
  let hubNc: NatsConnection, leafNc: NatsConnection;

  before(async () => {
    hub = await startHub("petrel-hub");
    leaf = await startServer("nats-server", { conf: `server_name: ns-leaf\nleafnodes {\n  remotes: [ { url: "${leafUrl(hub)}" } ]\n}\n` });
    await waitLeafs(hub, 1, 8000);
    hubNc = await connect({ servers: hub.clientUrl, reconnect: false });
    leafNc = await connectTo(leaf);
  });

  after(async () => {
    await closeAll([hubNc, leafNc]);
    await leaf?.stop();
    await hub?.stop();
  });

  exercise(() => ({ hubNc, leafNc }));

  it("lists the nats-server leaf in /leafz", async () => {
    const z = await leafz(hub!);
    assert.equal(z.leafs[0].name, "ns-leaf");
  });
});
