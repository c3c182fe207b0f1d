#!/usr/bin/env node
// Which messages of a fresh server are the slow ones (issue 14 item 6: p99.9 of js-r1-sync / cluster-reqrep).
//
// The bench harness (../shared/bench/run.mjs) starts fresh servers for every round and sends a fixed 20,000 sync
// publishes (or requests), so its p99.9 is the 20 slowest messages of a fresh process. This runs the same scenario
// the same way (same configs, natsbench's raw-protocol client, its warm-up of 100 publishes / 1000 requests) and
// prints, per round, the slowest messages with their index and the time since the first measured one, and for each
// server thread the CPU it used and the time it waited runnable on a run queue during the measured window
// (/proc/<pid>/task/<tid>/schedstat at natsbench's "MARK start" / "MARK end"): compiler threads (JITWorker,
// V8 DefaultWorker) busy in the window mean JIT tier-up; a main thread that waited long lost its core.
//
// natsbench does not dump its latencies: a copy of ../shared/bench/src/natsbench.c with a 1-line patch (every
// latency in order to $LATDUMP before they are sorted) is built into $TMPDIR/petrel-first-use/ on first use.
//
// Usage: node bench/first_use.mjs js|rr [--rounds 3] [--n 20000] [--top 30] [--port-base 16450] -- <server cmd...>
//   e.g. node bench/first_use.mjs js --rounds 3 -- node_modules/.bin/bun run mod.ts
//        node bench/first_use.mjs rr -- /usr/sbin/nats-server
// The server command gets `-c <conf>` appended. Ports: base (client), base+10.. (cluster), base+20.. (http).
import { execFileSync, spawn } from "node:child_process";
import { connect } from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
if (dd < 0 || !["js", "rr"].includes(argv[0])) {
  console.error("usage: node bench/first_use.mjs js|rr [--rounds N] [--n N] [--top N] [--port-base P] -- <server cmd...>");
  process.exit(2);
}
const mode = argv[0];
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i > 0 && i < dd ? Number(argv[i + 1]) : dflt;
};
const rounds = opt("--rounds", 3), n = opt("--n", 20000), top = opt("--top", 30), base = opt("--port-base", 16450);
const cmd = argv.slice(dd + 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function natsbench() {
  const src = process.env.NATSBENCH_SRC ?? "/work/shared/bench/src/natsbench.c";
  const dir = path.join(os.tmpdir(), "petrel-first-use");
  const bin = path.join(dir, "natsbench");
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const anchor = "    qsort(lat, n, sizeof(int64_t), cmp_i64);\n";
  const code = fs.readFileSync(src, "utf8");
  if (!code.includes(anchor)) throw new Error(`${src}: print_lat's qsort not found; patch by hand`);
  const dump = '    { const char *dp = getenv("LATDUMP"); if (dp) { FILE *f = fopen(dp, "w"); if (f) { ' +
    'for (int64_t i = 0; i < n; i++) fprintf(f, "%lld\\n", (long long)lat[i]); fclose(f); } } }\n';
  fs.writeFileSync(path.join(dir, "natsbench.c"), code.replace(anchor, dump + anchor));
  execFileSync("gcc", ["-O2", "-o", bin, path.join(dir, "natsbench.c"), "-lnats", "-lpthread"], { stdio: "inherit" });
  return bin;
}

const listening = (port) =>
  new Promise((res) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), res(true)));
    s.once("error", () => res(false));
  });

/** Configs as run.mjs writes them (single_js / cluster3). */
function writeConfs(dir) {
  const nodes = mode === "js" ? 1 : 3;
  const out = [];
  for (let i = 0; i < nodes; i++) {
    const lines = [`server_name: "b-n${i + 1}"`, `port: ${base + i}`, `host: "127.0.0.1"`, `http: "127.0.0.1:${base + 20 + i}"`];
    if (nodes > 1) {
      const routes = [];
      for (let j = 0; j < nodes; j++) if (j !== i) routes.push(`    "nats-route://127.0.0.1:${base + 10 + j}"`);
      lines.push("cluster {", '  name: "bench"', `  listen: "127.0.0.1:${base + 10 + i}"`, "  routes: [", ...routes, "  ]", "}");
    } else {
      lines.push("jetstream {", `  store_dir: "${path.join(dir, "js")}"`, "}");
    }
    const conf = path.join(dir, `n${i + 1}.conf`);
    fs.writeFileSync(conf, lines.join("\n") + "\n");
    out.push({ conf, port: base + i });
  }
  return out;
}

/** CPU and run-queue wait (ns) of every thread of the servers, keyed by node and thread. */
function threads(pids) {
  const out = new Map();
  pids.forEach((pid, node) => {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      try {
        const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
        const [run, wait] = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
        const name = String(tid) === String(pid) ? "main" : comm.replace(/[\d ]+$/, "");
        out.set(`${node}/${tid}`, { group: `n${node + 1}:${name}`, run, wait });
      } catch { /* the thread ended */ }
    }
  });
  return out;
}

function windowUse(a, b) {
  const g = new Map();
  for (const [k, t] of b) {
    const t0 = a.get(k) ?? { run: 0, wait: 0 };
    const v = g.get(t.group) ?? [0, 0];
    v[0] += (t.run - t0.run) / 1e6;
    v[1] += (t.wait - t0.wait) / 1e6;
    g.set(t.group, v);
  }
  return [...g].filter(([, v]) => v[0] >= 1 || v[1] >= 1).sort().map(([k, v]) => `${k} ${v[0].toFixed(0)}/${v[1].toFixed(0)}`)
    .join("  ");
}

async function round(r, nb) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-first-use-"));
  const nodes = writeConfs(dir);
  for (const nd of nodes) if (await listening(nd.port)) throw new Error(`port ${nd.port} is in use`);
  const procs = nodes.map((nd, i) => {
    const log = fs.openSync(path.join(dir, `s${i}.log`), "w");
    return spawn(cmd[0], [...cmd.slice(1), "-c", nd.conf], { stdio: ["ignore", log, log] });
  });
  try {
    for (const nd of nodes) {
      const until = Date.now() + 20000;
      while (!(await listening(nd.port))) {
        if (Date.now() > until) throw new Error(`server on ${nd.port} did not listen`);
        await sleep(20);
      }
    }
    const latFile = path.join(dir, "lat");
    const args = mode === "js"
      ? ["js", "-s", "128", "--replicas", "1", "-n", String(n), "--url", `nats://127.0.0.1:${base}`, "--stream", "BENCH_B_1", "--subj", "benchjs.B.1"]
      : ["req", "-s", "16", "-n", String(n), "--url", `nats://127.0.0.1:${base}`, "--sub-url", `nats://127.0.0.1:${base + 2}`];
    const pids = procs.map((p) => p.pid);
    let t0, t1, result;
    await new Promise((res, rej) => {
      const c = spawn(nb, args, { env: { ...process.env, LATDUMP: latFile }, stdio: ["ignore", "pipe", "ignore"] });
      let buf = "";
      c.stdout.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.startsWith("MARK start")) t0 = threads(pids);
          else if (line.startsWith("MARK end")) t1 = threads(pids);
          else if (line.startsWith("RESULT ")) result = JSON.parse(line.slice(7));
        }
      });
      c.once("exit", (code) => (result ? res() : rej(new Error(`natsbench exited ${code} without a result`))));
    });
    const lat = fs.readFileSync(latFile, "utf8").trim().split("\n").map(Number);
    const at = [];
    let t = 0;
    for (const x of lat) at.push((t += x) - x);
    const order = lat.map((_, i) => i).sort((a, b) => lat[b] - lat[a]);
    const slow = order.slice(0, top).sort((a, b) => a - b);
    const deciles = new Array(10).fill(0);
    for (const i of order.slice(0, 20)) deciles[Math.floor((i * 10) / lat.length)]++;
    const us = (ns) => (ns / 1000).toFixed(0);
    console.log(
      `round ${r}: p50 ${result.p50_us.toFixed(0)} p99 ${result.p99_us.toFixed(0)} p99.9 ${result.p999_us.toFixed(0)} max ` +
        `${result.max_us.toFixed(0)} µs, ${lat.filter((x) => x > 1e6).length} over 1 ms, ${result.secs.toFixed(2)} s`,
    );
    console.log(`  slowest ${top} (index@ms-since-first:µs): ${slow.map((i) => `${i}@${(at[i] / 1e6).toFixed(0)}:${us(lat[i])}`).join(" ")}`);
    console.log(`  the 20 slowest by tenth of the run: [${deciles.join(", ")}]`);
    console.log(`  server threads in the window, CPU/run-queue wait ms: ${windowUse(t0, t1)}`);
    return deciles;
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once("exit", r)) : undefined)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const nb = natsbench();
const sum = new Array(10).fill(0);
for (let r = 1; r <= rounds; r++) (await round(r, nb)).forEach((v, i) => (sum[i] += v));
console.log(`all rounds, the 20 slowest by tenth of the run: [${sum.join(", ")}]`);
