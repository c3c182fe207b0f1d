// Where memory goes under async JetStream publish: an in-process Petrel (R1 file stream) takes natsbench's
// async publish (128 B, window 256) for N seconds while this samples RSS and heap once a second; at the end
// of publishing, the live heap after a full GC and (Bun) the most numerous live object types.
// Usage: bun bench/js_heap.ts [seconds=10] | deno run -A bench/js_heap.ts [seconds=10]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPetrel } from "../mod.ts";

const secs = Number(process.argv[2] ?? 10);
const port = 14731;
const dir = mkdtempSync(join(tmpdir(), "petrel-jsheap-"));
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const gc = () => {
  if (bun) bun.gc(true);
  else (globalThis as { gc?: () => void }).gc?.();
};
const sample = (label: string) => {
  const u = process.memoryUsage();
  console.log(`${label}: rss ${mb(u.rss)} heap used ${mb(u.heapUsed)} / total ${mb(u.heapTotal)} external ${mb(u.external)} arrayBuffers ${mb(u.arrayBuffers)}`);
};
const petrel = await startPetrel({ args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir] });
try {
  sample("idle");
  const nb = spawn("/work/shared/bench/bin/natsbench", [
    "js", "--url", `nats://127.0.0.1:${port}`, "-s", "128", "--async", "256", "--duration", String(secs), "--keep-stream",
  ], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  nb.stdout.on("data", (d) => (out += d));
  const done = new Promise((r) => nb.once("exit", r));
  let t = 0;
  const iv = setInterval(() => sample(`t=${++t}s`), 1000);
  await done;
  clearInterval(iv);
  const res = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (res) console.log(`msgs/s ${Math.round(JSON.parse(res.slice(7)).msgs_s)}`);
  sample("end of publishing");
  gc();
  sample("after full GC");
  if (bun) {
    const jsc = await import("bun:jsc");
    const counts = Object.entries(jsc.heapStats().objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log("live objects:", counts.map(([k, v]) => `${k} ${v}`).join(", "));
  }
} finally {
  await petrel.stop();
  rmSync(dir, { recursive: true, force: true });
}
