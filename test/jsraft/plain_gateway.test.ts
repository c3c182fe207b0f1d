// JetStream deliveries across a gateway to a nats-server 2.9.10 cluster without JetStream: three Petrel JetStream
// servers in cluster "east", a plain nats-server as cluster "west", joined by gateways; the client sits on the
// nats-server. Deliveries cross the gateway in nats-server's form (`RMSG <acc> <deliver> <ack>@<stored subject>`,
// the deliver subject of a pull being the `_GR_.`-mapped inbox), which nats-server reads.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { freePort, startOnFreePorts } from "../helpers/ports.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, td } from "../helpers/nats.ts";

describe("JetStream deliveries across a gateway to a plain nats-server cluster", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-plain-gw-"));
  const nodes: Petrel[] = [];
  let west: RunningServer | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager;

  /** The east nodes and west, on ports picked as free (again on new ones if one was taken meanwhile). */
  const startAll = async (attempt: number): Promise<void> => {
    const routes: number[] = [];
    const gws: number[] = [];
    for (let i = 0; i < 3; i++) {
      routes.push(await freePort());
      gws.push(await freePort());
    }
    const westGw = await freePort();
    const gateways = [
      { name: "east", urls: gws.map((p) => `nats://127.0.0.1:${p}`) },
      { name: "west", urls: [`nats://127.0.0.1:${westGw}`] },
    ];
    for (let i = 0; i < 3; i++) {
      nodes.push(await startPetrel({
        options: {
          server_name: `e${i + 1}`,
          host: "127.0.0.1",
          port: -1,
          // Each attempt with stores of its own.
          jetstream: { enabled: true, store_dir: join(dir, `a${attempt}`, `e${i + 1}`), storage: "file" },
          cluster: { name: "east", host: "127.0.0.1", port: routes[i], routes: routes.map((p) => `nats://127.0.0.1:${p}`) },
          gateway: { name: "east", host: "127.0.0.1", port: gws[i], gateways },
        },
      }));
    }
    west = await startServer("nats-server", {
      conf: `server_name: w1\ngateway { name: west, listen: "127.0.0.1:${westGw}", gateways: [{ name: east, urls: [${
        gws.map((p) => `"nats://127.0.0.1:${p}"`).join(", ")
      }] }] }\n`,
    });
  };

  before(async () => {
    await startOnFreePorts(startAll, async () => {
      for (const p of nodes.splice(0)) await p.stop({ handOff: false }).catch(() => {});
    });
    nc = await connectTo(west!);
    const c = nc;
    await waitFor("the API through the gateway", () => jetstreamManager(c, { timeout: 1000 }).catch(() => undefined), 20_000);
    // The 1 s timeout is for that probe only (creating R3 assets across a gateway on a loaded machine takes longer).
    jsm = await jetstreamManager(c);
    await waitFor("an R3 stream", () => jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 }).catch(() => undefined), 10_000);
  });

  after(async () => {
    await closeAll([nc]);
    await west?.stop();
    for (const p of nodes) await p.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("pull, push and KV from a client of the nats-server cluster", { timeout: 30_000 }, async () => {
    const conn = nc!;
    const js = jetstream(conn);
    for (let i = 1; i <= 3; i++) assert.equal((await js.publish(`orders.${i}`, `o${i}`)).seq, i);
    // Pull: fetched and acked across the gateway; the next fetch gets the next message, first delivery.
    await jsm.consumers.add("ORDERS", { durable_name: "pull", ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get("ORDERS", "pull");
    const got: string[] = [];
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 5000 })) {
      got.push(`${m.subject}=${m.string()}#${m.info.deliveryCount}`);
      assert.ok(await m.ackAck({ timeout: 5000 }));
    }
    assert.deepEqual(got, ["orders.1=o1#1", "orders.2=o2#1", "orders.3=o3#1"]);
    const seq = (await js.publish("orders.4", "o4")).seq;
    const next = await consumer.next({ expires: 5000 });
    assert.equal(next?.seq, seq);
    assert.equal(next?.info.deliveryCount, 1);
    next?.ack();
    // Push: a deliver subject with a subscriber in the other cluster.
    const sub = collect(conn, "dlv.west");
    await conn.flush();
    await jsm.consumers.add("ORDERS", { durable_name: "push", ack_policy: AckPolicy.Explicit, deliver_subject: "dlv.west" });
    const msgs = await sub.until(4, 10_000);
    assert.deepEqual(msgs.map((m) => `${m.subject}=${td.decode(m.data)}`), ["orders.1=o1", "orders.2=o2", "orders.3=o3", "orders.4=o4"]);
    for (const m of msgs) m.respond(new TextEncoder().encode("+ACK"));
    await waitFor("the push acks booked", async () => (await jsm.consumers.info("ORDERS", "push")).num_ack_pending === 0);
    // KV (R3): put, get, watch, history.
    const kv = await new Kvm(conn).create("cfg", { replicas: 3, history: 3 });
    await kv.put("k", "v1");
    await kv.put("k", "v2");
    assert.equal((await kv.get("k"))?.string(), "v2");
    const hist: string[] = [];
    for await (const e of await kv.history({ key: "k" })) hist.push(e.string());
    assert.deepEqual(hist, ["v1", "v2"]);
  });
});
