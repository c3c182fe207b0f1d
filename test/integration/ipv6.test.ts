// IPv6 as nats-server 2.9.10 does it: the wildcard listener ("0.0.0.0") also takes IPv6 clients (a client that
// resolves localhost to ::1 connects), "-a ::" and "[::1]:port" listen strings work, and INFO, /varz and /connz
// report addresses the same way (IPv4 peers of a dual-stack socket as plain IPv4). Same steps, both servers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connectRaw } from "../helpers/raw.ts";
import { monitorJson, type ServerKind, startServer, type StartOptions, waitConnections, waitFor } from "../helpers/servers.ts";

type J = Record<string, unknown>;

/** Connects from each address, then reports what the server said about the listener and the peers. */
async function observe(kind: ServerKind, opts: StartOptions, from: string[]): Promise<J> {
  const s = await startServer(kind, { ...opts, monitor: true });
  try {
    const seen: J[] = [];
    for (const addr of from) {
      // The start-up probe's connection and the previous client's are gone first: /connz lists this one alone
      // (on a loaded machine either server may still count a closed connection for a while).
      await waitConnections(s, 0, 10_000);
      const c = await connectRaw(s.port, addr);
      try {
        await c.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        const text = await c.readUntil("PONG\r\n", 3000);
        const info = JSON.parse(text.slice(5, text.indexOf("\r\n"))) as J;
        const connz = await monitorJson<{ connections: Array<{ ip: string }> }>(s, "/connz");
        seen.push({ from: addr, host: info.host, client_ip: info.client_ip, connz_ip: connz.connections.map((x) => x.ip) });
      } finally {
        c.close();
      }
    }
    const varz = await monitorJson(s, "/varz");
    const cluster = varz.cluster as J;
    return { seen, varz_host: varz.host, connect_urls: varz.connect_urls, cluster_addr: cluster.addr };
  } finally {
    await s.stop();
  }
}

const cases: Array<[string, StartOptions, string[]]> = [
  ["0.0.0.0 takes IPv4 and IPv6 clients", { host: "0.0.0.0" }, ["127.0.0.1", "::1"]],
  ["-a :: reports IPv4 peers as IPv4", { host: "::" }, ["127.0.0.1", "::1"]],
  ["-a ::1 with a [::1]:port cluster listen", { host: "::1", conf: 'cluster {\n  name: c6\n  listen: "[::1]:-1"\n}\n' }, ["::1"]],
];

describe("IPv6 listeners and addresses: nats-server vs Petrel", () => {
  for (const [label, opts, from] of cases) {
    it(label, { timeout: 30_000 }, async () => {
      const ref = await observe("nats-server", opts, from);
      const ours = await observe("petrel", opts, from);
      assert.deepEqual(ours, ref);
    });
  }

  it("a cluster on a wildcard host advertises every reachable address of the host in connect_urls", { timeout: 30_000 }, async () => {
    const seed = `cluster {\n  name: cw\n  listen: "127.0.0.1:-1"\n}\n`;
    const member = (p: number) => `cluster {\n  name: cw\n  listen: "127.0.0.1:-1"\n  routes: ["nats-route://127.0.0.1:${p}"]\n}\n`;
    const advertised = async (kind: ServerKind, host: string) => {
      const a = await startServer(kind, { host, conf: seed, monitor: true });
      const b = await startServer(kind, { host, conf: member(a.clusterPort ?? 0), monitor: true });
      try {
        const urls = await waitFor(`${kind}: connect_urls of both`, async () => {
          const u = (await monitorJson(a, "/varz")).connect_urls as string[] | undefined;
          return u !== undefined && u.some((x) => x.endsWith(`:${b.port}`)) ? u : undefined;
        }, 10_000, 50);
        // Ports differ per run: name them by server.
        return urls.map((u) => u.replace(`:${a.port}`, ":A").replace(`:${b.port}`, ":B"));
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    };
    // The server's own URLs come first, in its interface order; the peers' follow in the order of a Go map
    // (nats-server's refCountedUrlSet), which varies run to run, so they compare as a set.
    const shape = (urls: string[]) => {
      const own = urls.filter((u) => u.endsWith(":A")).length;
      return { own: urls.slice(0, own), peers: urls.slice(own).sort() };
    };
    for (const host of ["0.0.0.0", "::"]) {
      const ref = await advertised("nats-server", host);
      assert.ok(ref.length >= 2 && ref.every((u) => !u.startsWith("127.") && !u.startsWith("[::1]")), ref.join(" "));
      assert.deepEqual(shape(await advertised("petrel", host)), shape(ref));
    }
  });

  it("the reference itself: dual-stack wildcard, plain IPv4 peers", async () => {
    const ref = await observe("nats-server", { host: "0.0.0.0" }, ["127.0.0.1", "::1"]);
    assert.deepEqual(ref.seen, [
      { from: "127.0.0.1", host: "0.0.0.0", client_ip: "127.0.0.1", connz_ip: ["127.0.0.1"] },
      { from: "::1", host: "0.0.0.0", client_ip: "::1", connz_ip: ["::1"] },
    ]);
  });
});
