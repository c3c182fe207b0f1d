/**
 * The chaos harness: a 5-server cluster of real Petrel processes (JetStream, file store, an R3 stream with an
 * R3 durable consumer, an R3 KV bucket), a workload running through faults chosen by the seed, and a checker
 * at the end. `runChaos` returns the verdict; cli.ts prints its one line, chaos.test.ts runs a short budget.
 */
import { writeFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { seededRandom } from "../../src/raft/prng.ts";
import { checkKv, checkStream, describeHistory, readReplica, type StoredEntry, firstDifference } from "./check.ts";
import { FaultInjector, type FaultKind, type FaultRecord, streamCluster } from "./faults.ts";
import { ChaosCluster } from "./procs.ts";
import { sleep, waitFor } from "../helpers/servers.ts";
import {
  BUCKET,
  clientConnect,
  CONSUMER,
  jetstream,
  jetstreamManager,
  KvClient,
  openKv,
  Publisher,
  setupStreams,
  STREAM,
  Worker,
} from "./workload.ts";

export interface ChaosOptions {
  seconds: number;
  seed: number;
  servers?: number;
  log?: (line: string) => void;
  keepDir?: boolean;
  /** Inject exactly these faults, in order (targets and timing still from the seed), instead of `seconds` of drawn ones. */
  plan?: FaultKind[];
  /** How long a victim stays down, frozen or cut off: [min, max) ms (default 1-5 s). */
  hold?: [number, number];
  /** Run the acking consumer and judge it (default true). */
  consumer?: boolean;
  /** Write the KV history, redeliveries and faults here (JSON) for a closer look. */
  dumpFile?: string;
}

export interface ChaosVerdict {
  ok: boolean;
  line: string;
  faults: FaultRecord[];
  acked: number;
  lost: number;
  duplicated: number;
  linearizable: boolean;
  problems: string[];
  /** Longest time the stream and bucket took to answer again after a fault. */
  maxRecoveryMs: number;
  retries: number;
  delivered: number;
  kvOps: number;
  /** How the KV clients' failed operations failed ("put: no responders ×3, ..."). */
  kvErrors: string;
}

/** Both replicated streams answer with a leader. */
interface JszStream {
  name: string;
  state: { messages: number; last_seq: number };
}

/** What the last look at a stream's replicas saw (peers and each one's last sequence), for the report. */
const lastSeen = new Map<string, { peers: string[]; view: string }>();

/** Every replica of `stream` (per its stream info) is current and reports the leader's last sequence. */
async function replicasCaughtUp(c: ChaosCluster, nc: NatsConnection, stream: string): Promise<string[] | false> {
  const ci = await streamCluster(nc, stream);
  if (!ci?.leader || !ci.replicas) return false;
  const peers = [ci.leader, ...ci.replicas.map((r) => r.name)];
  const lasts = new Set<number>();
  const view: string[] = [];
  for (const p of peers) {
    const i = c.names.indexOf(p);
    const jsz = await c.monitor<{ account_details?: Array<{ stream_detail?: JszStream[] }> }>(i, "/jsz?streams=true");
    const d = jsz?.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream);
    view.push(`${p}${p === ci.leader ? "*" : ""}: ${d ? `last ${d.state.last_seq}, ${d.state.messages} msgs` : "no stream"}`);
    lasts.add(d ? d.state.last_seq : -1);
  }
  lastSeen.set(stream, { peers, view: `${view.join("; ")} (info: ${JSON.stringify(ci.replicas)})` });
  return lasts.size === 1 && !lasts.has(-1) ? peers : false;
}

/**
 * Each up server's own view of the leaders (meta, the stream, the bucket's stream) from its /jsz: a replica that
 * keeps answering for a leaderless group while the others have a leader shows here.
 */
async function serverViews(c: ChaosCluster): Promise<string> {
  const views: string[] = [];
  for (let i = 0; i < c.size; i++) {
    type Detail = { name: string; cluster?: { leader?: string } };
    const jsz = await c.monitor<{ meta_cluster?: { leader?: string }; account_details?: Array<{ stream_detail?: Detail[] }> }>(i, "/jsz?streams=true");
    if (!jsz) {
      views.push(`${c.names[i]} ${c.state[i]}, no /jsz`);
      continue;
    }
    const details = jsz.account_details?.flatMap((a) => a.stream_detail ?? []) ?? [];
    const leaderOf = (s: string) => {
      const d = details.find((x) => x.name === s);
      return d ? d.cluster?.leader ?? "none" : "no replica";
    };
    views.push(`${c.names[i]}: meta ${jsz.meta_cluster?.leader ?? "none"}, ${STREAM} ${leaderOf(STREAM)}, KV_${BUCKET} ${leaderOf(`KV_${BUCKET}`)}`);
  }
  return views.join("; ");
}

/** Waits for the replicas to agree; if they never do, reports what it last saw and checks those peers anyway. */
async function caughtUpOrReport(c: ChaosCluster, nc: NatsConnection, stream: string, problems: string[]): Promise<string[]> {
  try {
    return await waitFor(`${stream} replicas caught up`, () => replicasCaughtUp(c, nc, stream), 90_000, 100);
  } catch (e) {
    const seen = lastSeen.get(stream);
    problems.push(`${String(e)}; last seen: ${seen?.view ?? "no stream info"}`);
    return seen?.peers ?? [];
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosVerdict> {
  const log = o.log ?? (() => {});
  const rand = seededRandom(o.seed);
  const c = new ChaosCluster(o.servers ?? 5, o.keepDir);
  const conns: NatsConnection[] = [];
  const problems: string[] = [];
  let maxRecoveryMs = 0;
  try {
    await c.start();
    log(`cluster up: ${c.names.join(" ")} in ${c.dir}`);
    const admin = await clientConnect(c.clientUrls, "admin");
    conns.push(admin);
    await waitFor("streams created", async () => {
      await setupStreams(admin);
      return true;
    }, 60_000, 100);
    const pubs: Publisher[] = [];
    for (let i = 0; i < 2; i++) {
      const nc = await clientConnect(c.clientUrls, `pub${i}`);
      conns.push(nc);
      pubs.push(new Publisher(i, jetstream(nc, { timeout: 2000 })));
    }
    const wnc = await clientConnect(c.clientUrls, "worker");
    conns.push(wnc);
    const worker = new Worker(jetstream(wnc, { timeout: 2000 }));
    const keys = ["a", "b", "c", "d", "e", "f"];
    const kvs: KvClient[] = [];
    for (let i = 0; i < 3; i++) {
      const nc = await clientConnect(c.clientUrls, `kv${i}`);
      conns.push(nc);
      kvs.push(new KvClient(i, await openKv(nc), keys, seededRandom(o.seed * 7919 + i)));
    }
    const withConsumer = o.consumer ?? true;
    for (const x of [...pubs, ...(withConsumer ? [worker] : []), ...kvs]) x.start();
    await waitFor("first acknowledgements", () => pubs.every((p) => p.acked.size > 0), 30_000, 100);

    const t0 = performance.now();
    const injector = new FaultInjector(c, admin, rand, t0, o.hold);
    const deadline = t0 + o.seconds * 1000;
    const plan = o.plan ? [...o.plan] : undefined;
    while (plan ? plan.length > 0 : performance.now() < deadline) {
      const f = await injector.injectOne(plan?.shift());
      const r0 = performance.now();
      // Serving again: both streams answer with a leader and every publisher got a new acknowledgement (a timeout
      // says which of them did not).
      const base = pubs.map((p) => p.acked.size);
      let lastLook = "";
      await waitFor("the stream and the bucket serve again", async () => {
        const stuck = pubs.flatMap((p, i) => (p.acked.size > base[i] ? [] : [`pub${i} (${p.attempted.length} attempted, ${p.acked.size} acked, ${p.retries} retries)`]));
        const [a, b] = await Promise.all([streamCluster(admin, STREAM).catch(() => undefined), streamCluster(admin, `KV_${BUCKET}`).catch(() => undefined)]);
        lastLook = `no new ack: ${stuck.join(", ") || "none"}; leaders: ${STREAM} ${a?.leader ?? "none"}, KV_${BUCKET} ${b?.leader ?? "none"}; admin on ${admin.info?.server_name ?? "?"}`;
        return stuck.length === 0 && !!a?.leader && !!b?.leader;
      }, 60_000, 100).catch(async (e) => {
        problems.push(`after ${f.kind} ${f.target}: ${String(e)} (last look: ${lastLook}; each server's own view: ${await serverViews(c)})`);
      });
      const rec = Math.round(performance.now() - r0);
      maxRecoveryMs = Math.max(maxRecoveryMs, rec);
      const acked = pubs.reduce((s, p) => s + p.acked.size, 0);
      log(`+${(f.at / 1000).toFixed(1)}s (t=${(t0 + f.at).toFixed(0)} ms) ${f.kind} ${f.target} (${f.ms} ms${f.note ? `, ${f.note}` : ""}), serving again after ${rec} ms; ${acked} acked`);
      await sleep(o.plan ? 200 : 300 + Math.floor(rand() * 1500));
    }

    // Wind down: everything back, the workload stopped, every replica caught up.
    await c.recoverAll();
    await Promise.all([...pubs, ...kvs].map((x) => x.stop()));
    await worker.stop();
    const orders = await caughtUpOrReport(c, admin, STREAM, problems);
    const kvPeers = await caughtUpOrReport(c, admin, `KV_${BUCKET}`, problems);
    // Final reads of every key close the KV history.
    for (const k of keys) await kvs[0].get(k);
    // Drain the consumer: whatever is left is delivered and acked; nothing acked may come back.
    const jsm = await jetstreamManager(admin, { timeout: 5000 });
    // Bounded by progress: 30 s without a single delivery (longer than ack_wait, 10 s) is a stuck consumer.
    let lastProgress = performance.now();
    while (withConsumer) {
      const got = await worker.pullOnce(500, 1000).catch((e) => {
        worker.lastError = String(e);
        return 0;
      });
      if (got > 0) lastProgress = performance.now();
      const ci = await jsm.consumers.info(STREAM, CONSUMER).catch(() => undefined);
      if (ci && ci.num_pending === 0 && ci.num_ack_pending === 0) break;
      if (performance.now() - lastProgress > 30_000) {
        problems.push(`the consumer did not drain: no delivery for 30 s (pending ${ci?.num_pending}, ack pending ${ci?.num_ack_pending})`);
        log(`worker's last pull error: ${worker.lastError || "none"}`);
        // The same pull from a fresh connection tells a stuck client connection from a stuck consumer.
        const fresh = await clientConnect(c.clientUrls, "fresh");
        conns.push(fresh);
        worker.js = jetstream(fresh, { timeout: 2000 });
        const n = await worker.pullOnce(500, 3000).catch((e) => `error ${String(e)}`);
        log(`a fresh connection's pull got ${n}`);
        log(`stream ${JSON.stringify(await streamCluster(admin, STREAM))}; consumer ${JSON.stringify(ci?.cluster)} delivered ${JSON.stringify(ci?.delivered)} ack floor ${JSON.stringify(ci?.ack_floor)}`);
        for (let i = 0; i < c.size; i++) {
          const jsz = await c.monitor<{ account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: unknown; consumer_detail?: unknown[] }> }> }>(i, "/jsz?streams=true&consumers=true");
          const d = jsz?.account_details?.flatMap((a) => a.stream_detail ?? []).find((x) => x.name === STREAM);
          log(`${c.names[i]}: ${JSON.stringify(d?.cluster)} consumers ${JSON.stringify(d?.consumer_detail)}`);
        }
        break;
      }
    }
    for (const nc of conns) await nc.close().catch(() => {});
    conns.length = 0;
    await c.stopAll();

    // The checker: every replica's store read from disk.
    const replicas = new Map<string, StoredEntry[]>();
    for (const p of orders) replicas.set(p, await readReplica(c.storeDir(c.names.indexOf(p)), STREAM));
    const sv = checkStream(pubs, replicas);
    problems.push(...sv.problems);
    const kvReplicas: Array<[string, StoredEntry[]]> = [];
    for (const p of kvPeers) kvReplicas.push([p, await readReplica(c.storeDir(c.names.indexOf(p)), `KV_${BUCKET}`)]);
    for (let i = 1; i < kvReplicas.length; i++) {
      const d = firstDifference(kvReplicas[0][1], kvReplicas[i][1]);
      if (d) problems.push(`KV replicas ${kvReplicas[0][0]} and ${kvReplicas[i][0]} differ: ${d}`);
    }
    for (const w of worker.redelivered.slice(0, 10)) {
      problems.push(
        `consumer redelivered seq ${w.seq}, acked (confirmed) at ${w.ackedAt.toFixed(0)} ms (${w.first}), pull issued at ${w.fetchedAt.toFixed(0)} ms (${w.again})`,
      );
    }
    if (worker.redelivered.length > 10) problems.push(`... ${worker.redelivered.length} acknowledged redeliveries in all`);
    const history = kvs.flatMap((k) => k.history);
    const kv = checkKv(history);
    problems.push(...kv.problems);
    for (const key of kv.failedKeys) {
      log(`history of KV key ${key} (first operations):\n  ${describeHistory(history.filter((h) => h.key === key)).join("\n  ")}`);
    }
    if (o.dumpFile) writeFileSync(o.dumpFile, JSON.stringify({ history, redelivered: worker.redelivered, faults: injector.log }));
    if (kv.unknown.length > 0) log(`KV keys not decided within the search budget: ${kv.unknown.join(", ")}`);
    const retries = pubs.reduce((s, p) => s + p.retries, 0);
    const kvErr = new Map<string, number>();
    for (const k of kvs) for (const [what, n] of k.errors) kvErr.set(what, (kvErr.get(what) ?? 0) + n);
    const kvErrors = [...kvErr].map(([what, n]) => `${what} ×${n}`).join(", ") || "none";
    const faults = injector.log;
    const ok = problems.length === 0;
    const line = `${faults.length} faults, ${sv.acked} acked, ${sv.lost} lost, ${sv.duplicated} duplicated, ${kv.linearizable ? "linearizable" : "NOT linearizable"}` +
      (ok ? "" : ` (${problems.length} problems)`);
    log(`${retries} publish retries, ${worker.delivered} deliveries, ${worker.confirmed.size} acks confirmed, ${history.length} KV ops (failed: ${kvErrors}), longest recovery ${maxRecoveryMs} ms`);
    return {
      ok,
      line,
      faults,
      acked: sv.acked,
      lost: sv.lost,
      duplicated: sv.duplicated,
      linearizable: kv.linearizable,
      problems,
      maxRecoveryMs,
      retries,
      delivered: worker.delivered,
      kvOps: history.length,
      kvErrors,
    };
  } finally {
    for (const nc of conns) await nc.close().catch(() => {});
    await c.close();
  }
}
