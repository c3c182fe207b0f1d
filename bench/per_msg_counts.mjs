#!/usr/bin/env node
// What each server does per message, counted (issue 14 item 6: p99.9 of cluster-reqrep / js-r1-sync).
//
// A request of cluster-reqrep crosses client → n1 → route → n3 → responder and back; a js-r1-sync publish goes
// client → n1 (store, PubAck) → client. Every syscall, wake-up or preemption on that path is a chance to wait for a
// core at p99.9. This starts the harness's configs (bench/harness_confs.mjs), runs one unmeasured
// natsbench pass to get past first use (compiles), then counts over a second pass of --n messages, per message:
//   - context switches of each server (all threads; voluntary = it blocked, involuntary = it was preempted while
//     runnable) and of natsbench, from /proc (no tracing: the latency printed is the run's own);
//   - with --perf, syscalls by kind and sched_switch / sched_wakeup per server thread (`perf stat --per-thread` on
//     syscall tracepoints; the tracepoints slow the run, so its latency is not the harness's);
//   - with --sched, `perf record -a` of the scheduler's events over the pass: for every wake-up of a server's or
//     natsbench's thread, whether it was placed on the waker's vCPU or the other one and whether the other one was
//     idle at that moment; and, for those threads' waits from wake-up (or preemption) to running, how many lasted
//     ≥ 1 ms and how much of that the other vCPU was idle (time a free core could have taken).
// Counts are divided by the pass's messages plus natsbench's own warm-up (1000 requests / 100 publishes), which the
// pass also sends.
//
// Usage: node bench/per_msg_counts.mjs js|rr [--n 20000] [--warm 5000] [--port-base 16450] [--perf] [--sched] -- <server cmd...>
//   e.g. node bench/per_msg_counts.mjs rr --perf -- /usr/sbin/nats-server
//        node bench/per_msg_counts.mjs rr --sched -- node_modules/.bin/bun run mod.ts
// Ports: base (client), base+10.. (cluster), base+20.. (http), as bench/harness_confs.mjs writes them. Needs perf (root or perf_event_paranoid ≤ 1) for
// --perf / --sched.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { listening, natsbenchArgs, parseCli, runNatsbench, writeConfs } from "./harness_confs.mjs";

const { mode, opt, has, cmd } = parseCli(
  process.argv.slice(2),
  "usage: node bench/per_msg_counts.mjs js|rr [--n N] [--warm N] [--port-base P] [--perf] [--sched] -- <server cmd...>",
);
const n = opt("--n", 20000), warm = opt("--warm", 5000), base = opt("--port-base", 16450);
const withPerf = has("--perf"), withSched = has("--sched");
const nb = process.env.NATSBENCH ?? "/work/shared/bench/bin/natsbench";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nodes = mode === "js" ? 1 : 3;
const perMsg = n + (mode === "js" ? 100 : 1000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-counts-"));

/** Voluntary / involuntary context switches of every thread of `pid`, summed. */
function ctx(pid) {
  let v = 0, nv = 0;
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [0, 0];
  }
  for (const t of tids) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
      v += Number(st.match(/^voluntary_ctxt_switches:\s+(\d+)/m)[1]);
      nv += Number(st.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)[1]);
    } catch { /* the thread ended */ }
  }
  return [v, nv];
}

/** Runs natsbench over `count` messages; `onMark(start|end, pid)` at its MARK lines; resolves with its RESULT. */
const bench = (count, onMark) => runNatsbench(nb, natsbenchArgs(mode, count, base), process.env, onMark);

const SYSCALLS = ["read", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg", "pwrite64", "epoll_wait", "epoll_pwait",
  "epoll_pwait2", "epoll_ctl", "futex", "nanosleep", "clock_nanosleep", "sched_yield", "timerfd_settime", "mprotect",
  "io_uring_enter", "getrusage"];

function perfStatSummary(file, mainPid) {
  const per = new Map();
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const f = line.split(",");
    if (f.length < 4 || line.startsWith("#")) continue;
    const tid = f[0].match(/-(\d+)$/)?.[1];
    const thr = tid === String(mainPid) ? "loop" : f[0].replace(/-\d+$/, "").trim();
    const v = Number(f[1]);
    if (!Number.isFinite(v) || v === 0) continue;
    const ev = f[3].replace(/^(syscalls:sys_enter_|raw_syscalls:|sched:)/, "").replace(/^sys_enter$/, "syscalls");
    if (!per.has(thr)) per.set(thr, new Map());
    per.get(thr).set(ev, (per.get(thr).get(ev) ?? 0) + v);
  }
  return per;
}

/** Wake-up placement and long waits of `pids` (server threads and natsbench) from `perf script` text. */
function schedSummary(text, pids, helpers) {
  const cur = new Map(), idleSince = new Map(), idle = [[], []], since = new Map(), waits = [];
  const place = new Map();
  const re = /^\s*(.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const cpu = Number(m[3]), ts = Number(m[4]), ev = m[5], tr = m[6];
    if (ev === "sched_switch") {
      const prev = tr.match(/prev_pid=(\d+)/)[1], state = tr.match(/prev_state=(\S+)/)[1], next = tr.match(/next_pid=(\d+)/)[1];
      if (prev === "0" && idleSince.has(cpu)) (idle[cpu].push([idleSince.get(cpu), ts]), idleSince.delete(cpu));
      if (next === "0") idleSince.set(cpu, ts);
      if (pids.has(prev) && state.startsWith("R")) since.set(prev, [ts, "preempted"]);
      if (pids.has(next) && since.has(next)) {
        const [t0, kind] = since.get(next);
        since.delete(next);
        waits.push([t0, ts, cpu, kind]);
      }
      cur.set(cpu, next);
    } else if (ev === "sched_wakeup") {
      const pid = tr.match(/ pid=(\d+)/)[1], target = Number(tr.match(/target_cpu=(\d+)/)[1]);
      const helper = helpers.get(pid);
      if (!pids.has(pid) && helper === undefined) continue;
      if (pids.has(pid)) since.set(pid, [ts, "woken"]);
      const key = `${helper ?? "loops+natsbench"}: ${target === cpu ? "waker's vCPU" : "other vCPU"}, other vCPU ${(cur.get(1 - cpu) ?? "0") === "0" ? "idle" : "busy"}`;
      place.set(key, (place.get(key) ?? 0) + 1);
    }
  }
  const idleIn = (c, a, b) => {
    let s = 0;
    for (const [x, y] of idle[c] ?? []) if (y >= a && x <= b) s += Math.min(b, y) - Math.max(a, x);
    return s;
  };
  const long = waits.filter(([a, b]) => b - a >= 1e-3);
  const longMs = long.reduce((s, [a, b]) => s + (b - a), 0) * 1e3;
  const idleMs = long.reduce((s, [a, b, c]) => s + idleIn(1 - c, a, b), 0) * 1e3;
  const halfIdle = long.filter(([a, b, c]) => idleIn(1 - c, a, b) >= 0.5 * (b - a)).length;
  return { place, waits: waits.length, long: long.length, longMs, idleMs, halfIdle, preempted: long.filter((w) => w[3] === "preempted").length };
}

const confs = writeConfs(dir, mode, base).map((nd) => nd.conf);
for (let i = 0; i < nodes; i++) if (await listening(base + i)) throw new Error(`port ${base + i} is in use`);
const procs = confs.map((c, i) => {
  const log = fs.openSync(path.join(dir, `n${i + 1}.log`), "w");
  return spawn(cmd[0], [...cmd.slice(1), "-c", c], { stdio: ["ignore", log, log] });
});
try {
  for (let i = 0; i < nodes; i++) {
    const until = Date.now() + 20000;
    while (!(await listening(base + i))) {
      if (Date.now() > until) throw new Error(`server on ${base + i} did not listen`);
      await sleep(20);
    }
  }
  await sleep(nodes > 1 ? 2000 : 300); // routes up
  if (warm > 0) await bench(warm);
  const perfs = [];
  if (withPerf) {
    const events = ["raw_syscalls:sys_enter", ...SYSCALLS.map((s) => `syscalls:sys_enter_${s}`), "sched:sched_switch", "sched:sched_wakeup"];
    for (let i = 0; i < nodes; i++) {
      perfs.push(spawn("perf", ["stat", "-x", ",", "-o", path.join(dir, `stat${i + 1}.txt`), "--per-thread", "-e", events.join(","), "-p", String(procs[i].pid)], { stdio: "ignore" }));
    }
  }
  if (withSched) {
    perfs.push(spawn("perf", ["record", "-q", "-a", "-e", "sched:sched_switch,sched:sched_wakeup", "-o", path.join(dir, "sched.data")], { stdio: "ignore" }));
  }
  if (perfs.length) await sleep(500);
  const c0 = procs.map((p) => ctx(p.pid));
  let nbPid = 0, nb1 = [0, 0];
  const result = await bench(n, (at, pid) => {
    nbPid = pid;
    if (at === "end") nb1 = ctx(pid);
  });
  const c1 = procs.map((p) => ctx(p.pid));
  await Promise.all(perfs.map((p) => new Promise((res) => (p.once("exit", res), p.kill("SIGINT")))));
  const f2 = (x) => (x / perMsg).toFixed(2);
  console.log(`${mode} n=${n}: p50 ${result.p50_us.toFixed(0)} p99 ${result.p99_us.toFixed(0)} p99.9 ${result.p999_us.toFixed(0)} µs, ` +
    `${result.msgs_s.toFixed(0)} msgs/s${withPerf || withSched ? " (traced: not the harness's latency)" : ""}`);
  console.log(`context switches per message, voluntary / involuntary: ` +
    procs.map((_, i) => `n${i + 1} ${f2(c1[i][0] - c0[i][0])} / ${f2(c1[i][1] - c0[i][1])}`).join(", ") +
    `; natsbench (whole run incl. connect) ${f2(nb1[0])} / ${f2(nb1[1])}`);
  if (withPerf) {
    for (let i = 0; i < nodes; i++) {
      for (const [thr, evs] of perfStatSummary(path.join(dir, `stat${i + 1}.txt`), procs[i].pid)) {
        const parts = [...evs].filter(([, v]) => v / perMsg >= 0.01).map(([e, v]) => `${e} ${f2(v)}`);
        if (parts.length) console.log(`  n${i + 1} ${thr}: ${parts.join(", ")}`);
      }
    }
  }
  if (withSched) {
    const text = execFileSync("perf", ["script", "-i", path.join(dir, "sched.data"), "-F", "comm,tid,cpu,time,event,trace"], { maxBuffer: 1 << 30, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    // the chain: the servers' event loops and natsbench's threads (found by name: it has exited); the servers'
    // other threads (compiler, collector, allocator) are reported apart, by name
    const pids = new Set(procs.map((p) => String(p.pid)));
    for (const m of text.matchAll(/^\s*natsbench\s+(\d+)\s/gm)) pids.add(m[1]);
    const helpers = new Map();
    for (const p of procs) {
      try {
        for (const t of fs.readdirSync(`/proc/${p.pid}/task`)) {
          if (t !== String(p.pid)) helpers.set(t, fs.readFileSync(`/proc/${p.pid}/task/${t}/comm`, "utf8").trim().replace(/[\d ]+$/, ""));
        }
      } catch { /* gone */ }
    }
    const s = schedSummary(text, pids, helpers);
    console.log(`wake-ups (placed on, at that moment):\n  ${[...s.place].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([k, v]) => `${k} ${v}`).join("\n  ")}`);
    console.log(`the loops' and natsbench's waits to run: ${s.waits}, ≥ 1 ms ${s.long} (${s.preempted} after a preemption) for ${s.longMs.toFixed(1)} ms, ` +
      `the other vCPU idle ${s.idleMs.toFixed(1)} ms of it (idle half the wait or more in ${s.halfIdle})`);
  }
} finally {
  for (const p of procs) p.kill("SIGTERM");
  await sleep(500);
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
}
