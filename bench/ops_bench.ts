/**
 * Issue 11's speed section, Petrel next to nats-server 2.9.10 in one run:
 *  - peer-remove: a 100k-message R3 stream (file store, 4 servers) loses one replica by
 *    `$JS.API.STREAM.PEER.REMOVE`; time until a new peer holds every message and is current (back to R3);
 *  - rolling restart: 3 servers, an R3 stream, 16 publishers (Nats-Msg-Id, retrying what is not acknowledged)
 *    while each server in turn is stopped (SIGTERM) and restarted; acknowledged msgs/s over the whole restart,
 *    failed publish attempts, and msgs/s with no restart for reference. A restarted server counts as back once
 *    its /healthz says 200 and the stream reports every replica current; 2 s of service follow before the next.
 *
 * `bun bench/ops_bench.ts [--msgs 100000] [--rounds 1] [--only petrel|nats-server] [--skip peer-remove|rolling]`
 * Servers run on the runtime running this script (Deno: `deno run -A bench/ops_bench.ts`).
 */
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type RunningServer, type ServerKind, startServer } from "../test/helpers/servers.ts";
import { freePort } from "../test/jsraft/helpers.ts";

const args = process.argv.slice(2);
const flag = (n: string) => {
  const i = args.indexOf(n);
  return i >= 0 ? args[i + 1] : undefined;
};
const MSGS = Number(flag("--msgs") ?? 100_000);
const ROUNDS = Number(flag("--rounds") ?? 1);
const ONLY = flag("--only");
const SKIP = flag("--skip");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), "petrel-opsbench-"));
  readonly names: string[];
  readonly clientPorts: number[] = [];
  readonly routePorts: number[] = [];
  readonly servers: Array<RunningServer | undefined> = [];
  constructor(readonly kind: ServerKind, readonly n: number) {
    this.names = Array.from({ length: n }, (_, i) => `b${i + 1}`);
  }
  conf(i: number): string {
    return `
server_name: ${this.names[i]}
jetstream { store_dir: "${join(this.dir, this.names[i])}" }
cluster {
  name: bench
  listen: 127.0.0.1:${this.routePorts[i]}
  routes: [${this.routePorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
`;
  }
  async start(): Promise<void> {
    for (let i = 0; i < this.n; i++) {
      this.clientPorts.push(await freePort());
      this.routePorts.push(await freePort());
    }
    await Promise.all(this.names.map((_, i) => this.startOne(i)));
  }
  async startOne(i: number): Promise<void> {
    this.servers[i] = await startServer(this.kind, { conf: this.conf(i), port: this.clientPorts[i], monitor: true, startTimeoutMs: 60_000 });
  }
  async stopOne(i: number): Promise<void> {
    await this.servers[i]?.stop();
    this.servers[i] = undefined;
  }
  get urls(): string[] {
    return this.clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  }
  /** Messages of `stream` on server i, from its /jsz (both servers answer accounts=true&streams=true). */
  async streamMsgs(i: number, stream: string): Promise<number | undefined> {
    const s = this.servers[i];
    if (!s?.monitorUrl) return undefined;
    try {
      const j = await (await fetch(`${s.monitorUrl}/jsz?accounts=true&streams=true`)).json() as {
        account_details?: Array<{ stream_detail?: Array<{ name: string; state: { messages: number } }> }>;
      };
      return j.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === stream)?.state.messages;
    } catch {
      return undefined;
    }
  }
  async close(): Promise<void> {
    for (let i = 0; i < this.n; i++) await this.servers[i]?.kill9().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined | false>): Promise<T> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`timed out: ${what}`);
}

async function jsReady(nc: NatsConnection): Promise<void> {
  await until("JetStream answers", 60_000, async () => {
    const m = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
    return !m.json<{ error?: unknown }>().error;
  });
}

interface StreamCluster {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; lag?: number }>;
}

async function streamCluster(nc: NatsConnection, stream: string): Promise<StreamCluster | undefined> {
  const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, "", { timeout: 2000 });
  return m.json<{ cluster?: StreamCluster }>().cluster;
}

/** Publishes `n` 128-byte messages with a window of async publishes. */
async function fill(nc: NatsConnection, subject: string, n: number): Promise<number> {
  const js = jetstream(nc, { timeout: 10_000 });
  const data = new Uint8Array(128);
  const t0 = performance.now();
  const WINDOW = 256;
  let inflight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    inflight.push(js.publish(subject, data));
    if (inflight.length >= WINDOW) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  return performance.now() - t0;
}

async function peerRemove(kind: ServerKind): Promise<{ fillMs: number; backToR3Ms: number; removed: string; added: string }> {
  const c = new Cluster(kind, 4);
  let nc: NatsConnection | undefined;
  try {
    await c.start();
    nc = await connect({ servers: c.urls, maxReconnectAttempts: -1 });
    await jsReady(nc);
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    await until("stream created", 30_000, async () => !!(await jsm.streams.add({ name: "BIG", subjects: ["big"], num_replicas: 3 })));
    const fillMs = await fill(nc, "big", MSGS);
    const before = await until("stream info", 30_000, () => streamCluster(nc!, "BIG"));
    const peers = [before.leader!, ...(before.replicas ?? []).map((r) => r.name)];
    await until("every replica holds the stream", 120_000, async () => {
      for (const p of peers) if ((await c.streamMsgs(c.names.indexOf(p), "BIG")) !== MSGS) return false;
      return true;
    });
    // Remove a follower (not the leader): the stream keeps serving; a fourth server must take its place.
    const removed = before.replicas![0].name;
    const t0 = performance.now();
    const r = await nc.request("$JS.API.STREAM.PEER.REMOVE.BIG", JSON.stringify({ peer: removed }), { timeout: 5000 });
    const err = r.json<{ error?: unknown }>().error;
    if (err) throw new Error(`peer remove: ${JSON.stringify(err)}`);
    const added = await until("back to R3", 300_000, async () => {
      const ci = await streamCluster(nc!, "BIG");
      const now = [ci?.leader, ...(ci?.replicas ?? []).map((x) => x.name)];
      if (now.includes(removed) || now.length !== 3) return false;
      if (!(ci?.replicas ?? []).every((x) => x.current && !x.lag)) return false;
      const fresh = now.find((p) => p && !peers.includes(p));
      if (!fresh) return false;
      return (await c.streamMsgs(c.names.indexOf(fresh), "BIG")) === MSGS ? fresh : false;
    });
    return { fillMs, backToR3Ms: performance.now() - t0, removed, added };
  } finally {
    await nc?.close().catch(() => {});
    await c.close();
  }
}

interface RollingResult {
  steadyRate: number;
  rollingRate: number;
  rollingMs: number;
  acked: number;
  failedAttempts: number;
  maxStallMs: number;
}

async function rolling(kind: ServerKind): Promise<RollingResult> {
  const c = new Cluster(kind, 3);
  let nc: NatsConnection | undefined;
  const conns: NatsConnection[] = [];
  try {
    await c.start();
    nc = await connect({ servers: c.urls, maxReconnectAttempts: -1 });
    await jsReady(nc);
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    await until("stream created", 30_000, async () => !!(await jsm.streams.add({ name: "ROLL", subjects: ["roll.>"], num_replicas: 3 })));
    let stop = false;
    let acked = 0;
    let failed = 0;
    let lastAck = performance.now();
    let maxStall = 0;
    const data = new Uint8Array(128);
    const workers: Promise<void>[] = [];
    for (let w = 0; w < 16; w++) {
      const wc = await connect({ servers: c.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100, pingInterval: 1000, maxPingOut: 2 });
      conns.push(wc);
      const js = jetstream(wc, { timeout: 2000 });
      workers.push((async () => {
        for (let n = 0; !stop; n++) {
          const id = `w${w}-${n}`;
          for (;;) {
            try {
              await js.publish(`roll.${w}`, data, { msgID: id });
              const t = performance.now();
              maxStall = Math.max(maxStall, t - lastAck);
              lastAck = t;
              acked++;
              break;
            } catch {
              failed++;
              if (stop) break;
              await sleep(20);
            }
          }
        }
      })());
    }
    // Steady state first (5 s), then the rolling restart.
    await sleep(1000);
    let a0 = acked;
    let t0 = performance.now();
    await sleep(5000);
    const steadyRate = (acked - a0) / ((performance.now() - t0) / 1000);
    a0 = acked;
    const f0 = failed;
    t0 = performance.now();
    maxStall = 0;
    lastAck = t0;
    for (let i = 0; i < c.n; i++) {
      await c.stopOne(i);
      await c.startOne(i);
      // Back in the group: healthy (/healthz: JetStream current) and its replica current again, then the same
      // 2 s of normal service for both servers before the next one goes.
      await until("restarted replica current", 120_000, async () => {
        const h = await fetch(`${c.servers[i]!.monitorUrl}/healthz`);
        if (h.status !== 200) return false;
        const ci = await streamCluster(nc!, "ROLL");
        const all = [ci?.leader, ...(ci?.replicas ?? []).map((r) => r.name)];
        return all.includes(c.names[i]) && (ci?.replicas ?? []).every((r) => r.current);
      });
      await sleep(2000);
    }
    const rollingMs = performance.now() - t0;
    const rollingRate = (acked - a0) / (rollingMs / 1000);
    const result = { steadyRate, rollingRate, rollingMs, acked: acked - a0, failedAttempts: failed - f0, maxStallMs: maxStall };
    stop = true;
    await Promise.all(workers);
    return result;
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await nc?.close().catch(() => {});
    await c.close();
  }
}

const kinds: ServerKind[] = ONLY ? [ONLY as ServerKind] : ["nats-server", "petrel"];
const rt = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno" : "bun";
console.log(`ops bench: ${MSGS} msgs, ${ROUNDS} round(s), Petrel on ${rt}, ${new Date().toISOString()}`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const kind of kinds) {
    if (SKIP !== "peer-remove") {
      const r = await peerRemove(kind);
      console.log(`round ${round} ${kind} peer-remove: filled ${MSGS} in ${(r.fillMs / 1000).toFixed(1)} s; ${r.removed} removed, ${r.added} back at R3 with every message after ${(r.backToR3Ms / 1000).toFixed(2)} s`);
    }
    if (SKIP !== "rolling") {
      const r = await rolling(kind);
      console.log(`round ${round} ${kind} rolling restart: steady ${Math.round(r.steadyRate)} msgs/s; during the restart of 3 servers (${(r.rollingMs / 1000).toFixed(1)} s) ${Math.round(r.rollingRate)} msgs/s, ${r.acked} acked, ${r.failedAttempts} failed attempts (retried), longest gap between acks ${Math.round(r.maxStallMs)} ms`);
    }
  }
}
process.exit(0);
