// Placement moves by stream update on a 3-server cluster with one tag per server: an R1 stream moves from
// the az:1 server to the az:3 one under a publisher (the new server joins and catches up, the old one leaves,
// the leadership moves) with every acknowledged message kept; what nats-server 2.9.10 refuses is refused with
// its errors and nothing moves. planMove (the meta leader's decision) is checked on its own too.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";
import { planMove } from "../../../src/jetstream/cluster/moves.ts";
import { consumerPlacement } from "../../../src/jetstream/cluster/consumer_groups.ts";
import type { StreamAssignment } from "../../../src/jetstream/cluster/meta.ts";
import type { StreamConfig as OurConfig } from "../../../src/jetstream/config.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("planMove", () => {
  const peers = ["a", "b", "c", "d"].map((name, i) => ({ name, cluster: i < 3 ? "c1" : "c2", tags: [`az:${name}`, i < 2 ? "ssd" : "hdd"], online: true }));
  const a = { name: "S", config: { num_replicas: 2 } as OurConfig, created: "", peers: ["a", "b"], group: "g", ts: 0, cluster: "c1" } as StreamAssignment;
  const cfg = (placement: unknown, num_replicas = 2) => ({ num_replicas, placement }) as unknown as OurConfig;

  it("keeps what fits, moves the rest, refuses a move with a scale or during another move", () => {
    assert.deepEqual(planMove(a, cfg({ tags: ["ssd"] }), "c1", peers, new Map()), { kind: "none" });
    assert.deepEqual(planMove(a, cfg({ tags: ["az:b"] }, 2), "c1", peers, new Map()), {
      code: 400,
      err_code: 10005,
      description: "no suitable peers for placement, tags not matched ['az:b']",
    });
    const r1 = { ...a, peers: ["a"], config: { num_replicas: 1 } as OurConfig };
    assert.deepEqual(planMove(r1, cfg({ tags: ["hdd"] }, 1), "c1", peers, new Map()), { kind: "move", to: ["c"], cluster: "c1" });
    assert.deepEqual(planMove(r1, cfg({ cluster: "c2" }, 1), "c1", peers, new Map()), { kind: "move", to: ["d"], cluster: "c2" });
    assert.equal((planMove(a, cfg({ tags: ["hdd"] }, 3), "c1", peers, new Map()) as { err_code: number }).err_code, 10123);
    const moving = { ...r1, peers: ["a", "c"], moveTo: ["c"] };
    assert.deepEqual(planMove(moving, cfg({ tags: ["hdd"] }, 1), "c1", peers, new Map()), { kind: "none" });
    assert.equal((planMove(moving, cfg({ tags: ["ssd"] }, 1), "c1", peers, new Map()) as { err_code: number }).err_code, 10124);
    assert.equal((planMove(a, cfg({ cluster: "nowhere" }), "c1", peers, new Map()) as { description: string }).description, "no suitable peers for placement");
  });

  it("a consumer of a moving stream grows onto the new servers before the old ones leave", () => {
    // R2 on an R2 stream moving from w1,w2 to e1,e2 (old and new together meanwhile): all four, then the new two.
    assert.deepEqual(consumerPlacement(["w1", "w2"], ["w1", "w2", "e1", "e2"], ["e1", "e2"], 2, 2), ["w1", "w2", "e1", "e2"]);
    assert.deepEqual(consumerPlacement(["w1", "w2"], ["e1", "e2"], undefined, 2, 2), ["e1", "e2"]);
    // R2 on an R3 stream: its two servers now plus two of the new ones (it was on two old servers only, and the
    // stream's shrink would have left it there with nobody to hand over to).
    assert.deepEqual(consumerPlacement(["w1", "w2"], ["w1", "w2", "w3", "e1", "e2", "e3"], ["e1", "e2", "e3"], 2, 3), ["w1", "w2", "e1", "e2"]);
    assert.deepEqual(consumerPlacement(["w1", "w2"], ["w1", "w2", "w3"], undefined, 2, 3), ["w1", "w2"]);
  });
});

describe("placement moves by stream update", () => {
  it("moves an R1 stream to another tag under a publisher, losing nothing acknowledged", { timeout: 60_000 }, async () => {
    const c = await startJsCluster(3, { tags: [["az:1"], ["az:2"], ["az:3"]] });
    let nc: NatsConnection | undefined;
    try {
      await waitMetaLeader(c, 20_000);
      nc = await connect({ servers: c.nodes[1]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      // Polls across a leader change: a request arriving mid-change goes unanswered (no 5 s wait for it).
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      const js = jetstream(nc, { timeout: 4000 });
      const base = { name: "MV", subjects: ["mv.>"], num_replicas: 1 };
      const si = await jsm.streams.add({ ...base, placement: { cluster: "", tags: ["az:1"] } });
      assert.equal(si.cluster?.leader, "n1");
      // A durable consumer moves with its stream, keeping its ack floor.
      await jsm.consumers.add("MV", { durable_name: "DUR", ack_policy: AckPolicy.Explicit });

      const acked = new Map<number, number>();
      const failures: string[] = [];
      let stop = false;
      const publisher = (async () => {
        for (let n = 1; !stop && n <= 20_000; n++) {
          for (let attempt = 0; attempt < 5; attempt++) {
            try {
              acked.set(n, (await js.publish(`mv.${n}`, `m${n}`, { msgID: `mv-${n}` })).seq);
              break;
            } catch (e) {
              failures.push(`${n}: ${(e as Error).message}`);
            }
          }
        }
      })();
      await waitFor("some publishes", () => acked.size >= 50);
      const dur = await js.consumers.get("MV", "DUR");
      for await (const m of await dur.fetch({ max_messages: 10, expires: 5000 })) await m.ackAck();

      // Refused: a move and a scale in one update; tags nobody has. Nothing changes.
      const upd = async (cfg: unknown) =>
        JSON.parse(dec.decode((await nc!.request("$JS.API.STREAM.UPDATE.MV", enc.encode(JSON.stringify(cfg)), { timeout: 5000 })).data)) as {
          error?: unknown;
        };
      const cur = (await jsm.streams.info("MV")).config;
      assert.deepEqual((await upd({ ...cur, num_replicas: 2, placement: { tags: ["az:3"] } })).error, {
        code: 400,
        err_code: 10123,
        description: "can not move and scale a stream in a single update",
      });
      assert.deepEqual((await upd({ ...cur, placement: { tags: ["gpu"] } })).error, {
        code: 400,
        err_code: 10005,
        description: "no suitable peers for placement, tags not matched ['gpu']",
      });
      assert.equal((await jsm.streams.info("MV")).cluster?.leader, "n1");

      const before = acked.size;
      const moved = await upd({ ...cur, placement: { tags: ["az:3"] } });
      assert.equal(moved.error, undefined);
      await waitFor("the stream is on n3 alone", async () => {
        const info = await quick.streams.info("MV").catch(() => undefined);
        return info?.cluster?.leader === "n3" && (info.cluster.replicas ?? []).length === 0;
      }, 30_000);
      await waitFor("n1 dropped its replica", async () => {
        const jsz = await (await c.nodes[0]!.monitorFetch(new Request("http://localhost/jsz"))).json() as { streams: number };
        return jsz.streams === 0;
      }, 15_000);
      await waitFor("publishes go on after the move", () => acked.size >= before + 50, 20_000);
      stop = true;
      await publisher;
      const seqs = [...acked.values()].sort((x, y) => x - y);
      assert.equal(new Set(seqs).size, seqs.length, "no two acknowledged publishes share a sequence");
      const info = await jsm.streams.info("MV");
      assert.equal(info.config.placement?.tags?.[0], "az:3");
      assert.equal(info.state.messages, acked.size, `every acknowledged message is kept (retried: ${failures.length})`);
      console.log(`moves: ${acked.size} acknowledged, ${failures.length} retried`);
      assert.equal(info.state.last_seq, seqs[seqs.length - 1]);
      const ci = await jsm.consumers.info("MV", "DUR");
      assert.equal(ci.ack_floor.stream_seq, 10, "the consumer kept its ack floor");
      assert.equal(ci.cluster?.leader, "n3");
      const next = await (await js.consumers.get("MV", "DUR")).next({ expires: 5000 });
      assert.equal(next?.seq, 11);
      // Each acknowledged message at its sequence, on the new server.
      for (const [n, seq] of [...acked].filter((_, i) => i % 25 === 0)) {
        assert.equal((await jsm.streams.getMessage("MV", { seq }))?.subject, `mv.${n}`);
      }
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });
});
