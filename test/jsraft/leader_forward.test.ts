// Publishes on their way to a stream's leader when it steps down. Only a stream's leader announces its subjects,
// so the client's server sends each publish by the interest it last heard of: those already on the route to
// the old leader when it stops leading arrive at a server that no longer leads, and were dropped (the client
// timed out). The old leader now passes them on to the new one; a publish the client's server sent both ways
// (it heard the new leader's interest before the old one's was withdrawn) is taken once. The step-down request
// hands the leadership over as a graceful stop does: publishes that come meanwhile wait for the successor (they
// were dropped, and the old leader stayed unready if its transfer failed and it was elected again).
// Three Petrel servers; every route crosses a proxy, and the one from the client's server to the leader holds
// what it carries 150 ms, so that a stream of publishes is in flight there through the step-down.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamManager, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import type { Petrel } from "../../src/petrel.ts";
import type { LinkProxy } from "../helpers/link_proxy.ts";
import { waitFor } from "../helpers/servers.ts";
import { type ProxiedCluster, startProxiedCluster } from "./proxied_cluster.ts";

const N = 3;

/**
 * Steps stream `stream` down through `toOld` (a client of its leader `was`) until another server is elected;
 * returns who. Each election says who won; a transfer whose target does not win in time leaves the old leader
 * elected again: asked again then (a few times at most).
 */
async function stepDownAway(toOld: NatsConnection, stream: string, was: string): Promise<string> {
  const elected: string[] = [];
  const adv = toOld.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${stream}`, {
    callback: (_e, m) => void elected.push(m.json<{ leader: string }>().leader),
  });
  await toOld.flush();
  let name = was;
  for (let attempt = 0; attempt < 5 && name === was; attempt++) {
    const seen = elected.length;
    await toOld.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5000 });
    name = await waitFor("an election", () => elected[seen], 10_000, 5);
  }
  adv.unsubscribe();
  return name;
}
/** How long the route from the client's server to the old leader holds what it carries. */
const ROUTE_DELAY_MS = 150;
const PUBLISHES = 240;

describe("publishes in flight to a stream leader that steps down", () => {
  let cluster: ProxiedCluster | undefined;
  const nodes: Petrel[] = [];
  /** `dial[i][j]`: the proxy server i dials server j through. */
  const dial: LinkProxy[][] = [];
  let nc: NatsConnection | undefined;
  let admin: NatsConnection | undefined;
  let jsm: JetStreamManager;

  /**
   * A new R3 stream `name` on `<lowercase name>.>` with both followers caught up (a step-down then hands over to
   * one of them at once); returns its leader's name.
   */
  const caughtUpStream = async (name: string, extra: { allow_direct?: boolean } = {}): Promise<string> => {
    for (const row of dial) for (const p of row) p?.setDelays({});
    const subjects = [`${name.toLowerCase()}.>`];
    await waitFor("an R3 stream", () => jsm.streams.add({ name, subjects, num_replicas: 3, ...extra }).catch(() => undefined), 15_000);
    return await waitFor("its leader and caught-up followers", async () => {
      const c = (await jsm.streams.info(name).catch(() => undefined))?.cluster;
      const f = c?.replicas;
      return f?.length === 2 && f.every((r) => r.current && (r.lag ?? 0) === 0) ? c?.leader : undefined;
    });
  };

  /** What server `from` sends server `to` is held `ms` (over either route between them). */
  const slow = (from: number, to: number, ms: number) => {
    dial[from][to].setDelays({ toTargetMs: ms });
    dial[to][from].setDelays({ fromTargetMs: ms });
  };

  before(async () => {
    cluster = await startProxiedCluster(N, "fwd");
    nodes.push(...cluster.nodes);
    dial.push(...cluster.dial);
    admin = await connect({ servers: nodes.map((p) => p.clientUrl) });
    const a = admin;
    await waitFor("the meta group", () => jetstreamManager(a, { timeout: 1000 }).then((m) => m.getAccountInfo()).catch(() => undefined), 20_000);
    jsm = await jetstreamManager(admin);
  });

  after(async () => {
    await nc?.close().catch(() => {});
    await admin?.close().catch(() => {});
    await cluster?.close();
  });

  it("every publish is acknowledged once, none times out", { timeout: 60_000 }, async () => {
    await waitFor("an R3 stream", () => jsm.streams.add({ name: "FWD", subjects: ["fwd.>"], num_replicas: 3 }).catch(() => undefined), 15_000);
    const leaderName = await waitFor("its leader", async () => (await jsm.streams.info("FWD").catch(() => undefined))?.cluster?.leader);
    const old = Number(leaderName.slice(1)) - 1;
    const client = (old + 1) % N;
    slow(client, old, ROUTE_DELAY_MS);
    nc = await connect({ servers: nodes[client].clientUrl });
    const js = jetstream(nc);
    await waitFor("a publish from the client's server", () => js.publish("fwd.warm", "w", { timeout: 2000 }).catch(() => undefined), 10_000);
    const T0 = Date.now();
    const events: string[] = [];
    const adv = admin!.subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.FWD", {
      callback: (_e, m) => {
        events.push(`${Date.now() - T0}ms ${m.json<{ leader: string }>().leader}`);
      },
    });
    const sent: number[] = [];
    // A steady flow, one publish every 2 ms, each waiting up to 3 s for its acknowledgement (no retries).
    const results: Array<Promise<PubAck | Error>> = [];
    let stepped = false;
    for (let i = 0; i < PUBLISHES; i++) {
      sent.push(Date.now() - T0);
      results.push(js.publish(`fwd.${i}`, `m${i}`, { timeout: 3000, retries: 1 }).catch((e: Error) => e));
      if (i === PUBLISHES / 3) {
        stepped = true;
        void admin!.request("$JS.API.STREAM.LEADER.STEPDOWN.FWD", undefined, { timeout: 5000 }).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(stepped);
    const out = await Promise.all(results);
    const failed = out.filter((r): r is Error => r instanceof Error).map((e) => e.message);
    const lost = out.map((r, i) => r instanceof Error ? i : -1).filter((i) => i >= 0);
    adv.unsubscribe();
    assert.deepEqual(failed, [], `publishes ${lost.join(",")} (sent at ${lost.map((i) => sent[i]).join(",")} ms; step-down at ${sent[PUBLISHES / 3]} ms) of leader ${leaderName}, client on n${client + 1}; elected: ${events.join(", ")}`);
    const seqs = (out as PubAck[]).map((a) => a.seq);
    // One stored message per publish (the warm-up is sequence 1): none lost, none taken twice.
    assert.equal(new Set(seqs).size, PUBLISHES);
    // (The leadership may also come back to the old leader: a transfer whose target did not win in time.)
    const info = await waitFor("the stream led again", async () => {
      const i = await jsm.streams.info("FWD").catch(() => undefined);
      return i?.cluster?.leader ? i : undefined;
    });
    assert.equal(info.state.messages, PUBLISHES + 1);
  });

  // The same flow, its order: the publishes on the slow route to the old leader when it hands over reach it after
  // the successor leads and are passed on from there; the client's later ones reach the successor directly. The
  // successor holds those until the old leader's end mark, which the old leader sent at once (handoff2): ahead of
  // the publishes still on their way to it, so later publishes were stored before earlier ones (both acknowledged).
  // Now the mark goes once the client's server has read the old leader's withdrawal (its answer comes after
  // what it sent before, on the same route). Under load (a full Deno run) the successor's wait ran out first: it
  // ended after 500 ms by the clock, and a host stalled that long released a direct publish ahead of six earlier
  // ones the old leader passed on a moment later. The wait now ends on the mark, or once the old leader stops
  // answering (or after 3 s). The reorder is the servers': `retries: 1` is one attempt (nats.js sends a publish
  // again only for retries > 1), and every publish here is acknowledged.
  it("every publish is stored in the order its client sent it", { timeout: 60_000 }, async () => {
    const leaderName = await caughtUpStream("ORD");
    const old = Number(leaderName.slice(1)) - 1;
    const client = (old + 1) % N;
    const conn = await connect({ servers: nodes[client].clientUrl });
    try {
      const js = jetstream(conn);
      await waitFor("a publish from the client's server", () => js.publish("ord.warm", "w", { timeout: 2000 }).catch(() => undefined), 10_000);
      slow(client, old, ROUTE_DELAY_MS);
      const results: Array<Promise<PubAck | Error>> = [];
      for (let i = 0; i < PUBLISHES; i++) {
        results.push(js.publish(`ord.${i}`, `m${i}`, { timeout: 5000, retries: 1 }).catch((e: Error) => e));
        if (i === PUBLISHES / 3) void admin!.request("$JS.API.STREAM.LEADER.STEPDOWN.ORD", undefined, { timeout: 5000 }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 2));
      }
      const out = await Promise.all(results);
      assert.deepEqual(out.filter((r): r is Error => r instanceof Error).map((e) => e.message), []);
      const seqs = (out as PubAck[]).map((a) => a.seq);
      const behind = seqs.map((q, i) => (i > 0 && q < seqs[i - 1] ? i : -1)).filter((i) => i >= 0);
      assert.deepEqual(behind, [], `publishes stored before an earlier one of their client (seqs ${seqs.join(",")})`);
    } finally {
      for (const row of dial) for (const p of row) p?.setDelays({});
      await conn.close();
    }
  });

  it("stream info asked all through a step-down is answered every time", { timeout: 60_000 }, async () => {
    for (const row of dial) for (const p of row) p?.setDelays({});
    await waitFor("an R3 stream", () => jsm.streams.add({ name: "INF", subjects: ["inf.>"], num_replicas: 3 }).catch(() => undefined), 15_000);
    const leaderName = await waitFor("its leader", async () => (await jsm.streams.info("INF").catch(() => undefined))?.cluster?.leader);
    const old = Number(leaderName.slice(1)) - 1;
    const client = (old + 1) % N;
    slow(client, old, ROUTE_DELAY_MS);
    const conn = await connect({ servers: nodes[client].clientUrl });
    try {
      // Each request with an inbox of its own, all heard by one subscription: every answer is counted.
      const ASKS = 150;
      const answers = new Map<string, string[]>();
      const sub = conn.subscribe("inf.answers.>", {
        callback: (_e, m) => {
          const body = m.json<{ error?: { description: string } }>();
          const list = answers.get(m.subject) ?? [];
          list.push(body.error ? body.error.description : "ok");
          answers.set(m.subject, list);
        },
      });
      await conn.flush();
      // For the failure message: when each request was sent and who was elected when (a rare CI failure left
      // requests 0-2, sent before the step-down, unanswered; not reproduced alone or under CPU burners).
      const T0 = Date.now();
      const sent: number[] = [];
      const events: string[] = [];
      const adv = admin!.subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.INF", {
        callback: (_e, m) => void events.push(`${Date.now() - T0}ms ${m.json<{ leader: string }>().leader}`),
      });
      let stepDownAt = -1;
      for (let i = 0; i < ASKS; i++) {
        sent.push(Date.now() - T0);
        conn.publish("$JS.API.STREAM.INFO.INF", undefined, { reply: `inf.answers.${i}` });
        if (i === 30) {
          stepDownAt = Date.now() - T0;
          void admin!.request("$JS.API.STREAM.LEADER.STEPDOWN.INF", undefined, { timeout: 5000 }).catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 3));
      }
      await waitFor("an answer to every request", () => answers.size >= ASKS, 5000).catch(() => undefined);
      // A last request answered after all the others: a second answer to any of them would have come by then.
      conn.publish("$JS.API.STREAM.INFO.INF", undefined, { reply: "inf.answers.last" });
      await waitFor("the last answer", () => answers.has("inf.answers.last"), 5000);
      sub.unsubscribe();
      adv.unsubscribe();
      const wrong: string[] = [];
      for (let i = 0; i < ASKS; i++) {
        const got = answers.get(`inf.answers.${i}`) ?? [];
        if (got.length !== 1 || got[0] !== "ok") wrong.push(`${i} at ${sent[i]} ms: ${got.length === 0 ? "unanswered" : got.join("+")}`);
      }
      assert.deepEqual(wrong, [], `leader ${leaderName}, client on n${client + 1}, step-down at ${stepDownAt} ms; elected: ${events.join(", ")}`);
    } finally {
      await conn.close();
    }
  });

  // The old leader learns it no longer leads from a Raft message (here the successor's vote request) and, in the
  // same read, before that change is announced to the stream's owner (a microtask later), gets requests for the
  // stream: they were dropped (it had not noted yet that it led until a moment ago, so it did not pass them on),
  // and their direct copies were left to a leader that the others did not know yet. On Deno two connections'
  // reads that finish in one turn run before the microtasks either queues, so the successor's vote on one route
  // and requests on another met that window: a CI run lost requests 0-2 of the step above that way.
  it("stream info read together with the successor's vote by the old leader is answered", { timeout: 60_000 }, async () => {
    for (const row of dial) for (const p of row) p?.setDelays({});
    // Two replicas: the step-down hands the leadership to the client's server, which needs the old leader's vote.
    await waitFor("an R2 stream", () => jsm.streams.add({ name: "VOTE", subjects: ["vote.>"], num_replicas: 2 }).catch(() => undefined), 15_000);
    // With its follower caught up: the step-down then hands over at once (a transfer to a follower still behind
    // waits for its acknowledgement, which the held route would keep back).
    const info = await waitFor("its leader and a caught-up follower", async () => {
      const i = await jsm.streams.info("VOTE").catch(() => undefined);
      const f = i?.cluster?.replicas;
      return i?.cluster?.leader && f?.length === 1 && f[0].current && (f[0].lag ?? 0) === 0 ? i : undefined;
    });
    const old = Number(info.cluster!.leader!.slice(1)) - 1;
    const client = Number(info.cluster!.replicas![0].name.slice(1)) - 1;
    /** The stream's leader as server `i` sees it (none while it is a candidate). */
    const leaderSeenBy = async (i: number): Promise<string | undefined> => {
      const res = await nodes[i].monitorFetch(new Request("http://localhost/jsz?accounts=true&streams=true"));
      const jsz = await res.json() as { account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }> };
      return jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === "VOTE")?.cluster?.leader;
    };
    await waitFor("the client's server to follow the leader", async () => (await leaderSeenBy(client)) === info.cluster!.leader);
    const conn = await connect({ servers: nodes[client].clientUrl });
    const toOld = await connect({ servers: nodes[old].clientUrl });
    const hold = () => {
      dial[client][old].hold("toTarget");
      dial[old][client].hold("fromTarget");
    };
    const release = () => {
      dial[client][old].release("toTarget");
      dial[old][client].release("fromTarget");
    };
    try {
      const answers = new Map<string, number>();
      const sub = conn.subscribe("ans.vote.>", { callback: (_e, m) => void answers.set(m.subject, (answers.get(m.subject) ?? 0) + 1) });
      await conn.flush();
      // What the client's server sends the old leader waits from here, its vote request too.
      hold();
      await toOld.request("$JS.API.STREAM.LEADER.STEPDOWN.VOTE", undefined, { timeout: 5000 });
      await waitFor("the client's server to campaign", async () => (await leaderSeenBy(client)) === undefined);
      // Asked while the client's server is a candidate: it leaves them to a leader, and the old leader reads them
      // right behind the vote request.
      const ASKS = 20;
      for (let i = 0; i < ASKS; i++) conn.publish("$JS.API.STREAM.INFO.VOTE", undefined, { reply: `ans.vote.${i}` });
      await conn.flush();
      release();
      await waitFor("an answer to every request", () => answers.size >= ASKS, 5000).catch(() => undefined);
      // A last request answered after all the others: a second answer to any of them would have come by then.
      conn.publish("$JS.API.STREAM.INFO.VOTE", undefined, { reply: "ans.vote.last" });
      await waitFor("the last answer", () => answers.has("ans.vote.last"), 5000);
      sub.unsubscribe();
      const wrong = Array.from({ length: ASKS }, (_, i) => [i, answers.get(`ans.vote.${i}`) ?? 0]).filter(([, n]) => n !== 1);
      assert.deepEqual(wrong, [], `[request, answers] of leader n${old + 1}, client on n${client + 1}`);
    } finally {
      release();
      await toOld.close();
      await conn.close();
    }
  });

  // Just after a step-down the old leader passes a request it got on to the new one, which may get that copy before
  // the requester's server's own: before the interest in the request's reply (a fresh inbox: the client's first
  // request) that travels with that copy. The new leader answered the passed-on copy to nobody and took the
  // direct one, when it came, for a repeat (a CI run lost a request through a plain nats-server this way); then it
  // kept the passed-on copy for the direct one at most 1 s, and a loaded CI run held the route longer. Now it
  // answers it back through the old leader (answer_back.ts). Here the route from the client's server to the new
  // leader is held until both answers came: only the passed-on copies can be answered meanwhile.
  it("a request passed on ahead of its reply's interest is answered through the server that passed it on", { timeout: 60_000 }, async () => {
    const was = await caughtUpStream("FRESH");
    const old = Number(was.slice(1)) - 1;
    const toOld = await connect({ servers: nodes[old].clientUrl });
    // A client on each of the other two servers, ready before the step-down: the one on the server that does not
    // win asks, within the old leader's pass-on window (PASS_ON_MS) with nothing to set up by then.
    // What the asking client got, by subject (the other one's subscription answers nothing it is asked).
    const got = new Map<string, number>();
    const counter = (i: number) => (_e: unknown, m: { subject: string }) => {
      if (i === client) got.set(m.subject, (got.get(m.subject) ?? 0) + 1);
    };
    const others = [0, 1, 2].filter((i) => i !== old);
    const conns = new Map<number, NatsConnection>();
    let client = -1, now = -1;
    const held = (on: boolean) => {
      if (client < 0 || now < 0) return;
      if (on) {
        dial[client][now].hold("toTarget");
        dial[now][client].hold("fromTarget");
      } else {
        dial[client][now].release("toTarget");
        dial[now][client].release("fromTarget");
      }
    };
    try {
      for (const i of others) {
        const c = await connect({ servers: nodes[i].clientUrl });
        conns.set(i, c);
        c.subscribe("fresh.mark.>", { callback: counter(i) });
        await c.flush();
      }
      const name = await stepDownAway(toOld, "FRESH", was);
      assert.notEqual(name, was, "the leadership stayed with the old leader");
      now = Number(name.slice(1)) - 1;
      // The client sits on the third server: it asks both directly, and the old leader passes its copy on.
      client = 3 - old - now;
      const c = conns.get(client)!;
      // From here what the client's server sends the new leader waits: its copy of each request, and its interest.
      held(true);
      c.subscribe("fresh.ans", { callback: counter(client) });
      c.publish("$JS.API.STREAM.INFO.FRESH", undefined, { reply: "fresh.ans" });
      // Passed on the same way behind it, its reply known there: answered by interest.
      c.publish("$JS.API.STREAM.INFO.FRESH", undefined, { reply: "fresh.mark.1" });
      await waitFor("both answers while the direct copies are held", () => got.has("fresh.mark.1") && got.has("fresh.ans"), 10_000, 5);
      held(false);
      // A last request answered after the direct copies: a late or second answer would have come by then.
      c.publish("$JS.API.STREAM.INFO.FRESH", undefined, { reply: "fresh.mark.2" });
      await waitFor("the last answer", () => got.has("fresh.mark.2"), 10_000, 5);
      assert.deepEqual([...got].sort(), [["fresh.ans", 1], ["fresh.mark.1", 1], ["fresh.mark.2", 1]], `leader n${old + 1} -> n${now + 1}, client on n${client + 1}`);
    } finally {
      held(false);
      for (const c of conns.values()) await c.close();
      await toOld.close();
    }
  });
  // The same order for a publish: the client's server still sends it to the old leader (that leader's withdrawal
  // of the stream's subjects has not reached it), which passes it on to the new leader ahead of the interest in
  // its reply (a fresh reply: the client's first publish). The new leader stored it and acknowledged it by
  // interest, to nobody: the client timed out although the message was stored (and a retry without a
  // Nats-Msg-Id stored it twice). Now the acknowledgement goes back through the old leader (answer_back.ts).
  // Held here: what the old leader sends the client's server from before the step-down (its withdrawal, and its
  // appends, so that the step-down can only hand over to the third server, the one holding the whole log), and
  // from the step-down on, what the client's server sends the new leader (its interest, its direct copy).
  it("a publish passed on ahead of its reply's interest is acknowledged through the server that passed it on", { timeout: 60_000 }, async () => {
    const was = await caughtUpStream("PFRESH");
    const old = Number(was.slice(1)) - 1;
    const client = (old + 1) % N;
    const now = 3 - old - client;
    /** Holds (or releases) what server `from` sends server `to`, over either route between them. */
    const held = (from: number, to: number, on: boolean) => {
      const f = on ? "hold" : "release";
      dial[from][to][f]("toTarget");
      dial[to][from][f]("fromTarget");
    };
    const toOld = await connect({ servers: nodes[old].clientUrl });
    const c = await connect({ servers: nodes[client].clientUrl });
    const holding = new Set<string>();
    const hold = (from: number, to: number) => {
      held(from, to, true);
      holding.add(`${from},${to}`);
    };
    const release = (from: number, to: number) => {
      if (holding.delete(`${from},${to}`)) held(from, to, false);
    };
    try {
      const got = new Map<string, Array<{ seq?: number; error?: unknown }>>();
      c.subscribe("pans.mark", { callback: (_e, m) => void got.set(m.subject, [m.json()]) });
      await c.flush();
      const jsOld = jetstream(toOld);
      // Stream infos come from the stream's leader (the meta leader may sit behind a held route).
      const jsmOld = await jetstreamManager(toOld, { checkAPI: false });
      // The client's server hears the old leader's interest from here on, and misses its appends.
      hold(old, client);
      await jsOld.publish("pfresh.0", "zero", { timeout: 5000 });
      const name = await stepDownAway(toOld, "PFRESH", was);
      assert.equal(name, `n${now + 1}`, `the leadership went from ${was} to ${name}, not to the server holding the whole log`);
      hold(client, now);
      // A fresh reply: its interest goes to the old leader (through) and to the new one (held).
      c.subscribe("pans.1", { callback: (_e, m) => void got.set(m.subject, [...got.get(m.subject) ?? [], m.json()]) });
      c.publish("pfresh.1", "one", { reply: "pans.1" });
      await c.flush();
      // Stored by the new leader, by way of the old one (the client's server's own copy, if any, is held).
      await waitFor("the passed-on publish stored", async () => (await jsmOld.streams.info("PFRESH").catch(() => undefined))?.state.messages === 2, 10_000);
      // What the old leader sends the client's server goes on: an acknowledgement it was given to pass back.
      release(old, client);
      await waitFor("its acknowledgement while the client's server's copy and interest are held", () => got.has("pans.1"), 10_000, 5);
      release(client, now);
      // A last publish acknowledged after the held copy reached the new leader: a second answer or a second
      // stored copy would have come by then.
      c.publish("pfresh.2", "two", { reply: "pans.mark" });
      await waitFor("the last acknowledgement", () => got.has("pans.mark"), 10_000, 5);
      assert.deepEqual(got.get("pans.1")!.map((a) => [a.seq, a.error]), [[2, undefined]], `leader n${old + 1} -> n${now + 1}, client on n${client + 1}`);
      assert.equal(got.get("pans.mark")![0].seq, 3);
      assert.equal((await jsmOld.streams.info("PFRESH")).state.messages, 3);
    } finally {
      release(old, client);
      release(client, now);
      await c.close();
      await toOld.close();
    }
  });
  // A request for a new consumer is the stream leader's to answer, as a stream request is, and was not passed on
  // the same way: the old leader dropped it once it knew the new one, the new one before it knew it leads (and
  // dropped it while applying its log), and a copy passed on while no leader was known skipped the repeat filter
  // (an ephemeral consumer created twice) and was answered by interest. Now it goes the stream request's way.
  // Held as in the step above: what the client's server sends the new leader.
  // A direct get (answered by the stream's leader here) goes the stream request's way already: its answer, a
  // message in headers and payload, comes back through the old leader whole.
  it("a consumer create and a direct get passed on ahead of their replies' interest are answered once, through the server that passed them on", { timeout: 60_000 }, async () => {
    const was = await caughtUpStream("CFRESH", { allow_direct: true });
    await jetstream(admin!).publish("cfresh.1", "first", { headers: (() => {
      const h = headers();
      h.set("X-Mark", "kept");
      return h;
    })() });
    const old = Number(was.slice(1)) - 1;
    const toOld = await connect({ servers: nodes[old].clientUrl });
    const conns = new Map<number, NatsConnection>();
    let client = -1, now = -1;
    const held = (on: boolean) => {
      if (client < 0 || now < 0) return;
      const f = on ? "hold" : "release";
      dial[client][now][f]("toTarget");
      dial[now][client][f]("fromTarget");
    };
    try {
      // A client on each of the other two servers, ready before the step-down (see the step above).
      for (const i of [0, 1, 2].filter((i) => i !== old)) conns.set(i, await connect({ servers: nodes[i].clientUrl }));
      const name = await stepDownAway(toOld, "CFRESH", was);
      assert.notEqual(name, was, "the leadership stayed with the old leader");
      now = Number(name.slice(1)) - 1;
      client = 3 - old - now;
      const c = conns.get(client)!;
      const got = new Map<string, Array<{ name?: string; error?: { description: string } }>>();
      c.subscribe("cans.>", { callback: (_e, m) => void got.set(m.subject, [...got.get(m.subject) ?? [], m.json()]) });
      await c.flush();
      held(true);
      // A fresh reply: its interest reaches the old leader, not the new one.
      c.subscribe("cfresh_ans", { callback: (_e, m) => void got.set(m.subject, [...got.get(m.subject) ?? [], m.json()]) });
      const create = JSON.stringify({ stream_name: "CFRESH", config: { ack_policy: "explicit", deliver_policy: "all" } });
      c.publish("$JS.API.CONSUMER.CREATE.CFRESH", create, { reply: "cfresh_ans" });
      const gets: Array<{ seq?: string; mark?: string; data: string }> = [];
      c.subscribe("cfresh_get", { callback: (_e, m) => void gets.push({ seq: m.headers?.get("Nats-Sequence"), mark: m.headers?.get("X-Mark"), data: m.string() }) });
      c.publish("$JS.API.DIRECT.GET.CFRESH", JSON.stringify({ seq: 1 }), { reply: "cfresh_get" });
      await waitFor("both answers while the client's server's copies and interest are held", () => got.has("cfresh_ans") && gets.length > 0, 10_000, 5);
      held(false);
      // A last create, answered once its consumer is in the stream's log: after a second consumer or answer for
      // the held copy would have been.
      c.publish("$JS.API.CONSUMER.CREATE.CFRESH", create, { reply: "cans.mark" });
      await waitFor("the last answer", () => got.has("cans.mark"), 10_000, 5);
      const answers = got.get("cfresh_ans")!;
      assert.equal(answers.length, 1, `answers: ${JSON.stringify(answers)}; leader n${old + 1} -> n${now + 1}, client on n${client + 1}`);
      assert.equal(answers[0].error, undefined);
      assert.deepEqual(gets, [{ seq: "1", mark: "kept", data: "first" }]);
      const mark = got.get("cans.mark")![0].name;
      const names = await waitFor("the consumer names", () => jetstreamManager(c).then((m) => m.consumers.list("CFRESH").next()).catch(() => undefined));
      assert.deepEqual(names.map((ci) => ci.name).sort(), [answers[0].name, mark].sort());
    } finally {
      held(false);
      for (const c of conns.values()) await c.close();
      await toOld.close();
    }
  });
});
