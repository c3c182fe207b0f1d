#!/usr/bin/env node
// Memory and restart with a large file store: async-publish N messages of 128 B into an R1 file stream
// (natsbench, window 256), then report RSS at the end of publishing and after 5 s idle; stop the server and
// start it again on the same store: time to the first accepted connection, time until the stream answers
// $JS.API.STREAM.INFO, and RSS once it does.
// Usage: node bench/store_footprint.mjs <nats-server|bun|deno> [messages=1500000]
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const which = process.argv[2] ?? "bun";
const N = Number(process.argv[3] ?? 1_500_000);
const port = 14651;
const natsbench = "/work/shared/bench/bin/natsbench";
const dir = mkdtempSync(join(tmpdir(), "petrel-store-"));
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
    }, 250);
    s.on("data", (d) => {
      buf += d;
      if (buf.includes("\"state\"")) {
        clearTimeout(t);
        s.destroy();
        resolve(true);
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

try {
  const a = await start();
  const r = spawnSync(natsbench, [
    "js", "--url", `nats://127.0.0.1:${port}`, "-s", "128", "-n", String(N), "--async", "256", "--keep-stream",
  ], { encoding: "utf8" });
  const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
  const res = line ? JSON.parse(line.slice(7)) : {};
  const rate = res.msgs_s ?? "?";
  const endRss = rssOfTree(a.p.pid);
  await sleep(5000);
  const idleRss = rssOfTree(a.p.pid);
  await stop(a.p);
  const b = await start();
  while (!(await streamInfo())) await sleep(2);
  const ready = performance.now() - b.t0;
  await sleep(200);
  const restartRss = rssOfTree(b.p.pid);
  await stop(b.p);
  console.log(
    `| ${which} | ${N} | ${typeof rate === "number" ? Math.round(rate) : rate} | ${mb(endRss)} | ${mb(idleRss)} | ` +
      `${b.accept.toFixed(0)} ms | ${ready.toFixed(0)} ms | ${mb(restartRss)} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
