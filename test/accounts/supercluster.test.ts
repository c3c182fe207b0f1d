// Accounts across gateways: a Petrel cluster "east" and a nats-server 2.9 cluster "west" linked as a
// supercluster, both with accounts A and B. Interest-only mode per account, RMSG naming the account, and
// each account's traffic kept to it, in both directions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { monitorJson, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { accountsConf, portOf, startPetrelWith, TWO_ACCOUNTS, twoAccountsAcross } from "./helpers.ts";

interface Gatewayz {
  port: number;
  outbound_gateways: Record<string, unknown>;
  inbound_gateways: Record<string, unknown[]>;
}

describe("accounts across a supercluster of Petrel and nats-server", () => {
  let west: RunningServer | undefined;
  let east: Petrel | undefined;
  before(async () => {
    west = await startServer("nats-server", { conf: `${accountsConf()}gateway {\n  name: west\n  listen: "127.0.0.1:-1"\n}\n`, monitor: true });
    const g = await monitorJson<Gatewayz>(west, "/gatewayz");
    east = await startPetrelWith(
      { gateway: { name: "east", host: "127.0.0.1", port: -1, gateways: [{ name: "west", urls: [`nats://127.0.0.1:${g.port}`] }] } },
      { accounts: TWO_ACCOUNTS },
    );
    await waitFor("links both ways", async () => {
      const w = await monitorJson<Gatewayz>(west!, "/gatewayz");
      return w.outbound_gateways.east !== undefined && (w.inbound_gateways.east?.length ?? 0) > 0;
    }, 15_000, 50);
  });
  after(async () => {
    await east?.stop();
    await west?.stop();
  });

  it("keeps two accounts apart from Petrel to nats-server", { timeout: 30_000 }, async () => {
    await twoAccountsAcross(portOf(east!.clientUrl), west!.port);
  });

  it("keeps two accounts apart from nats-server to Petrel", { timeout: 30_000 }, async () => {
    await twoAccountsAcross(west!.port, portOf(east!.clientUrl));
  });
});

describe("an account created after two Petrel clusters linked (operator mode creates them at sign-in)", () => {
  let west: Petrel | undefined;
  let east: Petrel | undefined;
  before(async () => {
    west = await startPetrelWith({ gateway: { name: "west", host: "127.0.0.1", port: -1 } }, {});
    const gw = (west.server.monitorSections.get("gatewayz")?.() as { port: number }).port;
    east = await startPetrelWith(
      { gateway: { name: "east", host: "127.0.0.1", port: -1, gateways: [{ name: "west", urls: [`nats://127.0.0.1:${gw}`] }] } },
      {},
    );
    await waitFor("linked both ways", () => {
      const e = east!.server.monitorSections.get("gatewayz")?.() as Gatewayz;
      const w = west!.server.monitorSections.get("gatewayz")?.() as Gatewayz;
      return e.outbound_gateways.west !== undefined && w.outbound_gateways.east !== undefined;
    }, 15_000, 50);
  });
  after(async () => {
    await east?.stop();
    await west?.stop();
  });

  it("carries it once both sides have it, even after a message of it was refused (A- then A+)", { timeout: 20_000 }, async () => {
    const enc = new TextEncoder();
    const pub = east!.server.createInternalClient("pub", { account: "LATE" });
    // West has no LATE yet: it answers A- and east stops sending LATE.
    pub.publish("late.x", enc.encode("early"));
    const got: string[] = [];
    const sub = west!.server.createInternalClient("sub", { account: "LATE" });
    sub.subscribe("late.>", (m) => got.push(new TextDecoder().decode(m.payload)));
    await waitFor("LATE crosses", () => {
      pub.publish("late.x", enc.encode("probe"));
      return got.includes("probe");
    }, 10_000, 20);
    const other = west!.server.createInternalClient("other", { account: "$G" });
    const inG: string[] = [];
    other.subscribe("late.>", (m) => inG.push(new TextDecoder().decode(m.payload)));
    pub.publish("late.x", enc.encode("end"));
    await waitFor("marker", () => got.includes("end"), 5000, 5);
    assert.deepEqual(inG, [], "a message of LATE reached $G");
    pub.close();
    sub.close();
    other.close();
  });
});
