// The system account across a 3-node cluster, the same test against nats-server and Petrel: a PING reaches
// every server through the routes and each one answers; a client connecting on one server is announced to a
// system-account listener on another; a PING by server id reaches only that server.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { closeAll, connectTo, td } from "../helpers/nats.ts";
import { forEachServer, monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";

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
  name: sysc
  listen: "127.0.0.1:-1"
${routes}}
`;
}

async function requestAll(nc: NatsConnection, subject: string, body = "", maxWait = 1000): Promise<Json[]> {
  const out: Json[] = [];
  const it = await nc.requestMany(subject, body, { maxWait });
  for await (const m of it) out.push(JSON.parse(td.decode(m.data)) as Json);
  return out;
}

forEachServer(["nats-server", "petrel"], (kind: ServerKind) => {
  const servers: RunningServer[] = [];
  const conns: NatsConnection[] = [];
  let sys: NatsConnection;
  let ids: string[] = [];

  before(async () => {
    const seed = await startServer(kind, { monitor: true, conf: conf("n1") });
    servers.push(seed);
    const rest = await Promise.all([
      startServer(kind, { monitor: true, conf: conf("n2", seed.clusterPort) }),
      startServer(kind, { monitor: true, conf: conf("n3", seed.clusterPort) }),
    ]);
    servers.push(...rest);
    ids = await Promise.all(servers.map(async (s) => (await monitorJson<{ server_id: string }>(s, "/varz")).server_id));
    sys = await connectTo(servers[0], { user: "sys", pass: "sys" });
    conns.push(sys);
  });
  after(async () => {
    await closeAll(conns);
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("every server answers $SYS.REQ.SERVER.PING", { timeout: 30_000 }, async () => {
    // Until the mesh is complete a server may answer with fewer than its two routes.
    const routes = (a: Json) => ((a.statsz as Json).routes as Json[] | undefined)?.length ?? 0;
    const answers = await waitFor("three PING answers from a full mesh", async () => {
      const r = await requestAll(sys, "$SYS.REQ.SERVER.PING");
      // Every server counts all three as active.
      return r.length === 3 && r.every((a) => routes(a) === 2 && (a.statsz as Json).active_servers === 3) ? r : undefined;
    }, 15_000, 200);
    const servers = answers.map((a) => a.server as Json);
    assert.deepEqual(servers.map((s) => s.id).sort(), [...ids].sort());
    assert.deepEqual(servers.map((s) => s.name).sort(), ["n1", "n2", "n3"]);
    for (const s of servers) assert.equal(s.cluster, "sysc");
    for (const a of answers) assert.equal(typeof (a.statsz as Json).connections, "number");
  });

  it("PING.<endpoint> gathers all servers; <id>.<endpoint> reaches one; server_name filters", { timeout: 30_000 }, async () => {
    const varz = await requestAll(sys, "$SYS.REQ.SERVER.PING.VARZ");
    assert.deepEqual(varz.map((v) => (v.data as Json).server_name).sort(), ["n1", "n2", "n3"]);
    const one = await sys.request(`$SYS.REQ.SERVER.${ids[2]}.CONNZ`, "", { timeout: 3000 });
    assert.equal(((JSON.parse(td.decode(one.data)) as Json).server as Json).id, ids[2]);
    const filtered = await requestAll(sys, "$SYS.REQ.SERVER.PING.HEALTHZ", JSON.stringify({ server_name: "n2" }));
    assert.deepEqual(filtered.map((f) => (f.server as Json).name), ["n2"]);
  });

  it("a client of account A connecting on n3 is announced to a system listener on n1", { timeout: 30_000 }, async () => {
    const seen: Json[] = [];
    const sub = sys.subscribe("$SYS.ACCOUNT.A.CONNECT", {
      callback: (_e, m) => {
        seen.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    await sys.flush();
    // The listener's interest reaches n3 through the route shortly: connect until an announcement arrives.
    await waitFor("a CONNECT event from n3", async () => {
      const a = await connectTo(servers[2], { user: "a", pass: "a", name: "far" });
      await a.close();
      return seen.length > 0;
    }, 10_000, 100);
    sub.unsubscribe();
    const ev = seen[0];
    assert.equal(ev.type, "io.nats.server.advisory.v1.client_connect");
    assert.equal((ev.server as Json).name, "n3");
    assert.equal((ev.client as Json).acc, "A");
    assert.equal((ev.client as Json).name, "far");
  });

  it("a stopping server says $SYS.SERVER.<id>.SHUTDOWN to the others", { timeout: 30_000 }, async () => {
    const seen: Json[] = [];
    const sub = sys.subscribe(`$SYS.SERVER.${ids[2]}.SHUTDOWN`, {
      callback: (_e, m) => {
        seen.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    await sys.flush();
    // A request answered by n3 travels the same route after the subscription: n3 knows the listener then.
    const health = await sys.request(`$SYS.REQ.SERVER.${ids[2]}.HEALTHZ`, "", { timeout: 3000 });
    assert.equal(((JSON.parse(td.decode(health.data)) as Json).server as Json).id, ids[2]);
    await servers[2].stop();
    await waitFor("the SHUTDOWN event", () => seen.length > 0, 10_000);
    sub.unsubscribe();
    assert.equal(seen[0].id, ids[2]);
    assert.equal(seen[0].name, "n3");
  });
});
