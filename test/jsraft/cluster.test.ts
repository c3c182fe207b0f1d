// Replicated JetStream on three Petrel servers, driven by the official nats.js client: the meta group forms,
// an R3 stream is placed on all three, publishes are acknowledged once replicated, and a client on any server
// sees the same stream.
//
// The three-server cases share one cluster (starting and stopping one costs seconds): each uses streams of its
// own, counts messages per stream (not per server), and a case that stops a server starts it again before it
// ends; `ready()` makes sure all three are up and agree on a meta leader before the next case. Only the
// five-server case has a cluster of its own.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";

type Node = { monitorFetch(r: Request): Response | Promise<Response> };

interface StreamState {
  first_seq: number;
  last_seq: number;
  messages: number;
}

/** Stream `name`'s state on one server (its replica), or undefined when the server holds none. */
async function streamOn(p: Node, name: string): Promise<StreamState | undefined> {
  const jsz = await (await p.monitorFetch(new Request("http://localhost/jsz?streams=true"))).json() as {
    account_details?: Array<{ stream_detail?: Array<{ name: string; state: StreamState }> }>;
  };
  for (const a of jsz.account_details ?? []) {
    const s = a.stream_detail?.find((d) => d.name === name);
    if (s !== undefined) return s.state;
  }
  return undefined;
}

async function messagesOn(p: Node, stream: string): Promise<number> {
  return (await streamOn(p, stream))?.messages ?? 0;
}

/** Publishes until acknowledged: no leader yet (election after a kill) is retried with the same Nats-Msg-Id. */
function publishRetrying(nc: NatsConnection, subject: string, data: string, id: string): Promise<number> {
  const js = jetstream(nc);
  return waitFor(`publish ${id} acknowledged`, () => js.publish(subject, data, { msgID: id, timeout: 1000 }).then((a) => a.seq), 45_000, 100);
}

describe("replicated JetStream (3 servers)", () => {
  let c: JsCluster;
  before(async () => {
    c = await startJsCluster(3, { tags: [["ssd", "az:1"], ["az:2"], ["ssd", "az:3"]] });
  }, { timeout: 30_000 });
  after(async () => {
    await c?.close();
  });

  /**
   * All three servers up (a failed case may have left one stopped), agreeing on a meta leader, and that leader
   * seeing the other two online and current (a server just restarted is not placed on until it is).
   */
  async function ready(): Promise<string> {
    for (let i = 0; i < 3; i++) if (c.nodes[i] === undefined) await c.start(i);
    const leader = await waitMetaLeader(c);
    const ln = c.nodes[c.names.indexOf(leader)]!;
    await waitFor("the meta leader sees every peer online", async () => {
      const jsz = await (await ln.monitorFetch(new Request("http://localhost/jsz"))).json() as {
        meta_cluster?: { leader?: string; replicas?: Array<{ current?: boolean; offline?: boolean }> };
      };
      const r = jsz.meta_cluster?.replicas ?? [];
      return jsz.meta_cluster?.leader === leader && r.length === 2 && r.every((x) => x.current === true && x.offline !== true);
    }, 15_000);
    return leader;
  }

  it("creates an R3 stream, replicates publishes and answers from every server", { timeout: 60_000 }, async () => {
    const conns: NatsConnection[] = [];
    try {
      const leader = await ready();
      assert.ok(c.names.includes(leader));
      for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
      const jsm = await jetstreamManager(conns[0]);
      const si = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
      assert.equal(si.config.num_replicas, 3);
      assert.ok(si.cluster?.leader);
      const js = jetstream(conns[1]);
      for (let i = 1; i <= 20; i++) {
        const ack = await js.publish(`orders.${i}`, `o${i}`);
        assert.equal(ack.seq, i);
      }
      for (const nc of conns) {
        const info = await (await jetstreamManager(nc)).streams.info("ORDERS");
        assert.equal(info.state.messages, 20);
        assert.equal(info.cluster?.replicas?.length, 2);
      }
      // Every replica holds the 20 messages.
      await waitFor("all replicas hold 20 messages", async () => {
        for (const p of c.nodes) if ((await messagesOn(p!, "ORDERS")) !== 20) return false;
        return true;
      });
      assert.ok((await jsm.streams.names().next()).includes("ORDERS"));
      // Only the stream leader's server announces the stream's subjects (as nats-server): on every server, the
      // routes show `orders.>` from the leader's server alone, so a publish crosses one route, not one per replica.
      const streamLeader = (await jsm.streams.info("ORDERS")).cluster?.leader;
      assert.ok(streamLeader);
      await waitFor("orders.> announced by the stream leader's server only", async () => {
        for (const p of c.nodes) {
          const rz = await (await p!.monitorFetch(new Request("http://localhost/routez?subs=1"))).json() as {
            routes?: Array<{ remote_name?: string; subscriptions_list?: string[] }>;
          };
          if ((rz.routes ?? []).length !== 2) return false;
          for (const r of rz.routes ?? []) {
            if ((r.subscriptions_list ?? []).includes("orders.>") !== (r.remote_name === streamLeader)) return false;
          }
        }
        return true;
      });
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
    }
  });

  it("keeps every acknowledged message across a leader stop, re-election and restart", { timeout: 90_000 }, async () => {
    const conns = new Map<number, NatsConnection>();
    try {
      await ready();
      const nc0 = await connect({ servers: c.nodes[0]!.clientUrl });
      conns.set(0, nc0);
      const jsm = await jetstreamManager(nc0);
      await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
      const acked: number[] = [];
      for (let i = 1; i <= 30; i++) acked.push(await publishRetrying(nc0, "r3.a", `m${i}`, `id-${i}`));
      // A durable pull consumer takes and acknowledges the first 10.
      await jsm.consumers.add("R3", { durable_name: "work", ack_policy: "explicit" });
      const cons = await jetstream(nc0).consumers.get("R3", "work");
      const first = await cons.fetch({ max_messages: 10, expires: 2000 });
      for await (const m of first) m.ack();
      await waitFor("ack floor 10", async () => (await jsm.consumers.info("R3", "work")).ack_floor.stream_seq === 10);

      const leader = (await jsm.streams.info("R3")).cluster!.leader!;
      const li = c.names.indexOf(leader);
      const survivors = [0, 1, 2].filter((i) => i !== li);
      if (li === 0) {
        await nc0.close();
        conns.delete(0);
      }
      await c.stop(li);
      const nc = await connect({ servers: c.nodes[survivors[0]]!.clientUrl });
      conns.set(survivors[0], nc);
      for (let i = 31; i <= 60; i++) acked.push(await publishRetrying(nc, "r3.b", `m${i}`, `id-${i}`));
      assert.deepEqual(acked, Array.from({ length: 60 }, (_, i) => i + 1), "sequences 1..60, no gap, no duplicate");
      // The stopped server may have led the meta group too: wait for the API to answer again.
      const jsm2 = await waitFor("the API answers", () => jetstreamManager(nc, { timeout: 1000 }).catch(() => undefined), 15_000);
      const info = await waitFor("stream info", () => jsm2.streams.info("R3").catch(() => undefined), 15_000);
      assert.notEqual(info.cluster?.leader, leader);
      assert.equal(info.state.messages, 60);

      // The consumer moved with the stream and resumes after its ack floor.
      const cons2 = await waitFor("the consumer on the new leader", () => jetstream(nc).consumers.get("R3", "work").catch(() => undefined), 15_000);
      const next = await cons2.next({ expires: 3000 });
      assert.equal(next?.seq, 11, `nothing acknowledged is redelivered (got ${next?.seq})`);
      next?.ack();

      await c.start(li);
      await waitFor("the restarted replica caught up", async () => (await messagesOn(c.nodes[li]!, "R3")) === 60, 20_000);
      for (const i of survivors) assert.equal(await messagesOn(c.nodes[i]!, "R3"), 60);
      const all = await jsm2.streams.info("R3");
      assert.equal(all.state.first_seq, 1);
      assert.equal(all.state.last_seq, 60);
    } finally {
      for (const nc of conns.values()) await nc.close().catch(() => {});
    }
  });

  it("steps leaders down, serves an R3 KV bucket and deletes streams everywhere", { timeout: 60_000 }, async () => {
    const conns: NatsConnection[] = [];
    try {
      const metaLeader = await ready();
      for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
      const jsm = await jetstreamManager(conns[0]);
      // For polls across a leader change (a request that arrives mid-change goes unanswered: no 5 s wait for it).
      const quick = await jetstreamManager(conns[0], { timeout: 1000 });

      // Meta leader step-down: another server leads the meta group.
      const r = await conns[1].request("$JS.API.META.LEADER.STEPDOWN", "");
      assert.equal((r.json() as { success?: boolean }).success, true);
      // Every server agreeing on a leader is not enough: right after the request they may still agree on the old one.
      const next = await waitFor("another meta leader", async () => {
        const l = await waitMetaLeader(c);
        return l !== metaLeader ? l : undefined;
      }, 15_000);
      assert.notEqual(next, metaLeader);

      // Stream leader step-down.
      await jsm.streams.add({ name: "SD", subjects: ["sd.>"], num_replicas: 3 });
      await jetstream(conns[2]).publish("sd.1", "x");
      const before = (await jsm.streams.info("SD")).cluster!.leader!;
      const sd = await conns[2].request("$JS.API.STREAM.LEADER.STEPDOWN.SD", "");
      assert.equal((sd.json() as { success?: boolean }).success, true);
      await waitFor("a new stream leader", async () => {
        const l = (await quick.streams.info("SD").catch(() => undefined))?.cluster?.leader;
        return l !== undefined && l !== before;
      }, 10_000);
      assert.equal((await jetstream(conns[0]).publish("sd.2", "y")).seq, 2);
      // A consumer moves with its stream's leadership.
      await jsm.consumers.add("SD", { durable_name: "c1", ack_policy: "explicit" });
      const nope = await conns[1].request("$JS.API.CONSUMER.LEADER.STEPDOWN.SD.nope", "");
      assert.equal((nope.json() as { error?: { err_code: number } }).error?.err_code, 10014);
      const csd = await conns[1].request("$JS.API.CONSUMER.LEADER.STEPDOWN.SD.c1", "");
      assert.equal((csd.json() as { success?: boolean }).success, true);
      await waitFor("the consumer answers again", async () => {
        const ci = await quick.consumers.info("SD", "c1").catch(() => undefined);
        return ci?.num_pending === 2;
      }, 10_000);
      for (const p of c.nodes) {
        await waitFor("healthz ok", async () => (await p!.monitorFetch(new Request("http://localhost/healthz"))).status === 200);
      }

      // An R3 key-value bucket, written and read from different servers, with history and a watcher.
      const { Kvm } = await import("@nats-io/kv");
      const kv = await new Kvm(conns[0]).create("cfg", { replicas: 3, history: 5 });
      const kvB = await new Kvm(conns[1]).open("cfg");
      const watch = await kvB.watch({ key: "k" });
      await kv.put("k", "v1");
      await kv.put("k", "v2");
      assert.equal((await kvB.get("k"))?.string(), "v2");
      const hist: string[] = [];
      for await (const e of await kvB.history({ key: "k" })) hist.push(e.string());
      assert.deepEqual(hist, ["v1", "v2"]);
      const seen: string[] = [];
      for await (const e of watch) {
        seen.push(e.string());
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, ["v1", "v2"]);
      await assert.rejects(kv.create("k", "again"), "create refuses an existing key");
      const info = await jsm.streams.info("KV_cfg");
      assert.equal(info.config.num_replicas, 3);
      assert.equal(info.cluster?.replicas?.length, 2);

      // Delete: gone from every server (while the KV bucket's stream stays on each).
      await jsm.streams.delete("SD");
      await waitFor("SD gone everywhere", async () => {
        for (const p of c.nodes) {
          if ((await streamOn(p!, "SD")) !== undefined || (await streamOn(p!, "KV_cfg")) === undefined) return false;
        }
        return true;
      });
      await assert.rejects(jsm.streams.info("SD"), /stream not found/);
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
    }
  });

  it("brings back a replica that missed more than the leader's log holds", { timeout: 90_000 }, async () => {
    let nc: NatsConnection | undefined;
    try {
      await ready();
      nc = await connect({ servers: c.nodes[0]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      const quick = await jetstreamManager(nc, { timeout: 1000 });
      await jsm.streams.add({ name: "BIG", subjects: ["big.>"], num_replicas: 3 });
      const js = jetstream(nc);
      await js.publish("big.0", "first");
      await jsm.streams.purge("BIG", { filter: "big.0" });
      // Stop a follower (not the stream leader, not the server the client uses).
      const leader = (await jsm.streams.info("BIG")).cluster!.leader!;
      const off = [1, 2].find((i) => c.names[i] !== leader)!;
      await c.stop(off);
      // More entries than the log keeps (8192 between compactions): the leader compacts behind them.
      const total = 9000;
      const pending: Array<Promise<unknown>> = [];
      for (let i = 1; i <= total; i++) {
        pending.push(js.publish(`big.${i % 7}`, `m${i}`));
        if (pending.length >= 500) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
      await jsm.streams.deleteMessage("BIG", 5);
      await c.start(off);
      await waitFor("the stopped replica caught up", async () => (await messagesOn(c.nodes[off]!, "BIG")) === total - 1, 30_000);
      const st = (await streamOn(c.nodes[off]!, "BIG"))!;
      assert.equal(st.first_seq, 2);
      assert.equal(st.last_seq, total + 1);
      // And the caught-up replica can lead: step the others down until it does, then publish.
      await waitFor("the caught-up replica leads", async () => {
        const was = (await quick.streams.info("BIG")).cluster?.leader;
        if (was === c.names[off]) return true;
        await nc!.request("$JS.API.STREAM.LEADER.STEPDOWN.BIG", "").catch(() => {});
        // The next round once another leader is in place (not a fixed pause).
        await waitFor("a new stream leader", async () => {
          const now = (await quick.streams.info("BIG").catch(() => undefined))?.cluster?.leader;
          return now !== undefined && now !== was;
        }, 10_000);
        return false;
      }, 40_000, 10);
      assert.equal((await js.publish("big.x", "after")).seq, total + 2);
    } finally {
      await nc?.close().catch(() => {});
    }
  });

  it("places replicas by placement tags against server_tags, and refuses what no server can hold", { timeout: 60_000 }, async () => {
    let nc: NatsConnection | undefined;
    try {
      await ready();
      nc = await connect({ servers: c.nodes[1]!.clientUrl });
      const jsm = await jetstreamManager(nc);
      const ssd = await jsm.streams.add({ name: "SSD", subjects: ["ssd.>"], num_replicas: 2, placement: { cluster: "", tags: ["ssd"] } });
      const on = [ssd.cluster?.leader, ...(ssd.cluster?.replicas ?? []).map((r) => r.name)].sort();
      assert.deepEqual(on, ["n1", "n3"]);
      const one = await jsm.streams.add({ name: "AZ2", subjects: ["az2.>"], placement: { cluster: "", tags: ["AZ:2"] } });
      assert.equal(one.cluster?.leader, "n2");
      await assert.rejects(
        jsm.streams.add({ name: "GPU", subjects: ["gpu.>"], placement: { cluster: "", tags: ["gpu"] } }),
        /no suitable peers for placement, tags not matched \['gpu'\]/,
      );
      // nats-server 2.9.10's answers (400/10005).
      await assert.rejects(jsm.streams.add({ name: "R5", subjects: ["r5.>"], num_replicas: 5 }), /^.*no suitable peers for placement$/);
      await assert.rejects(
        jsm.streams.add({ name: "ELSEWHERE", subjects: ["e.>"], placement: { cluster: "other", tags: [] } }),
        /^.*no suitable peers for placement$/,
      );
    } finally {
      await nc?.close().catch(() => {});
    }
  });

  it("delivers a push consumer's messages to a subscriber on another server and serves an R3 object store", { timeout: 60_000 }, async () => {
    const conns: NatsConnection[] = [];
    try {
      await ready();
      for (const p of c.nodes) conns.push(await connect({ servers: p!.clientUrl }));
      const jsm = await jetstreamManager(conns[0]);
      const si = await jsm.streams.add({ name: "PUSH", subjects: ["push.>"], num_replicas: 3 });
      // The subscriber sits on a server that does not lead the stream.
      const other = conns[(c.names.indexOf(si.cluster!.leader!) + 1) % 3];
      const got: Array<[string, number]> = [];
      const done = new Promise<void>((resolve) => {
        other.subscribe("deliver.push", {
          callback: (_e, m) => {
            got.push([m.subject, Number(m.reply?.split(".")[5])]);
            m.respond(); // ack
            if (got.length === 5) resolve();
          },
        });
      });
      await other.flush();
      await jsm.consumers.add("PUSH", { durable_name: "p", deliver_subject: "deliver.push", ack_policy: "explicit" });
      for (let i = 1; i <= 5; i++) await jetstream(conns[0]).publish(`push.${i}`, `m${i}`);
      await done;
      assert.deepEqual(got, [1, 2, 3, 4, 5].map((i) => [`push.${i}`, i]), "stored subjects, in order, with their ack replies");
      await waitFor("acks reached the leader", async () => (await jsm.consumers.info("PUSH", "p")).ack_floor.stream_seq === 5);

      const { Objm } = await import("@nats-io/obj");
      const os = await new Objm(conns[1]).create("files", { replicas: 3 });
      const blob = new Uint8Array(300_000).map((_, i) => i % 251);
      await os.putBlob({ name: "blob" }, blob);
      const back = await (await new Objm(conns[2]).open("files")).getBlob("blob");
      assert.deepEqual(back, blob);
      assert.equal((await jsm.streams.info("OBJ_files")).config.num_replicas, 3);
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
    }
  });
});

describe("replicated JetStream: five servers and quorum", () => {
  it("places R5 on all five, R3 on three; without a quorum a stream takes nothing, and resumes with it", { timeout: 90_000 }, async () => {
    // Every server names all five in its routes, as a deployment would.
    const c = await startJsCluster(5);
    const conns = new Map<number, NatsConnection>();
    try {
      await waitFor("all five in the meta group", async () => {
        for (const p of c.nodes) {
          const j = await (await p!.monitorFetch(new Request("http://localhost/jsz"))).json() as { meta_cluster?: { cluster_size?: number } };
          if (j.meta_cluster?.cluster_size !== 5) return false;
        }
        return true;
      }, 20_000);
      await waitMetaLeader(c, 15_000);
      const nc = await connect({ servers: c.nodes.map((p) => p!.clientUrl) });
      const jsm = await jetstreamManager(nc);
      const r5 = await jsm.streams.add({ name: "FIVE", subjects: ["five.>"], num_replicas: 5 });
      assert.equal((r5.cluster?.replicas?.length ?? 0) + 1, 5);
      const r3 = await jsm.streams.add({ name: "THREE", subjects: ["three.>"], num_replicas: 3 });
      const peers = [r3.cluster!.leader!, ...r3.cluster!.replicas!.map((r) => r.name)];
      assert.equal(new Set(peers).size, 3);
      const js = jetstream(nc, { timeout: 1500 });
      for (let i = 1; i <= 5; i++) assert.equal((await js.publish("three.x", `a${i}`, { msgID: `a${i}` })).seq, i);
      assert.equal((await js.publish("five.x", "f")).seq, 1);

      // Two of THREE's three replicas go: no quorum, nothing is stored (the publish is not answered).
      const gone = peers.slice(0, 2).map((n) => c.names.indexOf(n));
      const client = [0, 1, 2, 3, 4].find((i) => !gone.includes(i))!;
      const nc2 = await connect({ servers: c.nodes[client]!.clientUrl });
      conns.set(client, nc2);
      await nc.close();
      for (const i of gone) await c.stop(i);
      const js2 = jetstream(nc2, { timeout: 1500 });
      await assert.rejects(js2.publish("three.x", "lost?", { msgID: "q1" }));
      // R5 keeps a quorum (3 of 5) and goes on.
      const f = await waitFor("FIVE takes a publish", () => js2.publish("five.x", "f2").catch(() => undefined), 15_000);
      assert.equal(f.seq, 2);

      // One replica back: quorum again; the retried publish is stored once, after every acknowledged one.
      await c.start(gone[0]);
      const back = await waitFor("THREE takes publishes again", () => js2.publish("three.x", "q", { msgID: "q1" }).catch(() => undefined), 20_000);
      assert.equal(back.seq, 6);
      // A graceful stop hands THREE's leadership to the survivor, which may have logged the unanswered first
      // try: committed once the quorum is back, the retry is then its duplicate. Stored once either way.
      const jsm2 = await jetstreamManager(nc2, { timeout: 1000 });
      const info = await waitFor("THREE info", () => jsm2.streams.info("THREE").catch(() => undefined), 10_000);
      assert.equal(info.state.messages, 6);
      const offline = info.cluster?.replicas?.find((r) => r.name === c.names[gone[1]]);
      assert.equal(offline?.current, false);
    } finally {
      for (const x of conns.values()) await x.close().catch(() => {});
      await c.close();
    }
  });
});
