#!/usr/bin/env node
// Start-up on an existing store (built once: natsbench into nats-server, or bench/store_fill.ts for Petrel):
// time to the first accepted connection, time until stream BENCH answers $JS.API.STREAM.INFO (with its
// message count), RSS then and after 3 s idle. The store is kept.
// Usage: node bench/store_restart.mjs <nats-server|bun|deno> DIR [rounds=1]
import { serverCommand, mb, rssOfTree, sleep, startServer, stopServer, streamInfo } from "./server_proc.mjs";

const which = process.argv[2] ?? "bun";
const dir = process.argv[3];
const rounds = Number(process.argv[4] ?? 1);
if (!dir) throw new Error("usage: node bench/store_restart.mjs <nats-server|bun|deno> DIR [rounds]");
const port = Number(process.env.PORT ?? 14652);
const cmd = serverCommand(which, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir]);

for (let r = 0; r < rounds; r++) {
  const b = await startServer(cmd, port);
  let msgs;
  while ((msgs = await streamInfo(port, "BENCH", 25)) === false) await sleep(2);
  const ready = performance.now() - b.t0;
  await sleep(200);
  const rss = rssOfTree(b.p.pid);
  await sleep(3000);
  const idle = rssOfTree(b.p.pid);
  await stopServer(b.p);
  console.log(`| ${which} | ${msgs} | ${b.accept.toFixed(0)} ms | ${ready.toFixed(0)} ms | ${mb(rss)} | ${mb(idle)} |`);
}
