// Interest a JetStream leader creates (a stream's subjects, a consumer's acks) must be known in another cluster
// before the leader's own answers get there. The other cluster learns this cluster's interest from the one
// server it dialed (e1 here), which hears it from the leader (e2) over a route; the leader's answers (the stream
// create response, a delivery to a `_GR_.` pull reply) go straight out of the leader's own gateway. Here the
// route carries the leader's traffic to the dialed server 100 ms late, so an answer that does not wait for its
// interest to get there arrives first: the client's first publish, or its first ack (sent as a request), gets
// "no responders". The client is on a plain nats-server 2.9.10 (cluster "west").
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitMetaLeader } from "./helpers.ts";
import { freePort, startOnFreePorts } from "../helpers/ports.ts";
import { type LinkProxy, startLinkProxy } from "../helpers/link_proxy.ts";
import { monitorJson, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, connectTo } from "../helpers/nats.ts";

/** How late the leader's route traffic reaches the server west dialed. */
const ROUTE_DELAY_MS = 100;

interface Gatewayz {
  outbound_gateways?: Record<string, { connection?: { port?: number } }>;
}

describe("a JetStream leader's interest reaches another cluster before its answers", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-gw-order-"));
  const nodes: Petrel[] = [];
  const proxies: LinkProxy[] = [];
  let west: RunningServer | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;
  /** The east server that west did not dial: it leads what the test creates. */
  let far = "";

  /** The east servers' gateway ports. */
  let gws: number[] = [];
  /** The east servers and west, on ports picked as free (again on new ones if one was taken meanwhile). */
  const startAll = async (attempt: number): Promise<void> => {
    const routes = [await freePort(), await freePort()];
    gws = [await freePort(), await freePort()];
    const westGw = await freePort();
    // Whichever of the two dials, the route crosses a proxy (e1 dials e2 through the first, e2 dials e1 through
    // the second); one direction is made slow once west's choice of server is known.
    proxies.push(await startLinkProxy(routes[1]));
    proxies.push(await startLinkProxy(routes[0]));
    const gateways = [
      { name: "east", urls: gws.map((p) => `nats://127.0.0.1:${p}`) },
      { name: "west", urls: [`nats://127.0.0.1:${westGw}`] },
    ];
    for (let i = 0; i < 2; i++) {
      nodes.push(await startPetrel({
        options: {
          server_name: `e${i + 1}`,
          server_tags: [`e${i + 1}`],
          host: "127.0.0.1",
          port: -1,
          // Each attempt with stores of its own.
          jetstream: { enabled: true, store_dir: join(dir, `a${attempt}`, `e${i + 1}`), storage: "file" },
          cluster: { name: "east", host: "127.0.0.1", port: routes[i], routes: [proxies[i].url] },
          gateway: { name: "east", host: "127.0.0.1", port: gws[i], gateways },
        },
      }));
    }
    west = await startServer("nats-server", {
      monitor: true,
      conf: `server_name: w1\ngateway { name: west, listen: "127.0.0.1:${westGw}", gateways: [{ name: east, urls: [${
        gws.map((p) => `"nats://127.0.0.1:${p}"`).join(", ")
      }] }] }\n`,
    });
  };

  before(async () => {
    await startOnFreePorts(startAll, async () => {
      await west?.stop();
      west = undefined;
      for (const p of nodes.splice(0)) await p.stop({ handOff: false }).catch(() => {});
      for (const p of proxies.splice(0)) await p.close();
    });
    // All west learns of east's interest comes from the one east server it dialed.
    const w = west!;
    const port = await waitFor("west's gateway to east", async () => (await monitorJson<Gatewayz>(w, "/gatewayz")).outbound_gateways?.east?.connection?.port);
    const near = gws.indexOf(port);
    assert.ok(near >= 0, `west dialed port ${port}, not an east gateway`);
    far = `e${2 - near}`;
    // What the far server sends the near one is late: e1 -> e2 (first proxy) answers, or e2 -> e1 (second) sends.
    if (near === 0) {
      proxies[0].setDelays({ fromTargetMs: ROUTE_DELAY_MS });
      proxies[1].setDelays({ toTargetMs: ROUTE_DELAY_MS });
    } else {
      proxies[0].setDelays({ toTargetMs: ROUTE_DELAY_MS });
      proxies[1].setDelays({ fromTargetMs: ROUTE_DELAY_MS });
    }
    // Both east servers agree on a meta leader before the first create: the API answers through the gateway
    // before one is elected, with 10008 "temporarily unavailable" (as nats-server's does).
    await waitMetaLeader({ nodes }, 20_000);
    nc = await connectTo(w);
    const c = nc;
    await waitFor("the API through the gateway", () => jetstreamManager(c, { timeout: 1000 }).catch(() => undefined), 20_000);
    jsm = await jetstreamManager(c);
  });

  after(async () => {
    await closeAll([nc]);
    await west?.stop();
    for (const p of nodes) await p.stop({ handOff: false }).catch(() => {});
    for (const p of proxies) await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the first publish after the create response, the first ack after the first delivery", { timeout: 30_000 }, async () => {
    const js = jetstream(nc!);
    // R1 on the server west did not dial: its subjects and its consumer's acks reach west 100 ms late.
    const si = await jsm.streams.add({ name: "FAR", subjects: ["far.>"], num_replicas: 1, placement: { cluster: "east", tags: [far] } });
    assert.equal(si.cluster?.leader, far);
    // At once: no retry on "no responders".
    assert.equal((await js.publish("far.1", "one", { retries: 1 })).seq, 1);
    await jsm.consumers.add("FAR", { durable_name: "pull", ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get("FAR", "pull");
    const m = await consumer.next({ expires: 5000 });
    assert.equal(m?.seq, 1);
    assert.ok(await m!.ackAck({ timeout: 5000 }));
    assert.equal((await jsm.consumers.info("FAR", "pull")).num_ack_pending, 0);
  });
});
