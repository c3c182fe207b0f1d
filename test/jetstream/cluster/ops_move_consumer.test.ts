// A stream move waits for its consumers, wherever they are. An R2 consumer of an R3 stream that has no replica on
// the stream's leader: its group is invisible to that leader, and the move's gate (which waited only for the
// consumers hosted on the stream's leader) let the stream shrink onto its new servers before the consumer's group
// had grown there. With one of the consumer's two servers down during the move (its group has no leader, so it
// cannot grow), the stream shrank anyway; the returning server was no longer placed and never opened the
// consumer again, and the other one, alone in a group of two, never had a leader again: the consumer was lost.
// Now the stream's leader asks the consumer's leader where its voters are, and the move waits for the answer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { waitFor } from "../../helpers/servers.ts";
import { consumerMoved } from "../../../src/jetstream/cluster/consumer_groups.ts";
import { MOVE_LIMITS } from "../../../src/jetstream/cluster/moves.ts";

const dec = new TextDecoder();
const N = 5;
const names = Array.from({ length: N }, (_, i) => `n${i + 1}`);
/** Every three of the five servers share a tag (`s:134`), so a move can go to any three. */
function subsetTags(): string[][] {
  const tags: string[][] = names.map(() => []);
  for (let a = 1; a <= N; a++) {
    for (let b = a + 1; b <= N; b++) {
      for (let c = b + 1; c <= N; c++) for (const i of [a, b, c]) tags[i - 1].push(`s:${a}${b}${c}`);
    }
  }
  return tags;
}
const tagOf = (servers: string[]) => `s:${servers.map((s) => s.slice(1)).sort().join("")}`;
const peersOf = (info: StreamInfo | undefined) =>
  info?.cluster?.leader ? [info.cluster.leader, ...(info.cluster.replicas ?? []).map((r) => r.name)].sort() : [];

describe("consumerMoved", () => {
  it("judges a consumer hosted elsewhere by its leader's voters", () => {
    // R2 on a stream moving to a,d,e: it must have voters on a and d (its servers there) before the old ones go.
    assert.equal(consumerMoved(["a", "b"], { want: ["a", "d"], r1: false, moveTo: ["a", "d", "e"] }), false);
    assert.equal(consumerMoved(["a", "b", "d"], { want: ["a", "d"], r1: false, moveTo: ["a", "d", "e"] }), true);
    // R1 walks: done once its one voter is on the new servers.
    assert.equal(consumerMoved(["b", "d"], { want: ["d"], r1: true, moveTo: ["a", "d", "e"] }), false);
    assert.equal(consumerMoved(["d"], { want: ["d"], r1: true, moveTo: ["a", "d", "e"] }), true);
  });
});

/**
 * Five servers, an R3 stream MV with ten messages and an R2 consumer C (three acknowledged) on two of its servers
 * (a, b), the stream led by its third; b stopped (C has no leader) and MV moved to a and the two servers it is not
 * on. Returns once the new servers hold MV's log and its leader has judged the move (asked C's group, or said
 * "moved").
 */
async function heldMove(c: JsCluster, conns: NatsConnection[], watchers: Array<{ close(): void }>) {
  const client = async (i: number) => {
    const nc = await connect({ servers: c.nodes[i]!.clientUrl });
    conns.push(nc);
    return nc;
  };
  await waitMetaLeader(c, 20_000);
  let nc = await client(0);
  let jsm = await jetstreamManager(nc, { timeout: 2000 });
  await waitFor("stream MV created", async () => !!(await jsm.streams.add({ name: "MV", subjects: ["mv.>"], num_replicas: 3 })), 20_000);
  const streamPeers = peersOf(await waitFor("MV on three servers, all current", async () => {
    const info = await jsm.streams.info("MV").catch(() => undefined);
    return peersOf(info).length === 3 && (info!.cluster!.replicas ?? []).every((r) => r.current) ? info : undefined;
  }, 20_000));
  const js = jetstream(nc, { timeout: 5000 });
  for (let n = 1; n <= 10; n++) await js.publish(`mv.${n}`, `m${n}`, { msgID: `mv-${n}` });
  await jsm.consumers.add("MV", { durable_name: "C", ack_policy: AckPolicy.Explicit, num_replicas: 2 });
  const consumerPeers = await waitFor("the consumer's two servers", async () => {
    const ci = await jsm.consumers.info("MV", "C").catch(() => undefined);
    const peers = ci?.cluster?.leader ? [ci.cluster.leader, ...(ci.cluster.replicas ?? []).map((r) => r.name)] : [];
    return peers.length === 2 ? peers.sort() : undefined;
  }, 20_000);
  const fetched: number[] = [];
  for await (const m of await (await js.consumers.get("MV", "C")).fetch({ max_messages: 3, expires: 5000 })) {
    fetched.push(m.seq);
    await m.ackAck();
  }
  assert.deepEqual(fetched, [1, 2, 3]);

  // The stream's leader: its third server, the one without a replica of the consumer.
  const third = streamPeers.find((p) => !consumerPeers.includes(p))!;
  await waitFor(`${third} leads MV`, async () => {
    const info = await jsm.streams.info("MV").catch(() => undefined);
    if (info?.cluster?.leader === third && (info.cluster.replicas ?? []).every((r) => r.current)) return true;
    await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.MV", undefined, { timeout: 2000 }).catch(() => {});
    return false;
  }, 30_000);

  // The move: to one of the consumer's servers (a) and the two servers the stream is not on; the consumer's
  // other server (b) is down meanwhile, so its group has no leader and cannot grow.
  const [a, b] = consumerPeers;
  const outside = names.filter((n) => !streamPeers.includes(n));
  const moveTo = [a, ...outside].sort();
  const bi = names.indexOf(b);
  const ai = names.indexOf(a);
  // What the stream's leader says about the move, heard in the system account (a is never stopped).
  const server = c.nodes[ai]!.server;
  const watch = server.createInternalClient("move watch", { account: server.accounts.system.name });
  watchers.push(watch);
  const seen = { asked: false, down: true, movedEarly: [] as string[], cancelled: [] as string[] };
  watch.subscribe("$JSC.SI.*", (m) => {
    if (m.subject.startsWith("$JSC.SI.C-MV-C-")) seen.asked = true;
  });
  watch.subscribe("$JSC.MOVED", (m) => {
    const note = JSON.parse(dec.decode(m.payload)) as { cancel?: string[] };
    if (note.cancel !== undefined) seen.cancelled.push(...note.cancel);
    else if (seen.down) seen.movedEarly.push(dec.decode(m.payload));
  });
  await c.stop(bi);
  nc = await client(ai);
  jsm = await jetstreamManager(nc, { timeout: 2000 });
  // a leads it alone for a moment (until its check-quorum): a change appended meanwhile could still commit with
  // a new server's vote, and the group would grow after all. The move starts once the group has no leader.
  await waitFor("the consumer's group without a leader", async () => await jsm.consumers.info("MV", "C").then(() => false, () => true), 20_000);
  const jsA = jetstream(nc, { timeout: 5000 });
  const cfg = (await waitFor("stream info", async () => await jsm.streams.info("MV").catch(() => undefined), 20_000)).config;
  await waitFor("the move accepted", async () => !!(await jsm.streams.update("MV", { ...cfg, placement: { cluster: "", tags: [tagOf(moveTo)] } }).catch(() => undefined)), 20_000);
  // The new servers hold the stream's whole log: the old gate let the stream shrink here.
  await waitFor(`${outside.join(", ")} joined MV and caught up`, async () => {
    const info = await jsm.streams.info("MV").catch(() => undefined);
    const reps = info?.cluster?.replicas ?? [];
    return outside.every((o) => reps.some((r) => r.name === o && r.current));
  }, 30_000);
  // Once they do, the stream's leader judges the move on its next tick: the old gate, blind to the consumer,
  // said "moved" ($JSC.MOVED, and the meta leader shrank the stream); the new one asks the consumer's leader
  // where its voters are ($JSC.SI.<the consumer's group>) and, with no answer, holds the move. Whichever of the
  // two comes first is the gate's decision.
  await waitFor("the stream's leader judged the move", () => seen.asked || seen.movedEarly.length > 0, 30_000);
  assert.deepEqual(seen.movedEarly, [], `MV's move ended while ${b}, a server of its consumer's group of two, was down`);
  return { nc, jsm, jsA, streamPeers, moveTo, b, bi, seen };
}

/** C, led from one of `servers`, kept its ack floor (3) and hands out message 4 next. */
async function consumerIntact(jsm: JetStreamManager, js: JetStreamClient, servers: string[], what: string) {
  const ci = await waitFor(what, async () => {
    const ci = await jsm.consumers.info("MV", "C").catch(() => undefined);
    return ci?.cluster?.leader && servers.includes(ci.cluster.leader) ? ci : undefined;
  }, 30_000);
  assert.equal(ci.ack_floor.stream_seq, 3, "the consumer kept its ack floor");
  const next = await (await js.consumers.get("MV", "C")).next({ expires: 5000 });
  assert.equal(next?.seq, 4);
}

/**
 * Five servers with MV's move held (heldMove), MOVE_LIMITS.giveUpMs set to `giveUpMs` meanwhile; `body` runs on
 * it, then everything is stopped (and what `body` put in `watchers` closed).
 */
async function inHeldMove(
  giveUpMs: number,
  body: (c: JsCluster, held: Awaited<ReturnType<typeof heldMove>>, watchers: Array<{ close(): void }>) => Promise<void>,
) {
  const was = MOVE_LIMITS.giveUpMs;
  MOVE_LIMITS.giveUpMs = giveUpMs;
  const c = await startJsCluster(N, { tags: subsetTags() });
  const conns: NatsConnection[] = [];
  const watchers: Array<{ close(): void }> = [];
  try {
    await body(c, await heldMove(c, conns, watchers), watchers);
  } finally {
    MOVE_LIMITS.giveUpMs = was;
    for (const w of watchers) w.close();
    for (const nc of conns) await nc.close().catch(() => {});
    await c.close();
  }
}

describe("a stream move and a consumer with no replica on the stream's leader", () => {
  it("waits for the consumer's group to grow onto the new servers; the consumer keeps its state", { timeout: 120_000 }, async () => {
    const c = await startJsCluster(N, { tags: subsetTags() });
    const conns: NatsConnection[] = [];
    const watchers: Array<{ close(): void }> = [];
    try {
      const { jsm, jsA, moveTo, bi, seen } = await heldMove(c, conns, watchers);
      seen.down = false;
      await c.start(bi);

      await waitFor(`MV on ${moveTo.join(", ")} alone`, async () => {
        const p = peersOf(await jsm.streams.info("MV").catch(() => undefined));
        return p.join() === moveTo.join();
      }, 60_000);
      await consumerIntact(jsm, jsA, moveTo, "the consumer led from the new servers");
    } finally {
      for (const w of watchers) w.close();
      for (const nc of conns) await nc.close().catch(() => {});
      await c.close();
    }
  });

  // Before, the move waited for the leaderless consumer without a limit: MV stayed on old and new servers for as
  // long as b was down. nats-server holds the scale-down the same way and leaves the operator its cancel; here the
  // stream's leader gives the move up after MOVE_LIMITS.giveUpMs (shortened here: a bounded real wait) and the
  // stream goes back to where the consumer's state is.
  it("is given up when the consumer stays without a leader: MV back on its servers, the consumer intact", { timeout: 120_000 }, async () => {
    await inHeldMove(2_000, async (c, { nc, jsm, jsA, streamPeers, bi, seen }) => {
      const updates: Array<{ action?: string }> = [];
      const sub = nc.subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.MV", {
        callback: (_e, m) => void updates.push(m.json<{ action?: string }>()),
      });
      await nc.flush();
      // What the operator sees: the stream's cluster block back on its three servers, its placement relaxed to
      // them, and a stream update advisory.
      const info = await waitFor(`MV back on ${streamPeers.join(", ")}`, async () => {
        const info = await jsm.streams.info("MV").catch(() => undefined);
        return peersOf(info).join() === streamPeers.join() && (info?.config.placement?.tags ?? []).length === 0 ? info : undefined;
      }, 30_000);
      assert.deepEqual(seen.cancelled.slice(0, 1), ["C"], "the move was given up for the consumer C");
      assert.deepEqual(seen.movedEarly, [], "never reported moved");
      assert.equal(info.state.messages, 10);
      await waitFor("a stream update advisory", () => updates.length > 0, 20_000);
      sub.unsubscribe();
      seen.down = false;
      await c.start(bi);
      await consumerIntact(jsm, jsA, streamPeers, "the consumer led again on its own servers");
    });
  });

  // nats-server's operator cancel (`$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.<account>.<stream>`, system account): the
  // stream goes back to its first servers at once, its placement tags dropped (its old servers do not all carry
  // them), answered with the stream's info as an update is. On the old code nobody answered (no responders).
  // The first cancel reaches the meta leader while it transfers its leadership (a step-down): Raft takes no
  // proposal then, and it was answered 503 "temporarily unavailable"; now it goes to the successor, as the other
  // meta requests do (api_pass_on.ts), and is answered by what it did.
  it("is cancelled by the operator: MV back on its servers, answered as an update, the consumer intact", { timeout: 120_000 }, async () => {
    await inHeldMove(600_000, async (c, { jsm, jsA, streamPeers, moveTo, bi, seen }, watchers) => {
      // An operator's request in the system account, through the meta leader's server (it stays up).
      const server = c.nodes[names.indexOf(await waitMetaLeader(c, 20_000))]!.server;
      const op = server.createInternalClient("operator", { account: server.accounts.system.name });
      watchers.push(op);
      const cancel = (subject: string, send = (inbox: string): void => void op.publish(subject, new Uint8Array(), { reply: inbox })) =>
        new Promise<Record<string, unknown>>((resolve) => {
          const inbox = `_INBOX.cancel.${Math.random().toString(36).slice(2)}`;
          op.subscribe(inbox, (m) => resolve(JSON.parse(dec.decode(m.payload))), { max: 1 });
          send(inbox);
        });
      // A meta step-down asked of that server; its answer is sent just before the step-down queues the transfer
      // (a microtask), so the cancel goes two microtasks later: while the transfer is under way.
      const user = server.createInternalClient("stepper");
      watchers.push(user);
      const duringTransfer = (inbox: string) => {
        user.subscribe("_INBOX.stepdown", () => {
          queueMicrotask(() => queueMicrotask(() => op.publish("$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.$G.MV", new Uint8Array(), { reply: inbox })));
        }, { max: 1 });
        user.publish("$JS.API.META.LEADER.STEPDOWN", new TextEncoder().encode("{}"), { reply: "_INBOX.stepdown" });
      };
      const type = "io.nats.jetstream.api.v1.stream_update_response";
      const answer = await cancel("$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.$G.MV", duringTransfer) as {
        type: string;
        error?: unknown;
        config: { name: string; placement?: unknown };
      };
      assert.equal(answer.type, type);
      assert.equal(answer.error, undefined, JSON.stringify(answer));
      assert.equal(answer.config.name, "MV");
      assert.equal(answer.config.placement, undefined, "the tags of the move dropped");
      // As nats-server's answer: the servers the stream is back on (its leader, an old server, and the other two).
      assert.deepEqual(peersOf(answer as unknown as StreamInfo), streamPeers);
      const info = await waitFor(`MV back on ${streamPeers.join(", ")}`, async () => {
        const info = await jsm.streams.info("MV").catch(() => undefined);
        return peersOf(info).join() === streamPeers.join() ? info : undefined;
      }, 30_000);
      assert.equal(info.state.messages, 10);
      assert.notDeepEqual(streamPeers, moveTo);
      assert.deepEqual(seen.cancelled, [], "not given up by the stream's leader");
      // No move now; nor a stream or an account that is not there.
      assert.deepEqual(await cancel("$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.$G.MV"), {
        type,
        error: { code: 400, err_code: 10129, description: "stream move not in progress" },
      });
      assert.deepEqual(await cancel("$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.$G.NOPE"), {
        type,
        error: { code: 404, err_code: 10059, description: "stream not found" },
      });
      assert.deepEqual(await cancel("$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.NOPE.MV"), {
        type,
        error: { code: 503, err_code: 10035, description: "account not found" },
      });
      seen.down = false;
      await c.start(bi);
      await consumerIntact(jsm, jsA, streamPeers, "the consumer led again on its own servers");
    });
  });
});
