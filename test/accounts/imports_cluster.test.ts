// Imports across a cluster of nats-server 2.9.10 and two Petrels with the same accounts: a stream import
// reaches the importer's subscribers on every server exactly once, and a service import is answered by a
// responder on another server, whichever servers the publisher, subscriber, requester and responder use.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";
import { connectAs, IMPORTS_CONF } from "./helpers.ts";

const cluster = (routes: number[]) =>
  `cluster {\n  name: imp\n  listen: "127.0.0.1:-1"\n  routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]\n}\n`;

describe("imports across a mixed cluster", () => {
  const servers: RunningServer[] = [];
  const conns: NatsConnection[] = [];
  before(async () => {
    const seed = await startServer("nats-server", { conf: IMPORTS_CONF + cluster([]) });
    servers.push(seed);
    servers.push(await startServer("petrel", { conf: IMPORTS_CONF + cluster([seed.clusterPort!]) }));
    servers.push(await startServer("petrel", { conf: IMPORTS_CONF + cluster([seed.clusterPort!]) }));
  });
  after(async () => {
    await closeAll(conns);
    await Promise.all(servers.map((s) => s.stop()));
  });

  async function as(server: RunningServer, user: string): Promise<NatsConnection> {
    const nc = await connectAs(server.port, user, `p${user}`);
    conns.push(nc);
    return nc;
  }

  for (const [pi, si] of [[1, 0], [0, 1], [1, 2], [0, 0]]) {
    it(`stream import: published on server ${pi}, subscribed on server ${si}, delivered once`, { timeout: 20_000 }, async () => {
      const pub = await as(servers[pi], "a");
      const sub = await as(servers[si], "b");
      const got: string[] = [];
      sub.subscribe("fromA.feed.>", { callback: (_e, m) => void got.push(`${m.subject}:${td.decode(m.data)}`) });
      await sub.flush();
      const tag = `t${pi}${si}`;
      await waitFor("the import reaches the subscriber", async () => {
        pub.publish(`feed.${tag}.probe`, te.encode("probe"));
        await pub.flush();
        await new Promise((r) => setTimeout(r, 20));
        return got.length > 0;
      }, 10_000, 0);
      got.length = 0;
      for (let i = 0; i < 5; i++) pub.publish(`feed.${tag}`, te.encode(String(i)));
      pub.publish(`feed.${tag}.end`, te.encode("end"));
      await pub.flush();
      await waitFor("marker", () => got.includes(`fromA.feed.${tag}.end:end`), 5000, 5);
      await sub.flush();
      const real = got.filter((g) => !g.endsWith(":probe"));
      assert.deepEqual(real, [0, 1, 2, 3, 4].map((i) => `fromA.feed.${tag}:${i}`).concat(`fromA.feed.${tag}.end:end`));
    });
  }

  for (const [ri, si] of [[1, 0], [0, 1], [1, 2]]) {
    it(`service import: requested on server ${ri}, answered on server ${si}, once`, { timeout: 20_000 }, async () => {
      const responder = await as(servers[si], "a");
      const requester = await as(servers[ri], "b");
      let calls = 0;
      const svc = responder.subscribe("svc.echo", {
        callback: (_e, m) => {
          calls++;
          m.respond(te.encode(`re:${td.decode(m.data)}`));
        },
      });
      await responder.flush();
      await waitFor("the service is reachable", async () => {
        try {
          return td.decode((await requester.request("echo", te.encode("probe"), { timeout: 300 })).data) === "re:probe";
        } catch {
          return false;
        }
      }, 10_000, 0);
      await responder.flush();
      calls = 0;
      const r = await requester.request("echo", te.encode("hi"), { timeout: 2000 });
      assert.equal(td.decode(r.data), "re:hi");
      await responder.flush();
      assert.equal(calls, 1, "the request reached the service once");
      svc.unsubscribe();
      await responder.flush();
    });
  }

  it("stream import into a queue group spread over the cluster: each message to one member", { timeout: 20_000 }, async () => {
    const pub = await as(servers[1], "a");
    const subs = await Promise.all(servers.map((s) => as(s, "b")));
    const jobs: string[] = [];
    const ends = servers.map(() => [] as string[]);
    subs.forEach((nc, i) => {
      nc.subscribe("fromA.feed.jobs", { queue: "workers", callback: (_e, m) => void jobs.push(td.decode(m.data)) });
      nc.subscribe("fromA.feed.end", { callback: (_e, m) => void ends[i].push(td.decode(m.data)) });
    });
    await Promise.all(subs.map((nc) => nc.flush()));
    await waitFor("every server's subscriber reached", async () => {
      pub.publish("feed.end", te.encode("probe"));
      await pub.flush();
      await new Promise((r) => setTimeout(r, 20));
      return ends.every((e) => e.includes("probe"));
    }, 10_000, 0);
    await waitFor("the queue group reached", async () => {
      pub.publish("feed.jobs", te.encode("probe"));
      await pub.flush();
      await new Promise((r) => setTimeout(r, 20));
      return jobs.includes("probe");
    }, 10_000, 0);
    await pub.flush();
    jobs.length = 0;
    for (let i = 0; i < 10; i++) pub.publish("feed.jobs", te.encode(`j${i}`));
    pub.publish("feed.end", te.encode("end"));
    await pub.flush();
    // Jobs went out before the marker on every path: once each server's subscriber has it, every copy is in.
    await waitFor("the marker on every server", () => ends.every((e) => e.includes("end")), 5000, 5);
    const real = jobs.filter((j) => j !== "probe").sort();
    assert.deepEqual(real, Array.from({ length: 10 }, (_, i) => `j${i}`).sort());
  });
});
