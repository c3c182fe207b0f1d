// TLS between servers: routes (a 3-node Petrel cluster, and mixed clusters with nats-server 2.9 both ways) and
// gateways (Petrel and nats-server clusters joined over TLS). Routes and gateways do the handshake first, as
// nats-server does; a peer with a certificate from another CA, or speaking in the clear, never joins.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectRaw } from "../helpers/raw.ts";
import { monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, te, td } from "../helpers/nats.ts";
import { testCerts } from "../helpers/certs.ts";

const certs = testCerts();
const q = (p: string) => JSON.stringify(p);

interface Routez {
  server_id: string;
  num_routes: number;
  routes: { remote_id: string; subscriptions_list?: string[] }[];
}

function tlsBlock(opts: { cert?: string; key?: string; ca?: string; verify?: boolean; timeout?: number } = {}): string {
  return `  tls {\n    cert_file: ${q(opts.cert ?? certs.serverCert)}\n    key_file: ${q(opts.key ?? certs.serverKey)}\n    ca_file: ${q(opts.ca ?? certs.caFile)}\n    verify: ${opts.verify ?? true}\n    timeout: ${opts.timeout ?? 2}\n  }\n`;
}

function clusterConf(name: string, routes: number[], tls = tlsBlock()): string {
  const r = routes.length === 0 ? "" : `  routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]\n`;
  return `cluster {\n  name: ${name}\n  listen: "127.0.0.1:-1"\n${tls}${r}}\n`;
}

async function idOf(s: RunningServer): Promise<string> {
  return (await monitorJson<{ server_id: string }>(s, "/varz")).server_id;
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

async function waitForInterest(node: RunningServer, subject: string): Promise<void> {
  await waitFor(`remote interest on ${subject}`, async () => {
    const r = await monitorJson<Routez>(node, "/routez?subs=1");
    return r.routes.some((route) => (route.subscriptions_list ?? []).includes(subject));
  }, 5000, 25);
}

/** A subscriber on one node receives what a publisher on another sends. */
async function crosses(from: RunningServer, to: RunningServer, subject: string): Promise<void> {
  const sub = await connectTo(to);
  const pub = await connectTo(from);
  try {
    const got = collect(sub, subject);
    await sub.flush();
    await waitForInterest(from, subject);
    for (let i = 0; i < 10; i++) pub.publish(subject, te.encode(String(i)));
    await pub.flush();
    await got.until(10);
    assert.deepEqual(got.msgs.map((m) => td.decode(m.data)), Array.from({ length: 10 }, (_, i) => String(i)));
  } finally {
    await closeAll([sub, pub]);
  }
}

async function stopAll(servers: (RunningServer | undefined)[]): Promise<void> {
  await Promise.all(servers.map((s) => s?.stop()));
}

describe("routes over TLS", () => {
  it("3 Petrel nodes with verified certificates form a mesh and pass messages", { timeout: 60_000 }, async () => {
    const servers: RunningServer[] = [];
    try {
      const a = await startServer("petrel", { conf: clusterConf("tlsc", []), monitor: true });
      servers.push(a);
      const b = await startServer("petrel", { conf: clusterConf("tlsc", [a.clusterPort ?? 0]), monitor: true });
      const c = await startServer("petrel", { conf: clusterConf("tlsc", [a.clusterPort ?? 0]), monitor: true });
      servers.push(b, c);
      await waitForMesh([a, b, c]);
      const varz = await monitorJson<{ cluster: Record<string, unknown> }>(a, "/varz");
      assert.equal(varz.cluster.tls_required, true);
      assert.equal(varz.cluster.tls_verify, true);
      await crosses(b, c, "mesh.bc");
      await crosses(c, a, "mesh.ca");
    } finally {
      await stopAll(servers);
    }
  });

  for (const [seedKind, memberKind] of [["nats-server", "petrel"], ["petrel", "nats-server"]] as [ServerKind, ServerKind][]) {
    it(`mixed: ${memberKind} joins a ${seedKind} seed over TLS`, { timeout: 60_000 }, async () => {
      const servers: RunningServer[] = [];
      try {
        const seed = await startServer(seedKind, { conf: clusterConf("mixed", []), monitor: true });
        servers.push(seed);
        const member = await startServer(memberKind, { conf: clusterConf("mixed", [seed.clusterPort ?? 0]), monitor: true });
        servers.push(member);
        await waitForMesh([seed, member]);
        await crosses(seed, member, "mixed.a");
        await crosses(member, seed, "mixed.b");
      } finally {
        await stopAll(servers);
      }
    });
  }

  it("a member whose certificate another CA signed never joins; a plaintext peer is dropped", { timeout: 60_000 }, async () => {
    const servers: RunningServer[] = [];
    try {
      const seed = await startServer("petrel", { conf: clusterConf("tlsc", []), monitor: true });
      servers.push(seed);
      const bad = tlsBlock({ cert: certs.otherClientCert, key: certs.otherClientKey, verify: true });
      const intruder = await startServer("nats-server", { conf: clusterConf("tlsc", [seed.clusterPort ?? 0], bad), monitor: true });
      servers.push(intruder);
      // a good member joins after the intruder tried: the seed is unaffected
      const good = await startServer("petrel", { conf: clusterConf("tlsc", [seed.clusterPort ?? 0]), monitor: true });
      servers.push(good);
      await waitForMesh([seed, good]);
      await waitFor("the intruder's refusal in the seed's log", () => /TLS route handshake error/.test(seed.logs()), 5000);
      const r = await monitorJson<Routez>(seed, "/routez");
      assert.equal(r.num_routes, 1);
      const raw = await connectRaw(seed.clusterPort ?? 0);
      await raw.send('CONNECT {"verbose":false}\r\nPING\r\n');
      await raw.expectClosed(4000);
      assert.ok(!raw.text().includes("INFO"), "nothing is sent in the clear");
    } finally {
      await stopAll(servers);
    }
  });
});

function gatewayConf(name: string, remotes: { name: string; port: number }[]): string {
  const gws = remotes.map((r) => `    { name: ${r.name}, url: "nats://127.0.0.1:${r.port}" }`).join("\n");
  return `gateway {\n  name: ${name}\n  listen: "127.0.0.1:-1"\n${tlsBlock()}  gateways: [\n${gws}\n  ]\n}\n`;
}

async function gatewayPort(s: RunningServer): Promise<number> {
  const v = await monitorJson<{ gateway: { port: number } }>(s, "/varz");
  return v.gateway.port;
}

describe("gateways over TLS", () => {
  for (const [aKind, bKind] of [["petrel", "petrel"], ["nats-server", "petrel"], ["petrel", "nats-server"]] as [ServerKind, ServerKind][]) {
    it(`${aKind} cluster A and ${bKind} cluster B exchange messages`, { timeout: 60_000 }, async () => {
      const servers: RunningServer[] = [];
      const conns: NatsConnection[] = [];
      try {
        const a = await startServer(aKind, { conf: gatewayConf("A", []), monitor: true });
        servers.push(a);
        const b = await startServer(bKind, { conf: gatewayConf("B", [{ name: "A", port: await gatewayPort(a) }]), monitor: true });
        servers.push(b);
        await waitFor("gateways connected both ways", async () => {
          for (const s of [a, b]) {
            const g = await monitorJson<{ outbound_gateways: Record<string, unknown>; inbound_gateways: Record<string, unknown> }>(s, "/gatewayz");
            if (Object.keys(g.outbound_gateways ?? {}).length !== 1 || Object.keys(g.inbound_gateways ?? {}).length !== 1) return false;
          }
          return true;
        }, 15_000, 100);
        const sub = await connectTo(b);
        const pub = await connectTo(a);
        conns.push(sub, pub);
        const got = collect(sub, "gw.tls");
        await sub.flush();
        // gateways learn interest on demand: publish until the first message arrives, then count a batch
        await waitFor("a message across the gateway", async () => {
          pub.publish("gw.tls", te.encode("probe"));
          await pub.flush();
          return got.msgs.length > 0;
        }, 10_000, 100);
        const before = got.msgs.length;
        for (let i = 0; i < 5; i++) pub.publish("gw.tls", te.encode(`m${i}`));
        await pub.flush();
        await got.until(before + 5);
      } finally {
        await closeAll(conns);
        await stopAll(servers);
      }
    });
  }
});

describe("a gateway remote's own tls {}", () => {
  for (const [aKind, bKind] of [["petrel", "petrel"], ["nats-server", "petrel"], ["petrel", "nats-server"]] as [ServerKind, ServerKind][]) {
    it(`${bKind} B dials ${aKind} A with the remote's block, not the gateway-level one`, { timeout: 60_000 }, async () => {
      const servers: RunningServer[] = [];
      const conns: NatsConnection[] = [];
      try {
        const a = await startServer(aKind, { conf: gatewayConf("A", []), monitor: true });
        servers.push(a);
        // B's own block trusts only the other CA (it would refuse A); the remote entry for A trusts the right one
        const bLevel = tlsBlock({ ca: certs.otherCaFile, verify: false });
        const remote = `    {\n      name: A\n      url: "nats://127.0.0.1:${await gatewayPort(a)}"\n      tls {\n        cert_file: ${q(certs.serverCert)}\n        key_file: ${q(certs.serverKey)}\n        ca_file: ${q(certs.caFile)}\n      }\n    }`;
        const bConf = `gateway {\n  name: B\n  listen: "127.0.0.1:-1"\n${bLevel}  gateways: [\n${remote}\n  ]\n}\n`;
        const b = await startServer(bKind, { conf: bConf, monitor: true });
        servers.push(b);
        await waitFor("B's outbound gateway to A", async () => {
          const g = await monitorJson<{ outbound_gateways: Record<string, unknown> }>(b, "/gatewayz");
          return Object.keys(g.outbound_gateways ?? {}).length === 1;
        }, 15_000, 100);
        const sub = await connectTo(a);
        const pub = await connectTo(b);
        conns.push(sub, pub);
        const got = collect(sub, "gw.remote");
        await sub.flush();
        await waitFor("a message from B to A", async () => {
          pub.publish("gw.remote", te.encode("x"));
          await pub.flush();
          return got.msgs.length > 0;
        }, 10_000, 100);
      } finally {
        await closeAll(conns);
        await stopAll(servers);
      }
    });
  }
});

/**
 * A hub's leafnode listener over TLS. `timeout` (seconds) bounds each handshake from the hub's accept; a test of
 * a join gives it room (the default 2 s expired on every redial on a starved machine, and the leaf never joined).
 */
function hubConf(verify: boolean, timeout = 2): string {
  return `leafnodes {\n  listen: "127.0.0.1:-1"\n${tlsBlock({ verify, timeout })}}\n`;
}

function leafConf(
  hubPort: number,
  client: { cert?: string; key?: string; ca?: string; timeout?: number } = {},
  scheme = "nats-leaf",
): string {
  const c = client.cert !== undefined ? `      cert_file: ${q(client.cert)}\n      key_file: ${q(client.key ?? "")}\n` : "";
  const t = client.timeout !== undefined ? `        timeout: ${client.timeout}\n` : "";
  return `leafnodes {\n  remotes: [\n    {\n      url: "${scheme}://127.0.0.1:${hubPort}"\n      tls {\n${c}${t}        ca_file: ${q(client.ca ?? certs.caFile)}\n      }\n    }\n  ]\n}\n`;
}

/** Handshake deadline (seconds) of the join tests, both ends: a join is what they check, not the deadline. */
const JOIN_TLS_TIMEOUT = 10;

async function leafPort(s: RunningServer): Promise<number> {
  return (await monitorJson<{ leaf: { port: number } }>(s, "/varz")).leaf.port;
}

async function leafCount(s: RunningServer): Promise<number> {
  return (await monitorJson<{ leafnodes: number }>(s, "/leafz")).leafnodes ?? 0;
}

describe("leafnodes over TLS", () => {
  for (const [hubKind, leafKind] of [["petrel", "petrel"], ["nats-server", "petrel"], ["petrel", "nats-server"]] as [ServerKind, ServerKind][]) {
    it(`a ${leafKind} leaf with a client certificate joins a ${hubKind} hub that verifies it`, { timeout: 60_000 }, async () => {
      const servers: RunningServer[] = [];
      try {
        const hub = await startServer(hubKind, { conf: hubConf(true, JOIN_TLS_TIMEOUT), monitor: true });
        servers.push(hub);
        const leaf = await startServer(leafKind, {
          conf: leafConf(await leafPort(hub), { cert: certs.serverCert, key: certs.serverKey, timeout: JOIN_TLS_TIMEOUT }),
          monitor: true,
        });
        servers.push(leaf);
        await waitFor("the leaf connected", async () => (await leafCount(hub)) === 1 && (await leafCount(leaf)) === 1, 15_000, 100)
          .catch((e: Error) => {
            // Each attempt as both ends logged it (a handshake error names its cause: timeout, certificate, ...).
            const links = (s: RunningServer) => s.logs().split("\n").filter((l) => /lid:|leafnode/i.test(l)).slice(-12).join("\n");
            throw new Error(`${e.message}\nhub:\n${links(hub)}\nleaf:\n${links(leaf)}`);
          });
        const hubNc = await connectTo(hub);
        const leafNc = await connectTo(leaf);
        try {
          const up = collect(hubNc, "leaf.up");
          await hubNc.flush();
          await waitFor("a message from the leaf to the hub", async () => {
            leafNc.publish("leaf.up", te.encode("u"));
            await leafNc.flush();
            return up.msgs.length > 0;
          }, 10_000, 100);
          const down = collect(leafNc, "leaf.down");
          await leafNc.flush();
          await waitFor("a message from the hub to the leaf", async () => {
            hubNc.publish("leaf.down", te.encode("d"));
            await hubNc.flush();
            return down.msgs.length > 0;
          }, 10_000, 100);
        } finally {
          await closeAll([hubNc, leafNc]);
        }
      } finally {
        await stopAll(servers);
      }
    });
  }

  it("a hub that verifies refuses a leaf without a certificate; the hub's INFO says tls_required", { timeout: 60_000 }, async () => {
    const servers: RunningServer[] = [];
    try {
      const hub = await startServer("petrel", { conf: hubConf(true), monitor: true });
      servers.push(hub);
      const varz = await monitorJson<{ leaf: Record<string, unknown> }>(hub, "/varz");
      assert.equal(varz.leaf.tls_required, true);
      assert.equal(varz.leaf.tls_verify, true);
      assert.equal(varz.leaf.auth_timeout, 3);
      const raw = await connectRaw(await leafPort(hub));
      const info = await raw.readUntil(/INFO [^\r\n]*\r\n/);
      raw.close();
      assert.match(info, /"tls_required":true/);
      assert.match(info, /"tls_verify":true/);
      const leaf = await startServer("petrel", { conf: leafConf(await leafPort(hub)), monitor: true });
      servers.push(leaf);
      await waitFor("the refusal in the hub's log", () => /TLS leafnode handshake error/.test(hub.logs()), 10_000);
      assert.equal(await leafCount(hub), 0);
    } finally {
      await stopAll(servers);
    }
  });
});
