// Operating replicated JetStream: STREAM.PEER.REMOVE on a 4-server cluster re-places the removed replica on the
// fourth server, which catches up with every message; the stream goes on at R3 with its consumer. Bad requests
// get nats-server 2.9.10's errors.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function api(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const payload = body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body));
  const m = await nc.request(subject, payload, { timeout: 5000 });
  return JSON.parse(dec.decode(m.data)) as Record<string, unknown>;
}

/** Messages of the stream on server i (its own replica), from /jsz. */
async function messagesOn(c: JsCluster, i: number): Promise<number> {
  const p = c.nodes[i];
  if (!p) return -1;
  const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz"))).json() as { messages: number };
  return jsz.messages;
}

/** The meta leader all nodes agree on (what each node says is in the error when they do not). */
async function metaLeaderOf(c: JsCluster): Promise<string> {
  try {
    return await waitMetaLeader(c, 20_000);
  } catch (e) {
    const views: unknown[] = [];
    for (const p of c.nodes) {
      if (p) views.push((await (await p.monitorFetch(new Request("http://localhost/jsz"))).json() as { meta_cluster?: unknown }).meta_cluster);
    }
    throw new Error(`${String(e)}: ${JSON.stringify(views)}`);
  }
}

interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; active: number; lag?: number; offline?: boolean }>;
}

describe("STREAM.PEER.REMOVE", () => {
  it("re-places a removed peer; the replacement catches up and the stream is R3 again", { timeout: 60_000 }, async () => {
    const c = await startJsCluster(4);
    let nc: NatsConnection | undefined;
    try {
      await metaLeaderOf(c);
      nc = await connect({ servers: c.nodes[0]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      // Polls across a leader change: a request arriving mid-change goes unanswered (no 5 s wait for it).
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      const js = jetstream(nc);
      const si = await jsm.streams.add({ name: "OPS", subjects: ["ops.>"], num_replicas: 3 });
      const before = [si.cluster!.leader!, ...(si.cluster!.replicas ?? []).map((r) => r.name)].sort();
      assert.equal(before.length, 3);
      const spare = c.names.find((n) => !before.includes(n))!;
      for (let i = 1; i <= 50; i++) assert.equal((await js.publish(`ops.${i}`, `m${i}`)).seq, i);
      await jsm.consumers.add("OPS", { durable_name: "D", ack_policy: AckPolicy.Explicit });

      // Bad requests first: nothing changes.
      assert.deepEqual(await api(nc, "$JS.API.STREAM.PEER.REMOVE.OPS", undefined), {
        type: "io.nats.jetstream.api.v1.stream_remove_peer_response",
        error: { code: 400, err_code: 10003, description: "bad request" },
      });
      assert.deepEqual((await api(nc, "$JS.API.STREAM.PEER.REMOVE.OPS", { peer: spare })).error, {
        code: 400,
        err_code: 10040,
        description: "peer not a member",
      });
      assert.deepEqual((await api(nc, "$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: spare })).error, {
        code: 404,
        err_code: 10059,
        description: "stream not found",
      });

      // Remove a follower.
      const victim = before.find((n) => n !== si.cluster!.leader)!;
      assert.deepEqual(await api(nc, "$JS.API.STREAM.PEER.REMOVE.OPS", { peer: victim }), {
        type: "io.nats.jetstream.api.v1.stream_remove_peer_response",
        success: true,
      });
      const after = [...before.filter((n) => n !== victim), spare].sort();
      await waitFor("the stream is back at R3 on the new peer set, all current", async () => {
        const info = await jsm.streams.info("OPS");
        const cl = info.cluster as ClusterInfo | undefined;
        if (!cl?.leader || !cl.replicas) return false;
        const names = [cl.leader, ...cl.replicas.map((r) => r.name)].sort();
        return JSON.stringify(names) === JSON.stringify(after) && cl.replicas.every((r) => r.current && r.lag === 0);
      }, 20_000);
      await waitFor("the replacement holds every message", async () => (await messagesOn(c, c.names.indexOf(spare))) === 50);
      // The leader stops replicating to the victim as soon as it appends its removal, so the victim rarely sees
      // that entry: it drops its replica once LEAVE_MS (5 s, controller.ts) have passed since the meta change.
      await waitFor("the removed peer dropped its replica", async () => (await messagesOn(c, c.names.indexOf(victim))) === 0, 15_000);

      // Remove the leader: another replica leads, the removed server's slot goes to the only free one (the victim).
      const leader = (await jsm.streams.info("OPS")).cluster!.leader!;
      assert.equal((await api(nc, "$JS.API.STREAM.PEER.REMOVE.OPS", { peer: leader })).success, true);
      const final = [...after.filter((n) => n !== leader), victim].sort();
      await waitFor("R3 again after removing the leader", async () => {
        const info = await quick.streams.info("OPS").catch(() => undefined);
        const cl = info?.cluster as ClusterInfo | undefined;
        if (!cl?.leader || !cl.replicas) return false;
        const names = [cl.leader, ...cl.replicas.map((r) => r.name)].sort();
        return JSON.stringify(names) === JSON.stringify(final) && cl.replicas.every((r) => r.current);
      }, 20_000);
      for (let i = 51; i <= 60; i++) {
        const ack = await js.publish(`ops.${i}`, `m${i}`, { msgID: `id-${i}`, retries: 20 });
        assert.equal(ack.seq, i);
      }
      for (const n of final) {
        await waitFor(`${n} holds 60 messages`, async () => (await messagesOn(c, c.names.indexOf(n))) === 60);
      }
      // The consumer moved with the stream: it delivers all 60 from its new leader.
      const cons = await js.consumers.get("OPS", "D");
      const seen: number[] = [];
      const batch = await cons.fetch({ max_messages: 60, expires: 5000 });
      for await (const m of batch) {
        seen.push(m.seq);
        m.ack();
      }
      assert.equal(seen.length, 60);
      assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => i + 1));

      // An R1 stream's only replica is moved, not dropped (as nats-server answers: success): the new server
      // catches up first, and its consumer comes along.
      const one = await jsm.streams.add({ name: "SOLO", subjects: ["solo.>"], num_replicas: 1 });
      const home = one.cluster!.leader!;
      for (let i = 1; i <= 10; i++) await js.publish(`solo.${i}`, `s${i}`);
      await jsm.consumers.add("SOLO", { durable_name: "S", ack_policy: AckPolicy.Explicit });
      assert.equal((await api(nc, "$JS.API.STREAM.PEER.REMOVE.SOLO", { peer: home })).success, true);
      await waitFor("SOLO led elsewhere with its messages", async () => {
        const info = await quick.streams.info("SOLO").catch(() => undefined);
        return !!info?.cluster?.leader && info.cluster.leader !== home && (info.cluster.replicas ?? []).length === 0 &&
          info.state.messages === 10;
      }, 20_000);
      const next = await (await js.consumers.get("SOLO", "S")).next({ expires: 5000 });
      assert.equal(next?.seq, 1);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });

  it("with no free server the stream goes on a peer short (peer remap failed); SERVER.REMOVE of an unknown server is refused", { timeout: 30_000 }, async () => {
    const c = await startJsCluster(3);
    let nc: NatsConnection | undefined;
    try {
      await metaLeaderOf(c);
      nc = await connect({ servers: c.nodes[0]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      // Polls across a leader change: a request arriving mid-change goes unanswered (no 5 s wait for it).
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      await jsm.streams.add({ name: "ONE", subjects: ["one.>"], num_replicas: 3 });
      // Bad bodies and unknown names, answered as nats-server 2.9.10 answers them (checked side by side).
      const invalid = { code: 400, err_code: 10025, description: "invalid JSON" };
      assert.deepEqual((await api(nc, "$JS.API.STREAM.PEER.REMOVE.ONE", { peer: 123 })).error, invalid);
      assert.deepEqual((await api(nc, "$JS.API.SERVER.REMOVE", { peer: 123 })).error, invalid);
      const garbage = JSON.parse(dec.decode((await nc.request("$JS.API.META.LEADER.STEPDOWN", enc.encode("garbage"), { timeout: 5000 })).data));
      assert.deepEqual(garbage, { type: "io.nats.jetstream.api.v1.meta_leader_stepdown_response", error: invalid });
      const notFound = { code: 404, err_code: 10059, description: "stream not found" };
      assert.deepEqual(await api(nc, "$JS.API.STREAM.LEADER.STEPDOWN.NOPE", {}), {
        type: "io.nats.jetstream.api.v1.stream_leader_stepdown_response",
        error: notFound,
      });
      assert.deepEqual(await api(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.NOPE.C", {}), {
        type: "io.nats.jetstream.api.v1.consumer_leader_stepdown_response",
        error: notFound,
      });
      assert.deepEqual(await api(nc, "$JS.API.SERVER.REMOVE", { server: "nobody" }), {
        type: "io.nats.jetstream.api.v1.meta_server_remove_response",
        error: { code: 400, err_code: 10044, description: "server is not a member of the cluster" },
      });
      // All three hold it: removing one leaves it a peer short, which nats-server answers "peer remap failed".
      const si = await jsm.streams.info("ONE");
      const follower = si.cluster!.replicas![0].name;
      assert.deepEqual((await api(nc, "$JS.API.STREAM.PEER.REMOVE.ONE", { peer: follower })).error, {
        code: 503,
        err_code: 10075,
        description: "peer remap failed",
      });
      await waitFor("the stream goes on with two replicas", async () => {
        const info = await jsm.streams.info("ONE");
        return info.cluster?.replicas?.length === 1 && info.cluster.replicas[0].name !== follower;
      }, 15_000);
      const js = jetstream(nc);
      assert.equal((await js.publish("one.x", "x", { retries: 20 })).seq, 1);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });

  it("SERVER.REMOVE takes a stopped server out of the meta group and re-places its replicas", { timeout: 60_000 }, async () => {
    const c = await startJsCluster(4);
    let nc: NatsConnection | undefined;
    try {
      const metaLeader = await metaLeaderOf(c);
      nc = await connect({ servers: c.nodes[c.names.indexOf(metaLeader)]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      // Polls across a leader change: a request arriving mid-change goes unanswered (no 5 s wait for it).
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      const si0 = await jsm.streams.add({ name: "SR", subjects: ["sr.>"], num_replicas: 3 });
      const js = jetstream(nc);
      for (let i = 1; i <= 20; i++) await js.publish(`sr.${i}`, `m${i}`);
      const peers = [si0.cluster!.leader!, ...si0.cluster!.replicas!.map((r) => r.name)];
      // A replica that is not the meta leader goes away for good.
      const gone = peers.find((p) => p !== metaLeader && p !== si0.cluster!.leader) ?? peers.find((p) => p !== metaLeader)!;
      await c.stop(c.names.indexOf(gone));
      assert.deepEqual(await api(nc, "$JS.API.SERVER.REMOVE", { server: gone }), {
        type: "io.nats.jetstream.api.v1.meta_server_remove_response",
        success: true,
      });
      const spare = c.names.find((n) => !peers.includes(n))!;
      await waitFor("the stream is R3 again without the removed server", async () => {
        const info = await quick.streams.info("SR").catch(() => undefined);
        const cl = info?.cluster as ClusterInfo | undefined;
        if (!cl?.leader || !cl.replicas) return false;
        const names = [cl.leader, ...cl.replicas.map((r) => r.name)];
        return !names.includes(gone) && names.includes(spare) && cl.replicas.every((r) => r.current);
      }, 20_000);
      await waitFor("the replacement holds every message", async () => (await messagesOn(c, c.names.indexOf(spare))) === 20);
      await waitFor("the meta group has 3 members", async () => {
        const jsz = await (await c.nodes[c.names.indexOf(metaLeader)]!.monitorFetch(new Request("http://localhost/jsz")))
          .json() as { meta_cluster?: { cluster_size?: number } };
        return jsz.meta_cluster?.cluster_size === 3;
      });
      // Another meta leader knows of the removal too (it is in the replicated meta state).
      assert.equal((await api(nc, "$JS.API.META.LEADER.STEPDOWN", {}) as { success?: boolean }).success, true);
      await waitFor("a new meta leader of 3", async () => {
        const views = await Promise.all(c.nodes.filter((p) => p).map(async (p) =>
          (await (await p!.monitorFetch(new Request("http://localhost/jsz"))).json() as { meta_cluster?: { leader?: string; cluster_size?: number } })
            .meta_cluster
        ));
        return views.every((v) => v?.leader && v.leader !== metaLeader && v.leader === views[0]?.leader && v.cluster_size === 3);
      }, 20_000);
    } finally {
      await nc?.close().catch(() => {});
      await c.close();
    }
  });
});
