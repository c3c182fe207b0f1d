// Accounts across a cluster: a mixed cluster of Petrel and nats-server 2.9 (and two Petrels) carrying two
// accounts. RS+/RMSG name the account, each account's messages, queue groups and requests stay in it.
import { after, before, describe, it } from "node:test";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import type { Petrel } from "../../src/petrel.ts";
import { accountsConf, portOf, startPetrelWith, TWO_ACCOUNTS, twoAccountsAcross } from "./helpers.ts";

describe("accounts across a cluster", () => {
  let seed: RunningServer | undefined;
  let petrel: Petrel | undefined;
  let petrel2: Petrel | undefined;
  before(async () => {
    seed = await startServer("nats-server", { conf: `${accountsConf()}cluster {\n  name: acc\n  listen: "127.0.0.1:-1"\n}\n` });
    const routes = [`nats-route://127.0.0.1:${seed.clusterPort}`];
    petrel = await startPetrelWith({ cluster: { name: "acc", host: "127.0.0.1", port: -1, routes } }, { accounts: TWO_ACCOUNTS });
    petrel2 = await startPetrelWith({ cluster: { name: "acc", host: "127.0.0.1", port: -1, routes } }, { accounts: TWO_ACCOUNTS });
  });
  after(async () => {
    await petrel2?.stop();
    await petrel?.stop();
    await seed?.stop();
  });

  it("keeps two accounts apart from Petrel to nats-server", { timeout: 30_000 }, async () => {
    await twoAccountsAcross(portOf(petrel!.clientUrl), seed!.port);
  });

  it("keeps two accounts apart from nats-server to Petrel", { timeout: 30_000 }, async () => {
    await twoAccountsAcross(seed!.port, portOf(petrel!.clientUrl));
  });

  it("keeps two accounts apart between two Petrels", { timeout: 30_000 }, async () => {
    await twoAccountsAcross(portOf(petrel!.clientUrl), portOf(petrel2!.clientUrl));
  });
});
