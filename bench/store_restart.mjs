#!/usr/bin/env node
// Start-up on an existing store (built once: natsbench into nats-server, or bench/store_fill.ts for Petrel):
// time to the first accepted connection, time until stream BENCH answers $JS.API.STREAM.INFO (with its
// message count), RSS then and after 3 s idle. The store is kept.
// Usage: node bench/store_restart.mjs <nats-server|bun|deno> DIR [rounds=1]
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { readFileSync } from "node:fs";

const which = process.argv[2] ?? "bun";
const dir = process.argv[3];
const rounds = Number(process.argv[4] ?? 1);
if (!dir) throw new Error("usage: node bench/store_restart.mjs <nats-server|bun|deno> DIR [rounds]");
const port = 14652;
const base = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir];
const cmd = which === "nats-server"
  ? ["/usr/sbin/nats-server", ...base]
  : which === "deno"
  ? ["node_modules/.bin/deno", "run", "-A", "mod.ts", ...base]
  : ["node_modules/.bin/bun", "run", "mod.ts", ...base];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function tryConnect() {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
/** One raw request: resolves true once $JS.API.STREAM.INFO.BENCH answers with the stream's state. */
function streamInfo() {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let buf = "";
    s.setEncoding("latin1");
    s.once("error", () => resolve(false));
    // Before the store is loaded nobody answers: try again.
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 25);
    s.on("data", (d) => {
      buf += d;
      const m = buf.match(/"messages":(\d+)/);
      if (m) {
        clearTimeout(t);
        s.destroy();
        resolve(Number(m[1]));
      } else if (buf.includes("\"error\"")) {
        s.destroy();
        resolve(false);
      }
    });
    s.once("connect", () => {
      s.write('CONNECT {"verbose":false}\r\nSUB _I.x 1\r\nPUB $JS.API.STREAM.INFO.BENCH _I.x 0\r\n\r\n');
    });
  });
}
function rssOfTree(pid) {
  let total = 0;
  const kids = (p) => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
        .flatMap((k) => [k, ...kids(k)]);
    } catch {
      return [];
    }
  };
  for (const p of [pid, ...kids(pid)]) {
    try {
      const m = readFileSync(`/proc/${p}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      if (m) total += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return total;
}
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;


async function start() {
  const t0 = performance.now();
  const p = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
  while (!(await tryConnect())) await sleep(2);
  const accept = performance.now() - t0;
  return { p, accept, t0 };
}
async function stop(p) {
  p.kill("SIGTERM");
  await new Promise((r) => p.once("exit", r));
}

for (let r = 0; r < rounds; r++) {
  const b = await start();
  let msgs;
  while (!(msgs = await streamInfo())) await sleep(2);
  const ready = performance.now() - b.t0;
  await sleep(200);
  const rss = rssOfTree(b.p.pid);
  await sleep(3000);
  const idle = rssOfTree(b.p.pid);
  await stop(b.p);
  console.log(`| ${which} | ${msgs} | ${b.accept.toFixed(0)} ms | ${ready.toFixed(0)} ms | ${mb(rss)} | ${mb(idle)} |`);
}
