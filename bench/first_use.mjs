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
// With --stalls each server runs with PETREL_STALL_LOG (adapters/runtime/stall_recorder.ts) and each of the `top`
// slowest messages is matched to what a server's event loop was doing meanwhile: a collection (gc), a timer callback
// (timer), the loop's thread preempted (wait: runnable, another thread on its core), or running something of its own
// (run); `-` when no server's loop stalled (the time went between processes: a client or a wake-up). Message times
// are placed on the wall clock by spreading natsbench's MARK start..end over the cumulated latencies.
//
// Each round also prints the host's CPU in the window: how busy both CPUs were, and how much of it went to processes
// other than the servers and the client (other engineers' work on a shared host, which no build changes). With
// --quiet P each round waits (at most --quiet-max s, default 600) until the host was at least P % idle over a second
// before it starts its servers: on a shared host, the nearest thing to a quiet A/B (rounds of two builds alternated
// by the caller, each started in a quiet second; the others' share says whether it stayed quiet).
//
// Each round also prints every server thread's CPU from start-up to the window's end (the compiler threads' whole
// cost up to then: the runtimes' own per-function compile ms, BUN_JSC_reportCompileTimes or V8's --trace-opt, are
// wall time, which a busy host stretches).
//
// With --v8-trace (Deno; diagnosis only: tracing slows the server) each server runs with V8's --trace-opt and
// --trace-deopt (added to DENO_V8_FLAGS) under `stdbuf -oL`: V8 prints its traces through stdio, fully buffered into
// a file, so without it the lines land in the log up to 4 KB late and a deopt cannot be placed before or after the
// window. The log's size at natsbench's MARK start / end splits it; per node it prints the compiles by tier, the
// OSR compiles and every deopt (eager, lazy, and code thrown away because a field's type or constness changed) that
// fell inside the measured window, those after the window's last compile apart (natsbench asks for the stream's info
// right after MARK end, which this process reads a little later), and how many came after it (shutdown).
//
// Usage: node bench/first_use.mjs js|rr [--rounds 3] [--n 20000] [--top 30] [--port-base 16450] [--stalls] [--keep] [--v8-trace] [--quiet P] [--quiet-max S] -- <server cmd...>
//   e.g. node bench/first_use.mjs js --rounds 3 -- node_modules/.bin/bun run mod.ts
//        node bench/first_use.mjs rr -- /usr/sbin/nats-server
// The server command gets `-c <conf>` appended. Ports: base (client), base+10.. (cluster), base+20.. (http).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { listening, natsbenchArgs, parseCli, runNatsbench, writeConfs } from "./harness_confs.mjs";

const { mode, opt, has, cmd } = parseCli(
  process.argv.slice(2),
  "usage: node bench/first_use.mjs js|rr [--rounds N] [--n N] [--top N] [--port-base P] -- <server cmd...>",
);
const rounds = opt("--rounds", 3), n = opt("--n", 20000), top = opt("--top", 30), base = opt("--port-base", 16450);
const withStalls = has("--stalls");
/** Keep each round's directory (configs, server logs, stall records) and print where it is. */
const keep = has("--keep");
const v8Trace = has("--v8-trace");
const quiet = opt("--quiet", 0), quietMax = opt("--quiet-max", 600);
const wall = () => performance.timeOrigin + performance.now();
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

/** The host's CPU time so far (ms): busy (all but idle and iowait) and in all, over every CPU (/proc/stat). */
function hostCpu() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const tick = 10; // USER_HZ = 100 on Linux
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: (all - f[3] - f[4]) * tick, all: all * tick };
}

/** CPU (ms) of every thread of `pid` (schedstat: exact, unlike the tick-based utime). */
function procRunMs(pid) {
  let ms = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ms += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
      } catch { /* the thread ended */ }
    }
  } catch { /* the process ended */ }
  return ms;
}

/** Waits until the host was at least `pct` % idle over one second (at most `maxS` seconds); returns the seconds waited. */
async function waitQuiet(pct, maxS) {
  const t0 = Date.now();
  for (;;) {
    const a = hostCpu();
    await sleep(1000);
    const b = hostCpu();
    const idle = 100 - (100 * (b.busy - a.busy)) / Math.max(1, b.all - a.all);
    if (idle >= pct || Date.now() - t0 > maxS * 1000) return { waited: (Date.now() - t0) / 1000, idle };
  }
}

async function round(r, nb) {
  if (quiet > 0) {
    const q = await waitQuiet(quiet, quietMax);
    console.log(`round ${r}: started after ${q.waited.toFixed(0)} s, host ${q.idle.toFixed(0)} % idle over the last second${q.idle < quiet ? " (gave up waiting)" : ""}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-first-use-"));
  const nodes = writeConfs(dir, mode, base);
  for (const nd of nodes) if (await listening(nd.port)) throw new Error(`port ${nd.port} is in use`);
  const logs = nodes.map((_, i) => path.join(dir, `s${i}.log`));
  const procs = nodes.map((nd, i) => {
    const log = fs.openSync(logs[i], "w");
    const env = { ...process.env };
    if (withStalls) env.PETREL_STALL_LOG = path.join(dir, `stall${i}.json`);
    if (v8Trace) env.DENO_V8_FLAGS = [env.DENO_V8_FLAGS, "--trace-opt,--trace-deopt"].filter(Boolean).join(",");
    const argv = v8Trace ? ["stdbuf", "-oL", ...cmd] : cmd;
    return spawn(argv[0], [...argv.slice(1), "-c", nd.conf], { stdio: ["ignore", log, log], env });
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
    const args = natsbenchArgs(mode, n, base);
    const pids = procs.map((p) => p.pid);
    let t0, t1, result, w0, w1, at0, at1, h0, h1, c0, c1;
    const logSizes = () => logs.map((f) => fs.statSync(f).size);
    result = await runNatsbench(nb, args, { ...process.env, LATDUMP: latFile }, (at, pid) => {
      if (at === "start") (w0 = wall()), (t0 = threads(pids)), (at0 = logSizes()), (h0 = hostCpu()), (c0 = procRunMs(pid));
      else (w1 = wall()), (t1 = threads(pids)), (at1 = logSizes()), (h1 = hostCpu()), (c1 = procRunMs(pid));
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
    // From start-up to the window's end: what the compiler threads cost in all, whenever the load let them run
    // (compile ms in the runtimes' own reports are wall time, which a busy host stretches).
    console.log(`  server threads from start to the window's end, CPU/run-queue wait ms: ${windowUse(new Map(), t1)}`);
    {
      let servers = 0;
      for (const [k, t] of t1) servers += (t.run - (t0.get(k)?.run ?? 0)) / 1e6;
      const busy = h1.busy - h0.busy, all = Math.max(1, h1.all - h0.all);
      console.log(`  host in the window: ${((100 * busy) / all).toFixed(0)} % busy; servers ${servers.toFixed(0)} ms, client ` +
        `${(c1 - c0).toFixed(0)} ms, others ${Math.max(0, busy - servers - (c1 - c0)).toFixed(0)} ms of CPU (±10 ms per CPU: /proc/stat ticks)`);
    }
    if (withStalls) {
      await stopAll(procs);
      const total = at[at.length - 1] + lat[lat.length - 1];
      const wallOf = (ns) => w0 + ((w1 - w0) * ns) / total;
      attribute(nodes.map((_, i) => path.join(dir, `stall${i}.json`)), order.slice(0, top), (i) => [wallOf(at[i]), wallOf(at[i] + lat[i])], lat, w0, w1);
    }
    if (v8Trace) {
      await stopAll(procs);
      logs.forEach((f, i) => tierUps(`n${i + 1}`, fs.readFileSync(f), at0[i], at1[i]));
    }
    return deciles;
  } finally {
    await stopAll(procs);
    if (keep) console.log(`  kept: ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What V8 compiled and threw away inside the window [from, to) of one server's log (see --v8-trace). */
function tierUps(node, log, from, to) {
  const inside = log.subarray(from, to).toString("utf8").split("\n");
  const after = log.subarray(to).toString("utf8").split("\n");
  const tiers = new Map();
  let osr = 0;
  for (const l of inside) {
    const m = /^\[completed compiling .*\(target (\w+)\)( OSR)?/.exec(l);
    if (!m) continue;
    tiers.set(m[1], (tiers.get(m[1]) ?? 0) + 1);
    if (m[2]) osr++;
  }
  const deopts = (lines) =>
    lines.flatMap((l) => {
      const b = /^\[bailout \(kind: ([\w-]+), reason: ([^)]*)\).*?<JSFunction ([^ >]*)/.exec(l);
      if (b) return [`${b[3]} (${b[1]}: ${b[2]})`];
      const d = /^\[marking dependent code .*<SharedFunctionInfo ([^>]*)>.*reason: ([^\]]*)\]/.exec(l);
      return d ? [`${d[1]} (dependency: ${d[2]})`] : [];
    });
  // natsbench reads the stream's info right after MARK end and this process sees that line a little later: what
  // deopts after the window's last compile is usually that request, not the measured traffic.
  let lastCompile = -1;
  inside.forEach((l, i) => l.startsWith("[completed compiling") && (lastCompile = i));
  const inWindow = deopts(inside.slice(0, lastCompile + 1));
  const atEnd = deopts(inside.slice(lastCompile + 1));
  const first = log.subarray(0, from).toString("utf8").split("\n").length;
  console.log(`  ${node} V8 in the window (log lines ${first}-${first + inside.length - 1}): compiles ${[...tiers].map(([t, n]) => `${t} ${n}`).join(", ") || "none"}, OSR ${osr}; ` +
    `deopts ${inWindow.length}${inWindow.length ? ": " + inWindow.join("; ") : ""}; after its last compile (the client's closing ` +
    `requests, as a rule): ${atEnd.length}${atEnd.length ? " (" + atEnd.join("; ") + ")" : ""}; after the window: ${deopts(after).length}`);
}

async function stopAll(procs) {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
  await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once("exit", r)) : undefined)));
}

/** Each slow message's overlapping stalls on any server, and a count of the causes over them. */
function attribute(files, slowest, span, lat, w0, w1) {
  const logs = files.map((f) => {
    try {
      return JSON.parse(fs.readFileSync(f, "utf8"));
    } catch {
      return { stalls: [], gcs: [], slowTimers: [] };
    }
  });
  const inWin = (t) => t >= w0 && t <= w1;
  console.log(`  in the window per node: collections ${logs.map((l) => l.gcs.filter(inWin).length).join("/")}, ` +
    `stalls ${logs.map((l) => l.stalls.filter((s) => inWin(s.at)).length).join("/")}, ` +
    `slow timers ${logs.map((l) => l.slowTimers.filter((s) => inWin(Number(s.split(" ")[0]))).length).join("/")}`);
  for (const [node, l] of logs.entries()) {
    const names = new Map();
    for (const s of l.slowTimers) {
      const [t, ...rest] = s.split(" ");
      if (!inWin(Number(t))) continue;
      const ms = Number(rest.pop().replace("ms", ""));
      const k = rest.join(" ");
      const v = names.get(k) ?? [0, 0];
      names.set(k, [v[0] + 1, Math.max(v[1], ms)]);
    }
    if (names.size > 0) console.log(`  n${node + 1} timers ≥ 0.1 ms in the window (count, longest ms): ${[...names].map(([k, v]) => `${k}: ${v[0]}, ${v[1]}`).join(" | ")}`);
  }
  // What the loop's thread itself ran for 0.3 ms or more without a pause (CPU, so the host's load adds little):
  // a collection, a timer callback, or something else (a compile's finalize, a module load, a long batch).
  for (const [node, l] of logs.entries()) {
    const held = { gc: [], timer: [], other: [] };
    for (const s of l.stalls) {
      if (!inWin(s.at) || s.run < 0.3) continue;
      held[s.gc ? "gc" : s.timers.length > 0 ? "timer" : "other"].push(s.run);
    }
    const fmt = (a) => `${a.length} (${a.sort((x, y) => y - x).slice(0, 8).map((x) => x.toFixed(1)).join(" ")})`;
    const gcGaps = l.stalls.filter((s) => inWin(s.at) && s.gc).map((s) => s.gap).sort((x, y) => y - x);
    console.log(`  n${node + 1} stalls with a collection: ${gcGaps.length}, gaps summed ${gcGaps.reduce((a, b) => a + b, 0).toFixed(1)} ms (${gcGaps.slice(0, 8).map((x) => x.toFixed(1)).join(" ")})`);
    console.log(`  n${node + 1} loop held ≥ 0.3 ms CPU in the window, ms: gc ${fmt(held.gc)}, timer ${fmt(held.timer)}, other ${fmt(held.other)}`);
  }
  const causes = new Map();
  const SLACK = 0.3;
  for (const i of slowest) {
    const [a, b] = span(i);
    const parts = [];
    let cause = "-";
    logs.forEach((l, node) => {
      for (const s of l.stalls) {
        if (s.at > b + SLACK || s.at + s.gap < a - SLACK) continue;
        const why = s.gc ? "gc" : s.timers.length > 0 ? "timer" : s.wait > s.run ? "wait" : "run";
        if (cause === "-" || why === "gc" || why === "timer") cause = why;
        parts.push(`n${node + 1} ${s.gap.toFixed(1)}ms run ${s.run.toFixed(1)} wait ${s.wait.toFixed(1)}${s.gc ? " GC" : ""}` +
          `${s.comp >= 0.5 ? ` jit ${s.comp.toFixed(1)}/${(s.at + s.gap - s.compSince).toFixed(0)}ms` : ""}${s.timers.length ? ` [${s.timers.join("; ")}]` : ""}`);
      }
    });
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
    console.log(`    #${i} ${(lat[i] / 1000).toFixed(0)}µs +${(a - w0).toFixed(1)}ms: ${parts.join(" | ") || "-"}`);
  }
  console.log(`  causes of the ${slowest.length} slowest: ${[...causes].map(([k, v]) => `${k} ${v}`).join(", ")}`);
}

const nb = natsbench();
const sum = new Array(10).fill(0);
for (let r = 1; r <= rounds; r++) (await round(r, nb)).forEach((v, i) => (sum[i] += v));
console.log(`all rounds, the 20 slowest by tenth of the run: [${sum.join(", ")}]`);
