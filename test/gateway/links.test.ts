// The life of gateway links: credentials checked on the gateway port (both directions use the shared
// gateway authorization), a wrong password refused, reject_unknown_cluster, a remote cluster restarted on
// the same address dialed again, and a third cluster joining through gossip.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { createLogger } from "../../src/log/logger.ts";
import { closeAll, collect, te } from "../helpers/nats.ts";
import { gatewayUrl, gatewayz, startGatewayNode, stopAll, waitForGatewayInterest, waitForLinks } from "./helpers.ts";

const AUTH = { authorization: { user: "gw", password: "s3cret", timeout: 2000 } };

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe("gateway links", () => {
  const nodes: Petrel[] = [];
  const conns: NatsConnection[] = [];
  after(async () => {
    await closeAll(conns);
    await stopAll(nodes);
  });

  it("check credentials both ways and refuse a wrong password", async () => {
    const west = await startGatewayNode("west", [], { gateway: { ...AUTH } });
    nodes.push(west);
    const east = await startGatewayNode("east", [{ name: "west", urls: [gatewayUrl(west)] }], { gateway: { ...AUTH } });
    nodes.push(east);
    await waitForLinks(east, ["west"]);
    await waitForLinks(west, ["east"]);
    const rogue = await startGatewayNode("rogue", [{ name: "west", urls: [gatewayUrl(west).replace("nats://", "nats://gw:wrong@")] }]);
    nodes.push(rogue);
    // The rogue's link is up from west's INFO until west reads the CONNECT and refuses it; it keeps retrying.
    // A link that were accepted would stay up, and this would time out.
    await waitFor("the rogue refused", async () =>
      (await gatewayz(west)).inbound_gateways.rogue === undefined && (await gatewayz(rogue)).outbound_gateways.west === undefined, 5000, 20);
    await stopAll([rogue, east, west]);
  });

  it("refuses clusters it was not told of with reject_unknown_cluster", async () => {
    const lines: string[] = [];
    const log = createLogger({ debug: false, trace: false, logtime: false, pid: 0, write: (l) => void lines.push(l) });
    const west = await startGatewayNode("west", [{ name: "east", urls: ["nats://127.0.0.1:1"] }], { gateway: { reject_unknown_cluster: true } }, log);
    nodes.push(west);
    const other = await startGatewayNode("other", [{ name: "west", urls: [gatewayUrl(west)] }]);
    nodes.push(other);
    // West reads other's CONNECT and refuses it; other dials again and is refused again (the refusal holds).
    const refusals = () => lines.filter((l) => l.includes(`Connection to gateway "west" rejected`)).length;
    await waitFor("other refused twice", () => refusals() >= 2, 5000, 10);
    assert.equal((await gatewayz(west)).inbound_gateways.other, undefined);
    await stopAll([other, west]);
  });

  it("dials a restarted remote again, and interest flows anew", async () => {
    let west = await startGatewayNode("west");
    nodes.push(west);
    const port = portOf(gatewayUrl(west));
    const east = await startGatewayNode("east", [{ name: "west", urls: [gatewayUrl(west)] }]);
    nodes.push(east);
    await waitForLinks(east, ["west"]);
    await west.stop();
    await waitFor("east notices west is gone", async () => (await gatewayz(east)).outbound_gateways.west === undefined);
    west = await startGatewayNode("west", [], { gateway: { port } });
    nodes.push(west);
    await waitForLinks(east, ["west"], 8000);
    await waitForLinks(west, ["east"], 8000);
    assert.equal((await gatewayz(east)).outbound_gateways.west.connection.name, west.server.serverId);
    const nw = await connect({ servers: west.clientUrl, reconnect: false, timeout: 5000 });
    const ne = await connect({ servers: east.clientUrl, reconnect: false, timeout: 5000 });
    conns.push(nw, ne);
    const c = collect(nw, "again");
    await nw.flush();
    await waitForGatewayInterest(east, "again");
    ne.publish("again", te.encode("x"));
    await c.until(1);
  });

  it("links a third cluster to both others through gossip", async () => {
    const a = await startGatewayNode("a");
    nodes.push(a);
    const b = await startGatewayNode("b", [{ name: "a", urls: [gatewayUrl(a)] }]);
    nodes.push(b);
    await waitForLinks(a, ["b"]);
    // c knows only a; a tells it of b.
    const c = await startGatewayNode("c", [{ name: "a", urls: [gatewayUrl(a)] }]);
    nodes.push(c);
    await waitForLinks(c, ["a", "b"]);
    await waitForLinks(b, ["a", "c"]);
    await waitForLinks(a, ["b", "c"]);
  });
});
