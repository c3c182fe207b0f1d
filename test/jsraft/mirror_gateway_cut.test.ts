// A mirror and a source across clusters resume after the gateway link between them is cut and healed: two
// one-server clusters (east, west) whose gateways dial each other through cuttable loopback proxies (each side
// advertises its proxy, so a redial goes through it too). While the link is cut the east stream takes more
// messages; once it is back, the west mirror and source hold every one of them once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { type LinkProxy, startLinkProxy } from "../helpers/link_proxy.ts";
import { freePort, startOnFreePorts } from "../helpers/ports.ts";

const td = new TextDecoder();

describe("mirror and source across a cut gateway link", () => {
  const nodes: Petrel[] = [];
  const proxies: LinkProxy[] = [];
  const conns: NatsConnection[] = [];
  let dir = "";
  /** Both servers on ports picked as free (again on new ones if one was taken meanwhile). */
  const startAll = async (attempt: number): Promise<void> => {
    const names = ["east", "west"];
    const gw = [await freePort(), await freePort()];
    const routes = [await freePort(), await freePort()];
    for (const p of gw) proxies.push(await startLinkProxy(p));
    for (let i = 0; i < 2; i++) {
      nodes.push(await startPetrel({
        options: {
          server_name: names[i][0] + "1",
          host: "127.0.0.1",
          port: -1,
          jetstream: { enabled: true, store_dir: join(dir, `a${attempt}`, names[i]), storage: "memory" },
          cluster: { name: names[i], host: "127.0.0.1", port: routes[i], routes: [] },
          gateway: {
            name: names[i],
            host: "127.0.0.1",
            port: gw[i],
            advertise: `127.0.0.1:${proxies[i].port}`,
            gateways: names.map((n, k) => ({ name: n, urls: [`nats://127.0.0.1:${k === i ? gw[k] : proxies[k].port}`] })),
          },
        },
      }));
    }
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "petrel-gwcut-"));
    await startOnFreePorts(startAll, async () => {
      for (const p of nodes.splice(0)) await p.stop({ handOff: false }).catch(() => {});
      for (const x of proxies.splice(0)) await x.close();
    });
    for (const p of nodes) conns.push(await connect({ servers: p.clientUrl }));
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    for (const p of nodes) await p.stop().catch(() => {});
    for (const x of proxies) await x.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("resumes the west mirror and source of an east stream once the gateways are back", { timeout: 60_000 }, async () => {
    const [east, west] = conns;
    const jsm = await waitFor("the API answers", () => jetstreamManager(west, { timeout: 1000 }).catch(() => undefined), 20_000);
    await waitFor("ORDERS placed in east", () =>
      jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], placement: { cluster: "east", tags: [] } }).catch(() => undefined), 20_000);
    const js = jetstream(east);
    for (let i = 1; i <= 4; i++) await js.publish(`orders.${i % 2 === 0 ? "even" : "odd"}`, `o${i}`);
    await jsm.streams.add({ name: "M", mirror: { name: "ORDERS" }, placement: { cluster: "west", tags: [] } });
    await jsm.streams.add({ name: "S", sources: [{ name: "ORDERS", filter_subject: "orders.even" }], placement: { cluster: "west", tags: [] } });
    const local = await jetstreamManager(west, { timeout: 1000 });
    const holds = (name: string, n: number) =>
      waitFor(`${name} holds ${n}`, async () => (await local.streams.info(name).catch(() => undefined))?.state.messages === n, 20_000);
    await holds("M", 4);
    await holds("S", 2);

    // Cut both gateway connections; east goes on taking messages (its stream's group is its own).
    for (const x of proxies) x.cut();
    await waitFor("west lost east", async () => {
      const gz = await (await nodes[1].monitorFetch(new Request("http://localhost/gatewayz"))).json() as { outbound_gateways?: Record<string, unknown> };
      return gz.outbound_gateways?.east === undefined;
    }, 10_000);
    for (let i = 5; i <= 8; i++) await js.publish(`orders.${i % 2 === 0 ? "even" : "odd"}`, `o${i}`);
    assert.equal((await local.streams.info("M")).state.messages, 4, "nothing crosses while the link is cut");
    for (const x of proxies) x.heal();
    await holds("M", 8);
    await holds("S", 4);
    await js.publish("orders.even", "o9");
    await holds("M", 9);
    await holds("S", 5);

    const mirrored: string[] = [];
    for (let seq = 1; seq <= 9; seq++) mirrored.push(td.decode((await local.streams.getMessage("M", { seq }))!.data));
    assert.deepEqual(mirrored, Array.from({ length: 9 }, (_, i) => `o${i + 1}`));
    const sourced: string[] = [];
    for (let seq = 1; seq <= 5; seq++) {
      const m = await local.streams.getMessage("S", { seq });
      sourced.push(`${td.decode(m!.data)} ${m!.header?.get("Nats-Stream-Source")}`);
    }
    assert.deepEqual(sourced, ["o2 ORDERS 2", "o4 ORDERS 4", "o6 ORDERS 6", "o8 ORDERS 8", "o9 ORDERS 9"]);
    const info = await local.streams.info("M");
    assert.equal(info.mirror?.lag, 0);
  });
});
