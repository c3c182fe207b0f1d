// A supercluster of two clusters (east, west; two servers each) joined by gateways: one meta group spans all
// four servers (its Raft traffic crosses the gateways); a client anywhere creates a stream placed in a named
// cluster and uses it through the gateways; a create without a cluster lands in the client's own cluster; an
// unknown cluster or tags no server has get nats-server 2.9.10's errors; an update moves a stream to the other
// cluster.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type JsSupercluster, startJsSupercluster, waitSuperMeta } from "../../jsraft/supercluster.ts";
import { waitFor } from "../../helpers/servers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("JetStream across a supercluster", () => {
  let sc: JsSupercluster;
  const conns: NatsConnection[] = [];
  const client = async (name: string) => {
    const nc = await connect({ servers: sc.node(name).clientUrl });
    conns.push(nc);
    return nc;
  };
  const api = async (nc: NatsConnection, subject: string, body: unknown) =>
    JSON.parse(dec.decode((await nc.request(subject, enc.encode(JSON.stringify(body)), { timeout: 5000 })).data)) as {
      error?: unknown;
      cluster?: { name?: string; leader?: string };
    };

  before(async () => {
    sc = await startJsSupercluster(["east", "west"], 2, { tags: (n) => [`az:${n}`] });
    await waitSuperMeta(sc);
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    await sc?.close();
  });

  it("places a stream in the named cluster and serves it to a client in the other cluster", { timeout: 30_000 }, async () => {
    const nc = await client("e1");
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.add({ name: "WEST", subjects: ["west.>"], num_replicas: 2, placement: { cluster: "west", tags: [] } });
    assert.equal(si.cluster?.name, "west");
    const on = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)].sort();
    assert.deepEqual(on, ["w1", "w2"]);
    const js = jetstream(nc);
    for (let i = 1; i <= 20; i++) assert.equal((await js.publish(`west.${i}`, `m${i}`)).seq, i);
    const info = await jsm.streams.info("WEST");
    assert.equal(info.state.messages, 20);
    assert.equal(info.cluster?.name, "west");
    // A consumer on west, read from east through the gateways.
    await jsm.consumers.add("WEST", { durable_name: "D", ack_policy: AckPolicy.Explicit });
    const c = await js.consumers.get("WEST", "D");
    const got: number[] = [];
    for await (const m of await c.fetch({ max_messages: 20, expires: 5000 })) {
      got.push(m.seq);
      m.ack();
    }
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1));
    // The list from a west server tells the same cluster.
    const wl = await jetstreamManager(await client("w1"));
    assert.equal((await wl.streams.info("WEST")).cluster?.name, "west");
  });

  it("draws the cluster picture in /jsz on every server and gathers it with \$SYS.REQ.SERVER.PING.JSZ", { timeout: 30_000 }, async () => {
    interface Detail {
      name: string;
      config?: { name: string };
      cluster?: { name?: string; leader?: string; replicas?: Array<{ name: string; current: boolean; peer: string }> };
      consumer_detail?: Array<{ name: string; cluster?: { leader?: string } }>;
    }
    interface Jsz {
      ha_assets: number;
      meta_cluster?: { leader?: string; cluster_size?: number };
      account_details?: Array<{ stream_detail?: Detail[] }>;
    }
    const detail = (j: Jsz) => (j.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((d) => d.name === "WEST");
    const jszOf = async (name: string) =>
      await (await sc.node(name).monitorFetch(new Request("http://localhost/jsz?streams=true&consumers=true&config=true"))).json() as Jsz;
    await waitFor("both west replicas current in the leader's picture", async () => {
      for (const n of ["w1", "w2"]) {
        const d = detail(await jszOf(n));
        if (d?.cluster?.leader !== n) continue;
        return d.cluster.replicas?.length === 1 && d.cluster.replicas[0].current;
      }
      return false;
    }, 10_000);
    let consumersSeen = 0;
    for (const n of ["w1", "w2"]) {
      const j = await jszOf(n);
      const d = detail(j)!;
      assert.equal(d.cluster?.name, "west");
      // Every peer but the server itself, the leader included when seen from the follower.
      assert.deepEqual(d.cluster?.replicas?.map((r) => r.name), [n === "w1" ? "w2" : "w1"]);
      assert.equal(d.config?.name, "WEST");
      for (const cd of d.consumer_detail ?? []) {
        assert.equal(cd.name, "D");
        assert.ok(["w1", "w2"].includes(cd.cluster?.leader ?? ""), `consumer led in west: ${JSON.stringify(cd.cluster)}`);
        consumersSeen++;
      }
      assert.ok(j.ha_assets >= 2, "the meta group and the stream's group");
      assert.equal(j.meta_cluster?.cluster_size, 4);
    }
    assert.ok(consumersSeen >= 1, "the consumer is in /jsz where it runs");
    assert.equal(detail(await jszOf("e1")), undefined, "a server without a replica lists no stream (as nats-server)");

    // The same picture from every server of both clusters, asked once in the system account.
    const sys = sc.node("e1").server.createInternalClient("ping test", { account: sc.node("e1").server.accounts.system.name });
    try {
      const got: Array<{ server: { name: string }; data?: Jsz & { server_id?: string }; statsz?: unknown }> = [];
      sys.subscribe("_INBOX.pingjsz", (m) => got.push(JSON.parse(dec.decode(m.payload))));
      sys.publish("$SYS.REQ.SERVER.PING.JSZ", enc.encode(JSON.stringify({ streams: true, consumer: true, config: true })), { reply: "_INBOX.pingjsz" });
      await waitFor("four answers", () => got.length === 4, 10_000);
      assert.deepEqual(got.map((g) => g.server.name).sort(), ["e1", "e2", "w1", "w2"]);
      for (const g of got) {
        assert.equal(detail(g.data!)?.cluster?.name, g.server.name.startsWith("w") ? "west" : undefined);
      }
      // leader_only: the meta leader alone answers (the STATSZ pings after it, on the same paths, mark the end).
      got.length = 0;
      sys.publish("$SYS.REQ.SERVER.PING.JSZ", enc.encode(JSON.stringify({ leader_only: true })), { reply: "_INBOX.pingjsz" });
      sys.publish("$SYS.REQ.SERVER.PING.STATSZ", enc.encode("{}"), { reply: "_INBOX.pingjsz" });
      await waitFor("four STATSZ answers", () => got.filter((g) => g.statsz).length === 4, 10_000);
      const jszAnswers = got.filter((g) => g.data);
      assert.equal(jszAnswers.length, 1);
      assert.equal(jszAnswers[0].server.name, jszAnswers[0].data?.meta_cluster?.leader);
    } finally {
      sys.close();
    }
  });

  it("moves a stream to the other cluster by an update, with its messages", { timeout: 30_000 }, async () => {
    const nc = await client("w2");
    const jsm = await jetstreamManager(nc);
    // Polls across a leader change: a request arriving mid-change goes unanswered (no 5 s wait for it).
    const quick = await jetstreamManager(nc, { timeout: 1000 });
    const cfg = (await jsm.streams.info("WEST")).config;
    await jsm.streams.update("WEST", { ...cfg, placement: { cluster: "east", tags: [] } });
    await waitFor("WEST is on east", async () => {
      const info = await quick.streams.info("WEST").catch(() => undefined);
      const on = [info?.cluster?.leader, ...(info?.cluster?.replicas ?? []).map((r) => r.name)].sort();
      return info?.cluster?.name === "east" && on.join() === "e1,e2" && info.state.messages === 20;
    }, 20_000);
    const js = jetstream(nc);
    assert.equal((await js.publish("west.21", "m21")).seq, 21);
    assert.equal((await jsm.streams.getMessage("WEST", { seq: 7 }))?.subject, "west.7");
    // Its consumer came along with its ack floor: the next message is the new one. Its group had voters on east
    // before the stream's west servers left (the move waits for that); its leadership follows from west.
    const ci = await waitFor("consumer D led on east", async () => {
      const info = await quick.consumers.info("WEST", "D").catch(() => undefined);
      return info?.cluster?.name === "east" ? info : undefined;
    }, 20_000);
    assert.equal(ci.ack_floor.stream_seq, 20);
    // Pulled from the other cluster, through the gateways (deliveries relayed by another server of it).
    const next = await (await js.consumers.get("WEST", "D")).next({ expires: 5000 });
    assert.equal(next?.seq, 21);
  });

  it("places a stream without a cluster in the cluster of the client's server", { timeout: 30_000 }, async () => {
    const fromWest = await jetstreamManager(await client("w2"));
    const a = await fromWest.streams.add({ name: "HOMEW", subjects: ["homew.>"], num_replicas: 2 });
    assert.equal(a.cluster?.name, "west");
    const fromEast = await jetstreamManager(await client("e2"));
    const b = await fromEast.streams.add({ name: "HOMEE", subjects: ["homee.>"], num_replicas: 2 });
    assert.equal(b.cluster?.name, "east");
    assert.deepEqual([b.cluster?.leader, ...(b.cluster?.replicas ?? []).map((r) => r.name)].sort(), ["e1", "e2"]);
  });

  it("refuses an unknown cluster and tags no server has, with nats-server's errors", { timeout: 30_000 }, async () => {
    const nc = await client("w1");
    const base = { subjects: ["bad.>"], retention: "limits", storage: "file", num_replicas: 1 };
    assert.deepEqual((await api(nc, "$JS.API.STREAM.CREATE.BAD", { name: "BAD", ...base, placement: { cluster: "north" } })).error, {
      code: 400,
      err_code: 10005,
      description: "no suitable peers for placement",
    });
    assert.deepEqual(
      (await api(nc, "$JS.API.STREAM.CREATE.BAD", { name: "BAD", ...base, placement: { cluster: "east", tags: ["az:w1"] } })).error,
      { code: 400, err_code: 10005, description: "no suitable peers for placement, tags not matched ['az:w1']" },
    );
    // Two replicas in a two-server cluster fit; three do not (and are not spread over the other cluster).
    assert.deepEqual(
      (await api(nc, "$JS.API.STREAM.CREATE.BAD", { name: "BAD", ...base, num_replicas: 3, placement: { cluster: "east" } })).error,
      { code: 400, err_code: 10005, description: "no suitable peers for placement" },
    );
    const names = await api(nc, "$JS.API.STREAM.NAMES", {}) as { streams?: string[] };
    assert.ok(!(names.streams ?? []).includes("BAD"), "nothing was created");
  });
});
