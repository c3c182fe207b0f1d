#!/usr/bin/env node
// Time from process start to the first accepted TCP connection, and idle RSS one second later, for
// nats-server and Petrel on Bun and Deno. Usage: node bench/startup.mjs [rounds]
import { spawn } from "node:child_process";
import { rssOfTree, serverCommand, sleep, tryConnect } from "./server_proc.mjs";

const rounds = Number(process.argv[2] ?? 5);
const port = 14600;
const args = ["-a", "127.0.0.1", "-p", String(port)];
const targets = [
  ["nats-server", serverCommand("nats-server", args)],
  ["petrel (bun)", serverCommand("bun", args)],
  ["petrel (deno)", serverCommand("deno", args)],
];

for (const [name, cmd] of targets) {
  const times = [];
  const rss = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const p = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
    while (!(await tryConnect(port))) await sleep(2);
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
