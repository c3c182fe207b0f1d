// A leaf whose hub goes away keeps dialing it; when a hub is back on that port the link comes back with the
// leaf's existing interest announced again.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { closeAll, collect, td, te } from "../helpers/nats.ts";
import { flushInterest, leafUrl, leafz, startHub, startLeaf, waitLeafs } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";

describe("leaf reconnecting to its hub", () => {
  const nodes: (Petrel | undefined)[] = [];
  const conns: (NatsConnection | undefined)[] = [];

  after(async () => {
    await closeAll(conns);
    for (const n of nodes.reverse()) await n?.stop();
  });

  it("relinks and re-announces interest after the hub restarts", async () => {
    const hub = await startHub("hub-1");
    nodes.push(hub);
    const url = leafUrl(hub);
    const leaf = await startLeaf("leaf", url);
    nodes.push(leaf);
    await waitLeafs(hub, 1);
    const nl = await connect({ servers: leaf.clientUrl, reconnect: false });
    conns.push(nl);
    const got = collect(nl, "again.x");
    await flushInterest(nl, hub, "again.x");

    await hub.stop();
    await waitFor("leaf lost its hub", async () => (await leafz(leaf)).leafnodes === 0, 3000, 20);
    const hub2 = await startPetrel({
      options: { server_name: "hub-2", host: "127.0.0.1", port: -1, leafnodes: { host: "127.0.0.1", port: Number(new URL(url).port) } },
    });
    nodes.push(hub2);
    await waitLeafs(hub2, 1, 5000);
    const nh = await connect({ servers: hub2.clientUrl, reconnect: false });
    conns.push(nh);
    await waitFor("interest announced again", () => hub2.server.accounts.global.sublist.match("again.x").psubs.some((s) => s.owner.kind === "leaf"), 3000, 10);
    nh.publish("again.x", te.encode("back"));
    assert.equal(td.decode((await got.until(1))[0].data), "back");
  });
});
