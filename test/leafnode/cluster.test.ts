// Leafnodes on a two-server Petrel cluster: a leaf on each hub server, and messages and requests crossing
// leaf -> hub server -> route -> hub server -> leaf, each delivered once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, collect, markerThrough, td, te } from "../helpers/nats.ts";
import { routeUrl, startNode, stopAll, waitForMesh } from "../cluster/helpers.ts";
import { hasLeafInterest, leafUrl, startLeaf, waitLeafs } from "./helpers.ts";

describe("leaves on a Petrel cluster", () => {
  let h1: Petrel | undefined, h2: Petrel | undefined, l1: Petrel | undefined, l2: Petrel | undefined;
  let n1: NatsConnection, nl1: NatsConnection, nl2: NatsConnection;

  before(async () => {
    const leafnodes = { host: "127.0.0.1", port: -1 };
    h1 = await startNode({ name: "h1", extra: { leafnodes } });
    h2 = await startNode({ name: "h2", routes: [routeUrl(h1)], extra: { leafnodes } });
    await waitForMesh([h1, h2]);
    l1 = await startLeaf("l1", leafUrl(h1));
    l2 = await startLeaf("l2", leafUrl(h2));
    await waitLeafs(h1, 1);
    await waitLeafs(h2, 1);
    n1 = await connect({ servers: h1.clientUrl, reconnect: false });
    nl1 = await connect({ servers: l1.clientUrl, reconnect: false });
    nl2 = await connect({ servers: l2.clientUrl, reconnect: false });
  });

  after(async () => {
    await closeAll([n1, nl1, nl2]);
    await stopAll([l1, l2, h2, h1]);
  });

  it("carries a message from one leaf to the other across the route, once", async () => {
    const got = collect(nl2, "x.across");
    const onHub = collect(n1, "x.across");
    await nl2.flush();
    await waitFor("interest reached l1", () => hasLeafInterest(l1!, "x.across"), 5000, 10);
    nl1.publish("x.across", te.encode("1"));
    await got.until(1);
    await onHub.until(1);
    await markerThrough(nl1, nl2);
    await markerThrough(nl1, n1);
    assert.equal(got.msgs.length, 1);
    assert.equal(onHub.msgs.length, 1);
    assert.equal(td.decode(got.msgs[0].data), "1");
  });

  it("answers a request from a leaf with a service on the other leaf", async () => {
    const svc = nl1.subscribe("x.svc", { callback: (_e, m) => void m.respond(te.encode("from l1")) });
    await nl1.flush();
    await waitFor("interest reached l2", () => hasLeafInterest(l2!, "x.svc"), 5000, 10);
    const r = await nl2.request("x.svc", undefined, { timeout: 2000 });
    assert.equal(td.decode(r.data), "from l1");
    svc.unsubscribe();
  });
});
