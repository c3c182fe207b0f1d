// Accounts across gateways: a Petrel cluster "east" and a nats-server 2.9 cluster "west" linked as a
// supercluster, both with accounts A and B. Interest-only mode per account, RMSG naming the account, and
// each account's traffic kept to it, in both directions.
import { after, before, describe, it } from "node:test";
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
