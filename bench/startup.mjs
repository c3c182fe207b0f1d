#!/usr/bin/env node
// Time from process start to the first accepted TCP connection, and idle RSS one second later, for
// nats-server and Petrel on Bun and Deno. Usage: node bench/startup.mjs [rounds]
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { readFileSync } from "node:fs";

const rounds = Number(process.argv[2] ?? 5);
const port = 14600;
const targets = [
  ["nats-server", ["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", String(port)]],
  ["petrel (bun)", ["node_modules/.bin/bun", "run", "mod.ts", "-a", "127.0.0.1", "-p", String(port)]],
  ["petrel (deno)", ["node_modules/.bin/deno", "run", "-A", "mod.ts", "-a", "127.0.0.1", "-p", String(port)]],
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function tryConnect() {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}
function rssOfTree(pid) {
  // The runtime may be a child of a wrapper (npm's bin shims): sum the process group.
  let total = 0;
  for (const p of [pid, ...children(pid)]) {
    try {
      const m = readFileSync(`/proc/${p}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      if (m) total += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return total;
}
function children(pid) {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.flatMap((k) => [k, ...children(k)]);
  } catch { return []; }
}

for (const [name, cmd] of targets) {
  const times = [];
  const rss = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const p = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
    while (!(await tryConnect())) await sleep(2);
    times.push(performance.now() - t0);
    await sleep(1000);
    rss.push(rssOfTree(p.pid));
    p.kill("SIGTERM");
    await new Promise((res) => p.once("exit", res));
  }
  times.sort((a, b) => a - b);
  rss.sort((a, b) => a - b);
  const med = (a) => a[Math.floor(a.length / 2)];
  console.log(`| ${name} | ${med(times).toFixed(0)} ms | ${(med(rss) / 1e6).toFixed(1)} MB |`);
}
