// Clusters of real processes: Petrel started from flags and from conf files, kill -9 under traffic and a
// restart, and mixed clusters of Petrel and nats-server 2.9 passing messages, queue groups and requests.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, markerThrough, markersBetween, te, td } from "../helpers/nats.ts";

interface Routez {
  server_id: string;
  num_routes: number;
  routes: { remote_id: string; subscriptions_list?: string[] }[];
}

function idOf(s: RunningServer): Promise<string> {
  return monitorJson<{ server_id: string }>(s, "/varz").then((v) => v.server_id);
}

async function waitForMesh(nodes: RunningServer[], timeoutMs = 10_000): Promise<void> {
  const ids = await Promise.all(nodes.map(idOf));
  await waitFor(`a full mesh of ${nodes.length}`, async () => {
    for (let i = 0; i < nodes.length; i++) {
      const r = await monitorJson<Routez>(nodes[i], "/routez");
      const remote = r.routes.map((x) => x.remote_id).sort();
      const want = ids.filter((_, j) => j !== i).sort();
      if (r.num_routes !== nodes.length - 1 || JSON.stringify(remote) !== JSON.stringify(want)) return false;
    }
    return true;
  }, timeoutMs, 50);
}

async function waitForInterest(node: RunningServer, subject: string, count: number): Promise<void> {
  await waitFor(`${count} remote subscriptions on ${subject}`, async () => {
    const r = await monitorJson<Routez>(node, "/routez?subs=1");
    let n = 0;
    for (const route of r.routes) for (const s of route.subscriptions_list ?? []) if (s === subject) n++;
    return n >= count;
  }, 5000, 25);
}

const ROUTE_AUTH = `  authorization {\n    user: ruser\n    password: "T0pS3cr3t"\n    timeout: 2\n  }\n`;

function seedConf(cluster: string, auth = false): string {
  return `cluster {\n  name: ${cluster}\n  listen: "127.0.0.1:-1"\n${auth ? ROUTE_AUTH : ""}}\n`;
}

function memberConf(cluster: string, seedPort: number, auth = false): string {
  const creds = auth ? "ruser:T0pS3cr3t@" : "";
  return `cluster {\n  name: ${cluster}\n  listen: "127.0.0.1:-1"\n${auth ? ROUTE_AUTH : ""}  routes: [\n    "nats-route://${creds}127.0.0.1:${seedPort}"\n  ]\n}\n`;
}

async function stopAll(servers: (RunningServer | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}

describe("petrel processes", () => {
  it("3 nodes from flags: kill -9 one under traffic, the others lose nothing, the restarted node rejoins", { timeout: 45_000 }, async () => {
    const servers: (RunningServer | undefined)[] = [];
    const conns: NatsConnection[] = [];
    try {
      const a = await startServer("petrel", { monitor: true, args: ["--cluster", "nats://127.0.0.1:-1", "--cluster_name", "flags3"] });
      servers.push(a);
      const seed = `nats://127.0.0.1:${a.clusterPort}`;
      const memberArgs = ["--cluster", "nats://127.0.0.1:-1", "--cluster_name", "flags3", "--routes", seed];
      const [b, c] = await Promise.all([
        startServer("petrel", { monitor: true, args: memberArgs }),
        startServer("petrel", { monitor: true, args: memberArgs }),
      ]);
      servers.push(b, c);
      await waitForMesh([a, b, c]);

      const pub = await connectTo(a);
      const subB = await connectTo(b);
      conns.push(pub, subB);
      const onB = collect(subB, "load");
      await subB.flush();
      await waitForInterest(a, "load", 1);

      // A client that only knows C learns A and B from INFO and moves there when C is killed.
      const onlyC = await connect({ servers: c.url, reconnectTimeWait: 50, maxReconnectAttempts: 100, timeout: 5000 });
      conns.push(onlyC);
      await waitFor("client learns the cluster", () => (onlyC.info?.connect_urls ?? []).length === 3);
      const survivor = collect(onlyC, "after.kill");
      await onlyC.flush();

      // Traffic A -> B keeps flowing while C dies.
      let seq = 0;
      const publishSome = async (n: number) => {
        for (let i = 0; i < n; i++) pub.publish("load", te.encode(String(seq++)));
        await pub.flush();
      };
      await publishSome(200);
      const killed = c.kill9();
      await publishSome(200);
      await killed;
      await publishSome(200);
      await onB.until(600, 5000);
      await markerThrough(pub, subB);
      assert.equal(onB.msgs.length, 600);
      assert.deepEqual(onB.msgs.map((m) => Number(td.decode(m.data))), Array.from({ length: 600 }, (_, i) => i));
      await waitFor("A and B drop the dead route", async () => (await monitorJson<Routez>(a, "/routez")).num_routes === 1 && (await monitorJson<Routez>(b, "/routez")).num_routes === 1);
      await waitFor("the client reconnected to A or B", () => onlyC.info !== undefined && onlyC.info.port !== c.port && !onlyC.isClosed(), 8000);
      await onlyC.flush();
      await waitForInterest(a, "after.kill", onlyC.info?.port === a.port ? 0 : 1);
      pub.publish("after.kill", te.encode("still here"));
      await pub.flush();
      await survivor.until(1, 5000);

      // Restart with the same arguments: it rejoins the full mesh (B learns of it through A).
      const c2 = await startServer("petrel", { monitor: true, args: memberArgs });
      servers.push(c2);
      await waitForMesh([a, b, c2]);
      const subC = await connectTo(c2);
      conns.push(subC);
      const onC = collect(subC, "load");
      await subC.flush();
      await waitForInterest(b, "load", 1);
      const fromB = await connectTo(b);
      conns.push(fromB);
      fromB.publish("load", te.encode("hello C"));
      await fromB.flush();
      await onC.until(1);
      assert.equal(td.decode(onC.msgs[0].data), "hello C");
    } finally {
      await closeAll(conns);
      await stopAll(servers);
    }
  });

  it("5 nodes from conf files (route authorization on) pointing at one seed form a full mesh and fan out once per node", { timeout: 45_000 }, async () => {
    const servers: RunningServer[] = [];
    const conns: NatsConnection[] = [];
    try {
      const seed = await startServer("petrel", { monitor: true, conf: seedConf("five", true) });
      servers.push(seed);
      // Gossiped routes between members authenticate with the members' own cluster credentials.
      const others = await Promise.all([1, 2, 3, 4].map(() => startServer("petrel", { monitor: true, conf: memberConf("five", seed.clusterPort as number, true) })));
      servers.push(...others);
      await waitForMesh(servers, 15_000);
      const subs = [];
      for (const s of servers) {
        const nc = await connectTo(s);
        conns.push(nc);
        subs.push(collect(nc, "fan.out"));
        await nc.flush();
      }
      const last = servers[4];
      await waitForInterest(last, "fan.out", 4);
      conns[4].publish("fan.out", te.encode("x"));
      await conns[4].flush();
      for (const s of subs) await s.until(1);
      // Every node delivered its copy: a second copy, straight or forwarded, is ahead of these markers.
      await markersBetween(conns);
      assert.deepEqual(subs.map((s) => s.msgs.length), [1, 1, 1, 1, 1]);
      const varz = await monitorJson<{ routes: number; cluster: { name: string; urls?: string[] } }>(last, "/varz");
      assert.equal(varz.routes, 4);
      assert.equal(varz.cluster.name, "five");
      assert.deepEqual(varz.cluster.urls, [`127.0.0.1:${seed.clusterPort}`]);
    } finally {
      await closeAll(conns);
      await stopAll(servers);
    }
  });
});

describe("mixed clusters of Petrel and nats-server", () => {
  it("pass messages, queue groups and request/reply both ways", { timeout: 45_000 }, async () => {
    const servers: RunningServer[] = [];
    const conns: NatsConnection[] = [];
    try {
      // nats-server seed; two Petrel nodes point at it; another nats-server points at a Petrel node.
      const seed = await startServer("nats-server", { monitor: true, conf: seedConf("mixed") });
      servers.push(seed);
      const [p1, p2] = await Promise.all([
        startServer("petrel", { monitor: true, conf: memberConf("mixed", seed.clusterPort as number) }),
        startServer("petrel", { monitor: true, conf: memberConf("mixed", seed.clusterPort as number) }),
      ]);
      servers.push(p1, p2);
      const n2 = await startServer("nats-server", { monitor: true, conf: memberConf("mixed", p1.clusterPort as number) });
      servers.push(n2);
      await waitForMesh(servers, 15_000);
      const kinds: ServerKind[] = servers.map((s) => s.kind);
      assert.deepEqual(kinds, ["nats-server", "petrel", "petrel", "nats-server"]);
      const nc = await Promise.all(servers.map((s) => connectTo(s)));
      conns.push(...nc);
      const [cSeed, cP1, cP2, cN2] = nc;

      // Plain subscribers on every node; a publisher on each kind.
      const subs = nc.map((c) => collect(c, "mix.plain"));
      await Promise.all(nc.map((c) => c.flush()));
      for (const s of servers) await waitForInterest(s, "mix.plain", 3);
      cN2.publish("mix.plain", te.encode("from nats-server"));
      cP2.publish("mix.plain", te.encode("from petrel"));
      await cN2.flush();
      await cP2.flush();
      for (const s of subs) await s.until(2);
      await markersBetween(nc);
      assert.deepEqual(subs.map((s) => s.msgs.length), [2, 2, 2, 2]);

      // Queue group with members only on a nats-server node and a Petrel node: once per message.
      const qN = collect(cN2, "mix.q", { queue: "g" });
      const qP = collect(cP2, "mix.q", { queue: "g" });
      await cN2.flush();
      await cP2.flush();
      await waitForInterest(seed, "mix.q", 2);
      await waitForInterest(p1, "mix.q", 2);
      for (let i = 0; i < 30; i++) cSeed.publish("mix.q", te.encode(`s${i}`));
      for (let i = 0; i < 30; i++) cP1.publish("mix.q", te.encode(`p${i}`));
      await cSeed.flush();
      await cP1.flush();
      await waitFor("60 queue deliveries", () => qN.msgs.length + qP.msgs.length >= 60);
      await markersBetween(nc);
      assert.equal(qN.msgs.length + qP.msgs.length, 60);
      assert.equal(new Set([...qN.msgs, ...qP.msgs].map((m) => td.decode(m.data))).size, 60);

      // Request/reply: Petrel requester to a nats-server responder, and the other way round.
      const onN2 = cN2.subscribe("mix.svc.n", { callback: (_e, m) => void m.respond(te.encode(`n:${td.decode(m.data)}`)) });
      const onP2 = cP2.subscribe("mix.svc.p", { callback: (_e, m) => void m.respond(te.encode(`p:${td.decode(m.data)}`)) });
      await cN2.flush();
      await cP2.flush();
      await waitForInterest(p1, "mix.svc.n", 1);
      await waitForInterest(seed, "mix.svc.p", 1);
      const r1 = await cP1.request("mix.svc.n", te.encode("hi"), { timeout: 3000 });
      assert.equal(td.decode(r1.data), "n:hi");
      const r2 = await cSeed.request("mix.svc.p", te.encode("yo"), { timeout: 3000 });
      assert.equal(td.decode(r2.data), "p:yo");
      onN2.unsubscribe();
      onP2.unsubscribe();
    } finally {
      await closeAll(conns);
      await stopAll(servers);
    }
  });
});
