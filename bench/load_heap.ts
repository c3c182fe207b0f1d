// Where memory goes under a core-NATS load: an in-process Petrel takes natsbench (any `natsbench pub ...`
// arguments) while this samples RSS, heap and external memory every 500 ms; at the end, the live heap after a
// full GC and (Bun) the most numerous live object types. Extra server flags after `--`.
// Usage: bun bench/load_heap.ts pub -s 16 --subs 4 --duration 5 [-- -js -sd DIR]
//        deno run -A --v8-flags=--expose-gc bench/load_heap.ts pub -s 16 --duration 5
import { spawn } from "node:child_process";
import process from "node:process";
import { startPetrel } from "../mod.ts";

const argv = process.argv.slice(2);
const cut = argv.indexOf("--");
const nbArgs = cut < 0 ? argv : argv.slice(0, cut);
const serverArgs = cut < 0 ? [] : argv.slice(cut + 1);
const port = Number(process.env.PORT ?? 16790);
const mb = (n: number) => (n / 1e6).toFixed(0).padStart(4);
const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const gc = () => {
  if (bun) bun.gc(true);
  else (globalThis as { gc?: () => void }).gc?.();
};
let peak = 0;
const sample = (label: string) => {
  const u = process.memoryUsage();
  peak = Math.max(peak, u.rss);
  console.log(`${label.padEnd(18)} rss ${mb(u.rss)} MB  heap used ${mb(u.heapUsed)} / total ${mb(u.heapTotal)}  external ${mb(u.external)}  arrayBuffers ${mb(u.arrayBuffers)}`);
};
// PACE=eden:MS or PACE=async:MS: an experiment, collect on a timer while the load runs.
const pace = process.env.PACE?.split(":");
if (bun && pace) {
  const jsc = await import("bun:jsc");
  const ms = Number(pace[1] ?? 10);
  let last = 0;
  setInterval(() => {
    const ab = process.memoryUsage.rss();
    if (pace[0] === "eden") jsc.edenGC();
    else if (pace[0] === "async") bun.gc(false);
    else if (pace[0] === "growth" && ab - last > 4e6) { jsc.edenGC(); }
    last = ab;
  }, ms).unref();
}
const petrel = await startPetrel({ args: ["-a", "127.0.0.1", "-p", String(port), ...serverArgs] });
try {
  sample("idle");
  const nb = spawn(process.env.NATSBENCH ?? "/work/shared/bench/bin/natsbench", [...nbArgs, "--url", `nats://127.0.0.1:${port}`], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  nb.stdout.on("data", (d) => (out += d));
  const done = new Promise((r) => nb.once("exit", r));
  let t = 0;
  const jscMod = bun && process.env.TYPES ? await import("bun:jsc") : undefined;
  const iv = setInterval(() => {
    sample(`t=${(++t / 2).toFixed(1)}s`);
    // Types of cells allocated since the last collection included: what the load allocates.
    if (jscMod) console.log("  cells:", Object.entries(jscMod.heapStats().objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${v}`).join(", "));
  }, 500);
  await done;
  clearInterval(iv);
  const res = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (res) {
    const r = JSON.parse(res.slice(7));
    console.log(`msgs/s ${Math.round(r.pub_msgs_s ?? r.msgs_s ?? 0)} delivered/s ${Math.round(r.delivered_msgs_s ?? r.sub_msgs_s ?? 0)}`);
  }
  sample("end");
  console.log(`peak rss ${mb(peak)} MB`);
  gc();
  sample("after full GC");
  if (bun) {
    const jsc = await import("bun:jsc");
    const counts = Object.entries(jsc.heapStats().objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 12);
    console.log("live objects:", counts.map(([k, v]) => `${k} ${v}`).join(", "));
  }
} finally {
  await petrel.stop();
}
