// /varz of a two-server cluster (with a gateway) against nats-server 2.9.10: `connect_urls` lists every member's
// client URL (what tools watch to see a cluster form), `remotes` counts the other servers, and the cluster and
// gateway sections carry the same fields. A lone server reports neither.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";

type J = Record<string, unknown>;
const GATEWAY = `gateway {\n  name: C1\n  listen: "127.0.0.1:-1"\n}\n`;
const seed = `cluster {\n  name: C1\n  listen: "127.0.0.1:-1"\n}\n${GATEWAY}`;
const member = (port: number) =>
  `cluster {\n  name: C1\n  listen: "127.0.0.1:-1"\n  routes: ["nats-route://127.0.0.1:${port}"]\n}\n${GATEWAY}`;

/** What must agree between the two implementations, with ports and ids abstracted away. */
async function shape(kind: ServerKind): Promise<J> {
  const servers: RunningServer[] = [];
  try {
    const lone = await startServer(kind, { monitor: true });
    servers.push(lone);
    const v0 = await monitorJson(lone, "/varz");
    const single = { connect_urls: v0.connect_urls, routes: v0.routes, remotes: v0.remotes, cluster: v0.cluster };
    const a = await startServer(kind, { conf: seed, monitor: true, args: ["-n", "A"] });
    servers.push(a);
    const b = await startServer(kind, { conf: member(a.clusterPort ?? 0), monitor: true, args: ["-n", "B"] });
    servers.push(b);
    const own = (s: RunningServer) => `127.0.0.1:${s.port}`;
    const want = [own(a), own(b)].sort();
    // What a watching tool does: poll /varz until every member shows up.
    const views = await waitFor(`${kind}: connect_urls of both members`, async () => {
      const vs = [await monitorJson(a, "/varz"), await monitorJson(b, "/varz")];
      const ok = vs.every((v) => JSON.stringify([...(v.connect_urls as string[] ?? [])].sort()) === JSON.stringify(want));
      return ok ? vs : undefined;
    }, 10_000, 50);
    return {
      single,
      members: views.map((v, i) => ({
        own_first: (v.connect_urls as string[])[0] === own(i === 0 ? a : b),
        routes: v.routes,
        remotes: v.remotes,
        cluster: Object.keys(v.cluster as J).sort(),
        cluster_name: (v.cluster as J).name,
        gateway: Object.keys(v.gateway as J).sort(),
      })),
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

describe("/varz cluster fields: nats-server vs Petrel", () => {
  it("connect_urls, remotes and the cluster/gateway sections agree", { timeout: 45_000 }, async () => {
    const ref = await shape("nats-server");
    const ours = await shape("petrel");
    assert.deepEqual(ref.single, { connect_urls: undefined, routes: 0, remotes: 0, cluster: {} });
    assert.equal((ref.members as J[])[0].remotes, 1);
    assert.deepEqual(ours, ref);
  });
});

/** /varz gateway and leaf sections of linked servers, ports abstracted. */
async function linkSections(kind: ServerKind): Promise<J> {
  const servers: RunningServer[] = [];
  const start = async (conf: string) => {
    const s = await startServer(kind, { monitor: true, conf });
    servers.push(s);
    return s;
  };
  const ports = (o: unknown) =>
    JSON.parse(JSON.stringify(o, (k, v) =>
      typeof v === "number" && /port/.test(k) ? "P" : typeof v === "string" ? v.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:P") : v));
  try {
    const b = await start(`gateway {\n  name: B\n  listen: "127.0.0.1:-1"\n}\n`);
    const bPort = ((await monitorJson(b, "/varz")).gateway as J).port;
    const a = await start(
      `gateway {\n  name: A\n  listen: "127.0.0.1:-1"\n  gateways: [ { name: B, urls: ["nats://127.0.0.1:${bPort}"] } ]\n}\n`,
    );
    const hub = await start(`leafnodes {\n  listen: "127.0.0.1:-1"\n}\n`);
    const leafPort = ((await monitorJson(hub, "/varz")).leaf as J).port;
    const spoke = await start(`leafnodes {\n  remotes: [ { url: "nats://u:secret@127.0.0.1:${leafPort}" } ]\n}\n`);
    // Linked: B has heard of A (it would list a learned gateway if it listed those), the leafnode is up. The
    // spoke's /varz is read only once its link is up: nats-server 2.9.10 builds /varz's leaf section once, at
    // the first /varz, and names a remote's local account ($G) only once it has dialed (a /varz read earlier
    // would show the remote without it for good).
    await waitFor(`${kind}: gateway and leafnode links`, async () => {
      const gz = await monitorJson<{ inbound_gateways: J }>(b, "/gatewayz");
      const lz = (await monitorJson<{ leafnodes?: number }>(spoke, "/leafz")).leafnodes;
      return Object.keys(gz.inbound_gateways ?? {}).length > 0 && lz === 1;
    }, 10_000, 50);
    const v = await Promise.all([a, b, hub, spoke].map((s) => monitorJson(s, "/varz")));
    return ports({ a_gateway: v[0].gateway, b_gateway: v[1].gateway, hub_leaf: v[2].leaf, spoke_leaf: v[3].leaf });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

describe("/varz gateway and leaf sections: nats-server vs Petrel", () => {
  it("list configured gateways only, a leaf listener's fields only with a listener, remote URLs as host:port", { timeout: 45_000 }, async () => {
    const ref = await linkSections("nats-server");
    assert.deepEqual(ref.spoke_leaf, { remotes: [{ local_account: "$G", urls: ["127.0.0.1:P"] }] }, "no credentials shown");
    assert.deepEqual(await linkSections("petrel"), ref);
  });
});
