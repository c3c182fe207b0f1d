// Heap allocated per message on the two tail-latency paths (issue 14 item 6): what each young-generation GC has to
// walk, and so how often one lands inside a publish. In-process Petrel, external load from natsbench (a C process,
// so its allocations are not counted):
//   js: one server with JetStream, `natsbench js -s 128` sync publishes to an R1 file stream (js-r1-sync);
//   jsa: the same with `--async 256` (at most 256 publishes in flight, as js-r1-async; N messages, not a duration);
//   req: the same server without JetStream, `natsbench req -s 16` (reqrep);
//   rr: three routed servers, `natsbench req -s 16` request at the first, reply at the third (cluster-reqrep),
//       the three servers' allocations summed.
// Each measured run of N messages is paired with a run of 1 message (stream lookup, connections, warm-up of the
// client) and the difference is divided by N-1. Deno: V8's total_allocated_bytes (exact). Bun: the cells JSC
// holds after the run (everything allocated since the forced full GC before it, unless an eden GC came between:
// keep N small) by type, and the heap size.
// SITES=1 on Deno: V8's sampling heap profiler (through node:inspector, young-generation garbage included) over
// the measured runs, the allocating functions and stacks by bytes. SITES=old: only what no scavenge collected
// (two forced before the profile is read): objects promoted, and allocations V8 made in the old generation itself
// (a long-lived Set's or Map's rebuilt table: BufferPool, bench/RESULTS.md `denojs`), which grow old space until
// a full collection.
// Usage: bun bench/alloc_per_msg.ts js|jsa|req|rr [N=400] [rounds=3]
//        deno run -A --v8-flags=--expose-gc bench/alloc_per_msg.ts js|jsa|req|rr [N=400] [rounds=3]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import v8 from "node:v8";
import { startPetrel } from "../mod.ts";

const mode = process.argv[2] ?? "js";
const n = Number(process.argv[3] ?? 400);
const rounds = Number(process.argv[4] ?? 3);
const base = Number(process.env.PORT_BASE ?? 17380);
const natsbench = process.env.NATSBENCH ?? "/work/shared/bench/bin/natsbench";
const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const jsc = bun ? await import("bun:jsc") : undefined;
const gc = () => {
  if (bun) bun.gc(true);
  else (globalThis as { gc?: () => void }).gc?.();
};

const dir = mkdtempSync(join(tmpdir(), "petrel-alloc-"));
const servers = [];
if (mode === "js" || mode === "jsa" || mode === "req") {
  servers.push(await startPetrel({ args: ["-a", "127.0.0.1", "-p", String(base), "-js", "-sd", dir] }));
} else {
  const routes = [0, 1, 2].map((i) => `nats-route://127.0.0.1:${base + 10 + i}`).join(",");
  for (const i of [0, 1, 2]) {
    servers.push(await startPetrel({
      args: ["-a", "127.0.0.1", "-p", String(base + i), "--cluster_name", "alloc", "--cluster", `nats://127.0.0.1:${base + 10 + i}`,
        "--routes", routes, "-n", `n${i}`],
    }));
  }
  await new Promise((r) => setTimeout(r, 1500)); // routes up
}

const load = (count: number, warmup: number) =>
  new Promise<string>((resolve) => {
    const args = mode === "js" || mode === "jsa"
      ? ["js", "-s", "128", "--replicas", "1", "-n", String(count), "--warmup", String(warmup), "--keep-stream", "--url", `nats://127.0.0.1:${base}`,
        ...(mode === "jsa" ? ["--async", "256"] : [])]
      : ["req", "-s", "16", "-n", String(count), "--warmup", String(warmup), "--url", `nats://127.0.0.1:${base}`, "--sub-url", `nats://127.0.0.1:${mode === "rr" ? base + 2 : base}`];
    const nb = spawn(natsbench, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    nb.stdout.on("data", (d) => (out += d));
    nb.once("exit", () => resolve(out));
  });

type Snap = { bytes: number; types: Record<string, number> };
const snap = (): Snap => {
  if (jsc) {
    const s = jsc.heapStats();
    // Cells, and what JSC was told of outside them (typed array storage, strings' characters): both count
    // toward the next eden collection.
    return { bytes: s.heapSize + s.extraMemorySize, types: s.objectTypeCounts };
  }
  return { bytes: (v8.getHeapStatistics() as { total_allocated_bytes?: number }).total_allocated_bytes ?? 0, types: {} };
};
type Frame = { functionName: string; url: string; lineNumber: number };
type ProfNode = { callFrame: Frame; selfSize: number; children: ProfNode[] };
const sites = new Map<string, number>();
let session: { post(m: string, p: object, cb: (e: unknown, r: { profile?: { head: ProfNode } }) => void): void } | undefined;
const oldOnly = process.env.SITES === "old";
if (!jsc && (process.env.SITES === "1" || oldOnly)) {
  const { Session } = await import("node:inspector");
  const s = new Session();
  s.connect();
  session = s as unknown as typeof session;
}
const post = (m: string, p: object = {}) =>
  new Promise<{ profile?: { head: ProfNode } }>((res, rej) => session!.post(m, p, (e, r) => (e ? rej(e) : res(r))));
const frameName = (f: Frame) => `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
const collectSites = (node: ProfNode, stack: string[]) => {
  const st = [...stack, frameName(node.callFrame)];
  if (node.selfSize > 0) {
    const key = st.slice(-4).reverse().join(" <- ");
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
  }
  for (const c of node.children) collectSites(c, st);
};
const measure = async (count: number): Promise<Snap> => {
  gc();
  const a = snap();
  await load(count, 0);
  const b = snap();
  const types: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.types)) types[k] = v - (a.types[k] ?? 0);
  return { bytes: b.bytes - a.bytes, types };
};

try {
  await load(3000, 200); // JIT warm-up, stream created
  for (let r = 0; r < rounds; r++) {
    const one = await measure(1);
    if (session) await post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMinorGC: !oldOnly, includeObjectsCollectedByMajorGC: true });
    if (process.env.MARK === "1") console.error("MEASURE START");
    const many = await measure(n);
    if (process.env.MARK === "1") console.error("MEASURE END");
    if (session && oldOnly) for (let k = 0; k < 2; k++) (globalThis as { gc?: (o: { type: string }) => void }).gc?.({ type: "minor" });
    if (session) collectSites((await post("HeapProfiler.stopSampling")).profile!.head, []);
    const per = (x: number, y: number) => (x - y) / (n - 1);
    const cells = Object.entries(many.types).map(([k, v]) => [k, per(v, one.types[k] ?? 0)] as const)
      .filter(([, v]) => v >= 0.05).sort((x, y) => y[1] - x[1]);
    const total = cells.reduce((s, [, v]) => s + v, 0);
    console.log(`${mode} round ${r + 1}: ${per(many.bytes, one.bytes).toFixed(0)} B/msg` +
      (jsc ? `, ${total.toFixed(1)} cells/msg: ${cells.slice(0, 14).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}` : ""));
  }
  if (sites.size > 0) {
    const total = [...sites.values()].reduce((a, b) => a + b, 0);
    for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
      console.log(`${(v / (n * rounds)).toFixed(oldOnly ? 2 : 0).padStart(5)} B/msg ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  }
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
