// Sources and mirrors on one server, differential against nats-server 2.9.10: a stream that gets a source by
// update takes the origin's messages with `Nats-Stream-Source: <origin> <seq>`, drops those whose expected-last
// headers fail against it (as nats-server does, logging a warning) and goes on; a mirror keeps the origin's
// sequences; stream info names the origins. Creates and updates that would make a mirror/source cycle get
// nats-server's "detected cycle".
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { useJsSides } from "../helpers/js_sides.ts";
import { waitFor } from "../helpers/servers.ts";

const td = new TextDecoder();

async function scenario(nc: NatsConnection): Promise<unknown> {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
  await jsm.streams.add({ name: "S", subjects: ["s.>"] });
  await js.publish("s.1", "s1");
  await js.publish("s.2", "s2");
  await js.publish("orders.a", "x", { expect: { lastSequence: 0 }, msgID: "m1" });
  await js.publish("orders.a", "y", { expect: { lastSequence: 1, lastMsgID: "m1" }, msgID: "m2" });
  await js.publish("orders.b", "z", { msgID: "m3" });
  const cfg = (await jsm.streams.info("S")).config;
  await jsm.streams.update("S", { ...cfg, sources: [{ name: "ORDERS" }] });
  await jsm.streams.add({ name: "M", mirror: { name: "ORDERS" } });
  // nats-server drops x and y (their expected last sequence is not S's): the first message that can be taken is z.
  await waitFor("S took z", async () => (await jsm.streams.info("S")).state.messages === 3, 10_000);
  await waitFor("M holds 3", async () => (await jsm.streams.info("M")).state.messages === 3, 10_000);
  await js.publish("orders.c", "w");
  await waitFor("S took w", async () => (await jsm.streams.info("S")).state.messages === 4, 10_000);
  const s: string[] = [];
  for (let seq = 1; seq <= 4; seq++) {
    const m = await jsm.streams.getMessage("S", { seq });
    s.push(`${m!.seq} ${m!.subject} ${td.decode(m!.data)} ${m!.header?.get("Nats-Stream-Source") ?? ""}`);
  }
  await waitFor("M holds 4", async () => (await jsm.streams.info("M")).state.messages === 4, 10_000);
  const mi = await jsm.streams.info("M");
  const mirrored: string[] = [];
  for (let seq = 1; seq <= 4; seq++) {
    const m = await jsm.streams.getMessage("M", { seq });
    mirrored.push(`${m!.seq} ${m!.subject} ${td.decode(m!.data)}`);
  }
  const si = await jsm.streams.info("S");
  return {
    s,
    mirrored,
    sources: si.sources?.map((x) => ({ name: x.name, lag: x.lag })),
    mirror: { name: mi.mirror?.name, lag: mi.mirror?.lag },
  };
}

/** Creates and updates that form (or do not form) a mirror/source cycle; odd origins nats-server accepts. */
async function badInput(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  const ask = async (label: string, subject: string, cfg: Record<string, unknown>) => {
    const r = (await nc.request(subject, JSON.stringify(cfg), { timeout: 5000 })).json() as { error?: unknown; config?: unknown };
    out.push(`${label}: ${JSON.stringify(r.error ?? (r.config ? "ok" : r))}`);
  };
  await ask("mirror of itself", "$JS.API.STREAM.CREATE.CA", { name: "CA", mirror: { name: "CA" } });
  await ask("source of itself", "$JS.API.STREAM.CREATE.CB", { name: "CB", sources: [{ name: "CB" }] });
  await ask("source of a missing stream", "$JS.API.STREAM.CREATE.CP", { name: "CP", subjects: ["cp.>"], sources: [{ name: "CQ" }] });
  await ask("the missing one sourcing back", "$JS.API.STREAM.CREATE.CQ", { name: "CQ", subjects: ["cq.>"], sources: [{ name: "CP" }] });
  await ask("a mirror of it", "$JS.API.STREAM.CREATE.CR", { name: "CR", mirror: { name: "CP" } });
  await ask("update closing the loop", "$JS.API.STREAM.UPDATE.CP", { name: "CP", subjects: ["cp.>"], sources: [{ name: "CQ" }, { name: "CR" }] });
  await ask("external of itself", "$JS.API.STREAM.CREATE.CT", { name: "CT", subjects: ["ct.>"], sources: [{ name: "CT", external: { api: "$JS.x.API" } }] });
  await ask("external without api", "$JS.API.STREAM.CREATE.CU", { name: "CU", mirror: { name: "CP", external: { deliver: "d" } } });
  await ask("mirror without a name", "$JS.API.STREAM.CREATE.CV", { name: "CV", mirror: {} });
  await ask("source without a name", "$JS.API.STREAM.CREATE.CW", { name: "CW", sources: [{}] });
  return out;
}

describe("JetStream sources and mirrors on one server (differential)", () => {
  const sides = useJsSides();
  it("takes an origin's messages as nats-server does", { timeout: 60_000 }, async () => {
    const [ref, petrel] = [await scenario(sides[0].nc), await scenario(sides[1].nc)];
    assert.deepEqual(ref, {
      s: ["1 s.1 s1 ", "2 s.2 s2 ", "3 orders.b z ORDERS 3", "4 orders.c w ORDERS 4"],
      mirrored: ["1 orders.a x", "2 orders.a y", "3 orders.b z", "4 orders.c w"],
      sources: [{ name: "ORDERS", lag: 0 }],
      mirror: { name: "ORDERS", lag: 0 },
    });
    assert.deepEqual(petrel, ref);
  });

  it("refuses mirror/source cycles with nats-server's error", { timeout: 30_000 }, async () => {
    const [ref, petrel] = [await badInput(sides[0].nc), await badInput(sides[1].nc)];
    const cycle = JSON.stringify({ code: 500, err_code: 10052, description: "detected cycle" });
    assert.deepEqual(ref, [
      `mirror of itself: ${cycle}`,
      `source of itself: ${cycle}`,
      `source of a missing stream: "ok"`,
      `the missing one sourcing back: ${cycle}`,
      `a mirror of it: "ok"`,
      `update closing the loop: ${cycle}`,
      `external of itself: "ok"`,
      `external without api: "ok"`,
      `mirror without a name: "ok"`,
      `source without a name: "ok"`,
    ]);
    assert.deepEqual(petrel, ref);
  });
});
