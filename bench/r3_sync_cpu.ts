// Server CPU per replicated JetStream publish, free of the scheduler: three Petrel nodes of a JetStream cluster
// in one process (one thread, so their CPU is one figure, process.cpuUsage()), driven by natsbench (a C process,
// not counted) with sync publishes of 128 B to an R3 file stream through its leader. On the loaded 2-core host the
// msgs/s of separate server processes follows the CPU share the scheduler gives them; this counts the work.
// ROOT is the checkout to run (a detached worktree of an older commit for an A/B; each run imports its mod.ts).
// Usage: bun bench/r3_sync_cpu.ts ROOT [N=15000] [rounds=3] [sync|async]
//        (Deno: copy into ROOT and run it from there, so ROOT's deno.json resolves the npm imports)
// Env: NATSBENCH (default /work/shared/bench/bin/natsbench), PORT_BASE (default 16150; uses base..base+12).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

interface Stoppable {
  stop(): Promise<void>;
}
type Start = (o: { args: string[] }) => Promise<Stoppable>;

const root = process.argv[2];
if (root === undefined) throw new Error("usage: r3_sync_cpu.ts ROOT [N] [rounds] [sync|async]");
const n = Number(process.argv[3] ?? 15000);
const rounds = Number(process.argv[4] ?? 3);
const mode = process.argv[5] ?? "sync";
const base = Number(process.env.PORT_BASE ?? 16150);
const natsbench = process.env.NATSBENCH ?? "/work/shared/bench/bin/natsbench";
const { startPetrel } = (await import(join(root, "mod.ts"))) as { startPetrel: Start };

const dir = mkdtempSync(join(tmpdir(), "r3-sync-cpu-"));
const servers: Stoppable[] = [];
const routes = [0, 1, 2].map((i) => `nats-route://127.0.0.1:${base + 10 + i}`).join(",");
for (const i of [0, 1, 2]) {
  servers.push(
    await startPetrel({
      args: ["-a", "127.0.0.1", "-p", String(base + i), "-js", "-sd", join(dir, `n${i}`), "--cluster_name", "r3cpu",
        "--cluster", `nats://127.0.0.1:${base + 10 + i}`, "--routes", routes, "-n", `n${i}`],
    }),
  );
}
await new Promise((r) => setTimeout(r, 3000)); // routes and the meta group up (natsbench retries besides)
const urls = [0, 1, 2].map((i) => `nats://127.0.0.1:${base + i}`).join(",");

const load = (count: number, stream: string) =>
  new Promise<string>((resolve) => {
    const args = ["js", "-s", "128", "--replicas", "3", "--url", `nats://127.0.0.1:${base}`, "--cluster-urls", urls,
      "--stream", stream, "--subj", `r3cpu.${stream}`, ...(mode === "async" ? ["--async", "256", "--duration", "3"] : ["-n", String(count)])];
    const nb = spawn(natsbench, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    nb.stdout.on("data", (d) => (out += d));
    nb.stderr.on("data", (d) => (out += d));
    nb.once("exit", () => resolve(out));
  });

try {
  await load(2000, "WARM");
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const out = await load(n, `S${r}`);
    const c = process.cpuUsage(c0);
    const line = out.trim().split("\n").filter((l) => l.startsWith("RESULT")).pop() ?? "";
    const field = (k: string) => new RegExp(`"${k}":([0-9.]+)`).exec(line)?.[1];
    const stored = Number(field("stored") ?? n);
    // Includes the stream's creation (the same for every build): compare builds, not absolute figures.
    console.log(`${root} round ${r + 1}: ${((c.user + c.system) / stored).toFixed(1)} us CPU/msg, msgs/s ${field("msgs_s")}, ` +
      `p50 ${field("p50_us")} us, stored ${stored}${line === "" ? ` (natsbench: ${out.slice(-200)})` : ""}`);
  }
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
