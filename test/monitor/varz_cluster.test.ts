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
