#!/usr/bin/env node
// Bun's collections on the nodes of a cross-node request/reply run (issue 14 item 6: cluster-reqrep's p99.9), and
// what started them. Three CLI nodes in a full mesh with BUN_JSC_logGC=1, natsbench's `req` (request at the first
// node, responder at the third, as run.sh's cluster-reqrep) for N requests after its warm-up; per node: the eden
// and full collections after "Server is ready", how many JSC started for its allocation budget ("Requesting GC
// because bytes allocated ..."), the pauses, and the heap grown between collections (MB). The second node carries
// nothing of the load: its collections are the floor a node pays without messages (Bun's own 1 s collection timer,
// `BUN_GC_TIMER_INTERVAL`, fires an eden collection every second whatever was allocated).
//
// Usage: node bench/bun_gc_rr.mjs [--n 20000] [--port-base 16500] [--idle SECONDS] [-- <server cmd>]
//   default server command: node_modules/.bin/bun run mod.ts; the environment is passed on (BUN_GC_TIMER_INTERVAL=...).
//   --idle S: no load, S seconds of an idle cluster instead.
import { spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
const opts = dd < 0 ? argv : argv.slice(0, dd);
const opt = (name, dflt) => {
  const i = opts.indexOf(name);
  return i >= 0 ? Number(opts[i + 1]) : dflt;
};
const n = opt("--n", 20000), base = opt("--port-base", 16500), idle = opt("--idle", 0);
const cmd = dd < 0 ? ["node_modules/.bin/bun", "run", "mod.ts"] : argv.slice(dd + 1);
const natsbench = process.env.NATSBENCH ?? "/work/shared/bench/bin/natsbench";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bun-gc-rr-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const routes = [0, 1, 2].map((i) => `nats-route://127.0.0.1:${base + 10 + i}`).join(",");
const nodes = [0, 1, 2].map((i) => {
  const log = path.join(dir, `n${i}.log`);
  const out = fs.openSync(log, "w");
  const args = ["-a", "127.0.0.1", "-p", String(base + i), "--cluster_name", "gcrr", "--cluster", `nats://127.0.0.1:${base + 10 + i}`, "--routes", routes, "-n", `n${i}`];
  const child = spawn(cmd[0], [...cmd.slice(1), ...args], { stdio: ["ignore", out, out], env: { ...process.env, BUN_JSC_logGC: "1" } });
  return { log, child };
});

/** The server answers with its INFO (a Petrel holds clients until it has started). */
async function serves(port) {
  for (let k = 0; k < 200; k++) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("data", (d) => {
        resolve(d.toString().startsWith("INFO"));
        s.destroy();
      });
      s.once("error", () => resolve(false));
      s.once("close", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port}: no INFO`);
}

try {
  for (let i = 0; i < 3; i++) await serves(base + i);
  await sleep(1500); // routes up
  if (idle > 0) await sleep(idle * 1000);
  else {
    const r = spawnSync(natsbench, ["req", "-s", "16", "-n", String(n), "--warmup", "1000", "--url", `nats://127.0.0.1:${base}`, "--sub-url", `nats://127.0.0.1:${base + 2}`], { encoding: "utf8" });
    // natsbench writes its summary line to stderr.
    const line = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.split("\n").find((l) => l.includes("latency us:"));
    console.log(line?.replace(/^.*?req /, "req ") ?? `natsbench failed: ${r.stderr}`);
  }
} finally {
  for (const nd of nodes) nd.child.kill("SIGTERM");
  await Promise.all(nodes.map((nd) => new Promise((r) => (nd.child.exitCode !== null ? r() : nd.child.once("exit", r)))));
}

for (const [i, nd] of nodes.entries()) {
  let ready = false, eden = 0, full = 0, budget = 0, grown = 0, lastEnd;
  const pauses = [];
  for (const l of fs.readFileSync(nd.log, "utf8").split("\n")) {
    if (l.includes("Server is ready")) ready = true;
    if (!ready) continue;
    if (l.includes("Requesting GC because bytes allocated")) budget++;
    const start = /START M (\d+)kb => (\w+)Collection/.exec(l);
    if (start) {
      if (lastEnd !== undefined) grown += Number(start[1]) - lastEnd;
      if (start[2] === "Eden") eden++;
      else full++;
    }
    const end = /=> (\d+)kb, p=([\d.]+)ms/.exec(l);
    if (end) {
      lastEnd = Number(end[1]);
      pauses.push(Number(end[2]).toFixed(1));
    }
  }
  console.log(`n${i}: eden ${eden}, full ${full}, started by the allocation budget ${budget}, heap grown between them ${(grown / 1024).toFixed(1)} MB, pauses ms ${pauses.join(" ")}`);
}
fs.rmSync(dir, { recursive: true, force: true });
