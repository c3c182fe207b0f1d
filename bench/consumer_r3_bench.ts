/**
 * Consuming from a replicated stream: three server processes (Petrel, then nats-server 2.9.10, same
 * configuration), an R3 file stream holding N messages, one durable pull consumer (its own Raft group) drained
 * with `consume()`, every message acknowledged. Reports messages/s until the last message arrived and until the
 * consumer's replicated ack floor reached N, for both servers, and their ratio; then the peak RSS of the busiest
 * server, the three servers' CPU time per 1,000 messages consumed (less sensitive than rates to a loaded machine)
 * and the bytes of the consumer's Raft group on disk (every server's directories named `C-*`: Petrel's
 * consumer groups, nats-server's `_js_/C-*` groups and its `obs/` consumer store).
 *
 *   node_modules/.bin/bun bench/consumer_r3_bench.ts [--messages N] [--rounds R] [--fetch B] [--only petrel|nats-server]
 *
 * `--fetch B` takes the messages with `fetch({ max_messages: B })` batch after batch (each message acked)
 * instead of `consume()`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type RunningServer, type ServerKind, startServer, waitFor } from "../test/helpers/servers.ts";
import { freePort } from "../test/jsraft/helpers.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg("--messages", 20_000);
const ROUNDS = arg("--rounds", 1);
/** `--single`: one server without a cluster (an R1 stream), to tell the replication's cost from the consumer's. */
const SINGLE = process.argv.includes("--single");
const FETCH = arg("--fetch", 0);
const ONLY = (() => {
  const i = process.argv.indexOf("--only");
  return i >= 0 ? process.argv[i + 1] : undefined;
})();

/** Peak RSS of a process so far (VmHWM), MB. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time of a process so far (user + system), ms. */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime in clock ticks of 10 ms
  } catch {
    return 0;
  }
}

/** Bytes under `dir` in directories named like a consumer's Raft group or consumer store (`C-*`, `obs`). */
function consumerLogBytes(dir: string, inside = false): number {
  let n = 0;
  let list: string[] = [];
  try {
    list = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of list) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) n += consumerLogBytes(p, inside || name.startsWith("C-") || name === "obs");
    else if (inside) n += st.size;
  }
  return n;
}

interface Result {
  delivered: number;
  acked: number;
  rss: number;
  logBytes: number;
  written: number;
  /** CPU of the three servers while consuming, ms per 1,000 messages. */
  cpuPer1k: number;
  /** The same per server, and which servers lead the consumer and the stream. */
  cpuEach: number[];
  leaders: string;
}

async function once(kind: ServerKind): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "petrel-bench-cr3-"));
  const names = ["b1", "b2", "b3"];
  const ports = [await freePort(), await freePort(), await freePort()];
  const conf = (i: number) => `
server_name: ${names[i]}
jetstream { store_dir: "${join(dir, names[i])}" }
cluster {
  name: bench
  listen: 127.0.0.1:${ports[i]}
  routes: [${ports.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
`;
  const servers: RunningServer[] = SINGLE
    ? [await startServer(kind, { conf: `server_name: b1\njetstream { store_dir: "${join(dir, "b1")}" }\n` })]
    : await Promise.all([0, 1, 2].map((i) => startServer(kind, { conf: conf(i) })));
  const nc = await connect({ servers: servers[0].url });
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    const jsm = await waitFor("the meta group answers", async () => await jetstreamManager(nc, { timeout: 1000 }), 30_000);
    await waitFor("stream created", async () => {
      await jsm.streams.add({ name: "B", subjects: ["b.>"], num_replicas: SINGLE ? 1 : 3 });
      return true;
    }, 30_000);
    const js = jetstream(nc);
    const payload = new Uint8Array(128);
    for (let i = 0; i < N; i += 500) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(N, i + 500); j++) batch.push(js.publish(`b.${j % 10}`, payload));
      await Promise.all(batch);
    }
    await jsm.consumers.add("B", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    const cons = await jetstream(nc).consumers.get("B", "d");
    // The consumer logs' bytes, sampled while it runs: growth summed (a log file is rewritten after compactions).
    let written = 0, prevBytes = consumerLogBytes(dir);
    sampler = setInterval(() => {
      const b = consumerLogBytes(dir);
      written += Math.max(0, b - prevBytes);
      prevBytes = b;
    }, 100);
    const cpu0 = servers.map((s) => cpuMs(s.pid));
    const t0 = performance.now();
    let n = 0;
    if (FETCH > 0) {
      while (n < N) {
        const msgs = await cons.fetch({ max_messages: FETCH, expires: 5000 });
        for await (const m of msgs) {
          m.ack();
          n++;
        }
      }
    } else {
      const msgs = await cons.consume({ max_messages: 1000 });
      for await (const m of msgs) {
        m.ack();
        if (++n === N) break;
      }
    }
    const delivered = performance.now() - t0;
    await waitFor("ack floor", async () => (await jsm.consumers.info("B", "d")).ack_floor.stream_seq === N, 60_000, 20);
    const acked = performance.now() - t0;
    const cpuEach = servers.map((s, i) => (cpuMs(s.pid) - cpu0[i]) / (N / 1000));
    const cpu = cpuEach.reduce((a, x) => a + x, 0) * (N / 1000);
    const ci = await jsm.consumers.info("B", "d");
    const si = await jsm.streams.info("B");
    const leaders = `consumer leader ${ci.cluster?.leader ?? "-"}, stream leader ${si.cluster?.leader ?? "-"}, client on b1`;
    const rss = Math.max(...servers.map((s) => peakRss(s.pid)));
    clearInterval(sampler);
    const logBytes = consumerLogBytes(dir);
    written += Math.max(0, logBytes - prevBytes);
    return { delivered: N / (delivered / 1000), acked: N / (acked / 1000), rss, logBytes, written, cpuPer1k: cpu / (N / 1000), cpuEach, leaders };
  } finally {
    clearInterval(sampler);
    await nc.close().catch(() => {});
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const f = (x: number) => Math.round(x).toLocaleString("en-US");
const line = (kind: string, x: Result) =>
  `${kind}: delivered/s ${f(x.delivered)}, ack floor at N/s ${f(x.acked)}, servers' CPU ${x.cpuPer1k.toFixed(1)} ms per 1k msgs (${x.cpuEach.map((c, i) => `b${i + 1} ${c.toFixed(1)}`).join(", ")}; ${x.leaders}), peak RSS ${x.rss.toFixed(0)} MB, consumer logs on disk at the end ${f(x.logBytes / 1024)} KiB, written while consuming ~${f(x.written / 1024)} KiB (3 servers)`;
for (let r = 1; r <= ROUNDS; r++) {
  if (ONLY) {
    console.log(`round ${r}: ${N} msgs, ${FETCH > 0 ? `fetch ${FETCH}` : "consume"}: ${line(ONLY, await once(ONLY as ServerKind))}`);
    continue;
  }
  const ns = await once("nats-server");
  const pe = await once("petrel");
  console.log(line("nats-server", ns));
  console.log(line("petrel", pe));
  console.log(
    `round ${r}: ${N} msgs, ${SINGLE ? "R1 (one server)" : "R3"} pull consumer with acks — delivered/s nats-server ${f(ns.delivered)}, Petrel ${f(pe.delivered)} (${(pe.delivered / ns.delivered).toFixed(2)}x); ` +
      `ack floor at N/s nats-server ${f(ns.acked)}, Petrel ${f(pe.acked)} (${(pe.acked / ns.acked).toFixed(2)}x)`,
  );
}
process.exit(0);
