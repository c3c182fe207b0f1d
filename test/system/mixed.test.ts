// The system account in a mixed cluster: nats-server 2.9.10 and Petrel routed together, with the same
// accounts. A PING from a system user on either server is answered by both; connect events cross both ways.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { closeAll, connectTo, td } from "../helpers/nats.ts";
import { type RunningServer, startServer, testTargets, waitFor } from "../helpers/servers.ts";

type Json = Record<string, unknown>;

function conf(name: string, seedPort?: number): string {
  const routes = seedPort === undefined ? "" : `  routes: ["nats-route://127.0.0.1:${seedPort}"]\n`;
  return `server_name: ${name}
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  A: { users: [{ user: a, password: a }] }
}
system_account: SYS
cluster {
  name: mixed
  listen: "127.0.0.1:-1"
${routes}}
`;
}

async function requestAll(nc: NatsConnection, subject: string): Promise<Json[]> {
  const out: Json[] = [];
  const it = await nc.requestMany(subject, "", { maxWait: 1000 });
  for await (const m of it) out.push(JSON.parse(td.decode(m.data)) as Json);
  return out;
}

const both = testTargets().length === 2;

describe("system account in a mixed nats-server / Petrel cluster", { skip: both ? false : "needs both targets" }, () => {
  let ns: RunningServer;
  let petrel: RunningServer;
  const conns: NatsConnection[] = [];

  before(async () => {
    ns = await startServer("nats-server", { conf: conf("ns1") });
    petrel = await startServer("petrel", { conf: conf("pt1", ns.clusterPort) });
  }, { timeout: 30_000 });
  after(async () => {
    await closeAll(conns);
    await petrel?.stop();
    await ns?.stop();
  });

  for (const [from, pick] of [["Petrel", () => petrel], ["nats-server", () => ns]] as const) {
    it(`a PING from a system user on ${from} is answered by both servers`, { timeout: 20_000 }, async () => {
      const sys = await connectTo(pick(), { user: "sys", pass: "sys" });
      conns.push(sys);
      const answers = await waitFor("two answers", async () => {
        const r = await requestAll(sys, "$SYS.REQ.SERVER.PING");
        return r.length === 2 && r.every((a) => (a.statsz as Json).active_servers === 2) ? r : undefined;
      }, 15_000, 100);
      assert.deepEqual(answers.map((a) => (a.server as Json).name).sort(), ["ns1", "pt1"]);
      for (const a of answers) assert.equal((a.server as Json).cluster, "mixed");
      const connz = await requestAll(sys, "$SYS.REQ.ACCOUNT.SYS.CONNZ");
      assert.equal(connz.length, 2);
    });
  }

  it("connect events cross both ways", { timeout: 20_000 }, async () => {
    for (const [listenOn, connectOn, origin] of [[ns, petrel, "pt1"], [petrel, ns, "ns1"]] as const) {
      const sys = await connectTo(listenOn, { user: "sys", pass: "sys" });
      conns.push(sys);
      const seen: Json[] = [];
      sys.subscribe("$SYS.ACCOUNT.A.CONNECT", {
        callback: (_e, m) => {
          seen.push(JSON.parse(td.decode(m.data)) as Json);
        },
      });
      await sys.flush();
      await waitFor(`a CONNECT from ${origin}`, async () => {
        const a = await connectTo(connectOn, { user: "a", pass: "a" });
        await a.close();
        return seen.some((e) => (e.server as Json).name === origin);
      }, 10_000, 100);
    }
  });
});
