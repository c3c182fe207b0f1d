// Queue groups across gateways go to the nearest cluster, as nats-server 2.9 does: with members in two remote
// clusters, each request goes to the cluster whose gateway has the lowest measured RTT, and to the other once the
// nearer one has no member left. The links to the remote clusters run through delaying proxies (60 ms
// and 200 ms round trips); the same steps against three nats-servers and against three Petrels.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket, connect as netConnect } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";

/** A TCP proxy that holds every chunk `oneWayMs` in each direction (order kept). */
async function delayProxy(targetPort: number, oneWayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket) => {
    from.on("data", (d: Uint8Array) => {
      const copy = new Uint8Array(d);
      setTimeout(() => {
        if (!to.destroyed) to.write(copy);
      }, oneWayMs);
    });
    from.on("close", () => setTimeout(() => to.destroy(), oneWayMs));
    from.on("error", () => to.destroy());
  };
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("proxy has no port");
  return {
    port: addr.port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const gatewayConf = (name: string, remotes: Array<[string, number]> = []) =>
  `gateway {\n  name: ${name}\n  listen: "127.0.0.1:-1"\n` +
  (remotes.length > 0
    ? `  gateways: [\n${remotes.map(([n, p]) => `    { name: ${n}, url: "nats://127.0.0.1:${p}" }`).join("\n")}\n  ]\n`
    : "") +
  "}\n";

async function gatewayPort(s: RunningServer): Promise<number> {
  const v = await monitorJson<{ gateway: { port: number } }>(s, "/varz");
  return v.gateway.port;
}

/** Who answers: counts of "B" and "C" over `n` requests from A. */
async function whoAnswers(nc: NatsConnection, n: number): Promise<Record<string, number>> {
  const count: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const m = await nc.request("svc", "", { timeout: 5000 });
    const who = new TextDecoder().decode(m.data);
    count[who] = (count[who] ?? 0) + 1;
  }
  return count;
}

async function scenario(kind: ServerKind): Promise<Record<string, unknown>> {
  const servers: RunningServer[] = [];
  const proxies: Array<{ close(): Promise<void> }> = [];
  const conns: NatsConnection[] = [];
  try {
    const b = await startServer(kind, { conf: gatewayConf("B"), monitor: true, args: ["-n", "B1"] });
    servers.push(b);
    const c = await startServer(kind, { conf: gatewayConf("C"), monitor: true, args: ["-n", "C1"] });
    servers.push(c);
    const toB = await delayProxy(await gatewayPort(b), 30);
    // C much farther than B, so that a noisy RTT sample on a loaded machine cannot swap them.
    const toC = await delayProxy(await gatewayPort(c), 100);
    proxies.push(toB, toC);
    const a = await startServer(kind, { conf: gatewayConf("A", [["B", toB.port], ["C", toC.port]]), monitor: true, args: ["-n", "A1"] });
    servers.push(a);

    const requester = await connect({ servers: a.url });
    const ncB = await connect({ servers: b.url });
    const ncC = await connect({ servers: c.url });
    conns.push(requester, ncB, ncC);
    const serve = (nc: NatsConnection, who: string) =>
      nc.subscribe("svc", {
        queue: "q",
        callback: (_e, m) => {
          m.respond(who);
        },
      });

    // C's member first: once A routes to it, A knows C's queue interest.
    serve(ncC, "C");
    await ncC.flush();
    await waitFor(`${kind}: A reaches C's member`, async () => {
      try {
        return (await requester.request("svc", "", { timeout: 1000 })).string() === "C";
      } catch {
        return false;
      }
    }, 15_000, 50);
    // Then B's (nearer) member: wait until A has sent one request there.
    const subB = serve(ncB, "B");
    await ncB.flush();
    await waitFor(`${kind}: A reaches B's member`, async () => (await requester.request("svc", "", { timeout: 5000 })).string() === "B", 15_000, 10);

    // Both links have a measured round trip (what the choice is made on).
    await waitFor(`${kind}: A measured both gateway RTTs`, async () => {
      const g = await monitorJson<{ outbound_gateways: Record<string, { connection?: { rtt?: string } }> }>(a, "/gatewayz");
      return ["B", "C"].every((n) => {
        const rtt = g.outbound_gateways[n]?.connection?.rtt;
        return rtt !== undefined && rtt !== "0s" && rtt !== "";
      });
    }, 30_000, 50);
    const both = await whoAnswers(requester, 40);
    // Failover: the nearer cluster's member leaves.
    subB.unsubscribe();
    await ncB.flush();
    // Until A has B's unsubscribe, a request still goes to B and goes unanswered: ask again soon, not after 5 s.
    await waitFor(`${kind}: A fails over to C`, async () => {
      try {
        return (await requester.request("svc", "", { timeout: 500 })).string() === "C";
      } catch {
        return false;
      }
    }, 15_000, 10);
    const afterB = await whoAnswers(requester, 10);
    return { both, afterB };
  } finally {
    for (const nc of conns) await nc.close().catch(() => {});
    await Promise.all(servers.map((s) => s.stop()));
    for (const p of proxies) await p.close();
  }
}

describe("queue groups across gateways: nearest cluster first", () => {
  it("requests go to the cluster with the lower gateway RTT, then fail over", { timeout: 90_000 }, async () => {
    const ref = await scenario("nats-server");
    assert.deepEqual(ref, { both: { B: 40 }, afterB: { C: 10 } }, "nats-server 2.9.10 itself");
    const ours = await scenario("petrel");
    assert.deepEqual(ours, ref);
  });
});
