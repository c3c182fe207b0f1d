#!/usr/bin/env node
// Memory and restart with a large file store: async-publish N messages of 128 B into an R1 file stream
// (natsbench, window 256), then report RSS at the end of publishing and after 5 s idle; stop the server and
// start it again on the same store: time to the first accepted connection, time until the stream answers
// $JS.API.STREAM.INFO, and RSS once it does.
// Usage: node bench/store_footprint.mjs <nats-server|bun|deno> [messages=1500000]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serverCommand, mb, rssOfTree, sleep, startServer, stopServer, streamInfo } from "./server_proc.mjs";

const which = process.argv[2] ?? "bun";
const N = Number(process.argv[3] ?? 1_500_000);
const port = 14651;
const natsbench = "/work/shared/bench/bin/natsbench";
const dir = mkdtempSync(join(tmpdir(), "petrel-store-"));
const cmd = serverCommand(which, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir]);

try {
  const a = await startServer(cmd, port);
  const r = spawnSync(natsbench, [
    "js", "--url", `nats://127.0.0.1:${port}`, "-s", "128", "-n", String(N), "--async", "256", "--keep-stream",
  ], { encoding: "utf8" });
  const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
  const res = line ? JSON.parse(line.slice(7)) : {};
  const rate = res.msgs_s ?? "?";
  const endRss = rssOfTree(a.p.pid);
  await sleep(5000);
  const idleRss = rssOfTree(a.p.pid);
  await stopServer(a.p);
  const b = await startServer(cmd, port);
  while ((await streamInfo(port, "BENCH", 250)) === false) await sleep(2);
  const ready = performance.now() - b.t0;
  await sleep(200);
  const restartRss = rssOfTree(b.p.pid);
  await stopServer(b.p);
  console.log(
    `| ${which} | ${N} | ${typeof rate === "number" ? Math.round(rate) : rate} | ${mb(endRss)} | ${mb(idleRss)} | ` +
      `${b.accept.toFixed(0)} ms | ${ready.toFixed(0)} ms | ${mb(restartRss)} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
