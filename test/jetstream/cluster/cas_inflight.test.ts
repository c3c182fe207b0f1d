// Found by the chaos harness (KV history not linearizable): two compare-and-set publishes on one subject in
// flight at once on an R3 stream's leader both passed their `Nats-Expected-Last-Subject-Sequence` check against
// the applied state, so two KV updates of the same revision both succeeded. The leader now checks conditions
// against its proposals not yet applied too.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";

describe("replicated stream: conditional publishes in flight together", () => {
  let c: JsCluster;
  let nc: NatsConnection;
  before(async () => {
    c = await startJsCluster(3);
    await waitMetaLeader(c, 20_000);
    nc = await connect({ servers: c.nodes.map((p) => p!.clientUrl) });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "CAS", subjects: ["cas.>"], num_replicas: 3 });
  });
  after(async () => {
    await nc?.close();
    await c?.close();
  });

  /** Sends every publish before awaiting any answer (one flush): the leader prepares them all in one turn. */
  async function race(subject: string, hdrs: Array<[string, string]>, n: number): Promise<Array<number | string>> {
    const js = jetstream(nc, { timeout: 5000 });
    const all = Array.from({ length: n }, (_, i) => {
      const h = headers();
      for (const [k, v] of hdrs) h.set(k, v);
      return js.publish(subject, `v${i}`, { headers: h }).then((a) => a.seq, (e: Error) => e.message);
    });
    return await Promise.all(all);
  }

  it("only one of several updates expecting the same subject sequence succeeds", async () => {
    const js = jetstream(nc);
    const first = await js.publish("cas.k", "v");
    const results = await race("cas.k", [["Nats-Expected-Last-Subject-Sequence", String(first.seq)]], 4);
    const ok = results.filter((r) => typeof r === "number");
    assert.equal(ok.length, 1, `results: ${JSON.stringify(results)}`);
    for (const r of results) if (typeof r === "string") assert.match(r, /wrong last sequence/);
  });

  it("only one of several publishes expecting the same last Msg-Id succeeds", async () => {
    const js = jetstream(nc);
    await js.publish("cas.m", "v", { msgID: "base" });
    const all = Array.from({ length: 3 }, (_, i) => {
      const h = headers();
      h.set("Nats-Expected-Last-Msg-Id", "base");
      return js.publish("cas.m", `w${i}`, { headers: h, msgID: `next-${i}` }).then((a) => a.seq, (e: Error) => e.message);
    });
    const results = await Promise.all(all);
    assert.equal(results.filter((r) => typeof r === "number").length, 1, `results: ${JSON.stringify(results)}`);
  });
});
