/**
 * The JIT's background compiler threads at the lowest CPU priority, so they never take the event loop's core.
 *
 * Why: on a small host (2 cores) the compiler threads (JavaScriptCore's `JITWorker` on Bun; V8's `DefaultWorker`
 * pool on Deno, which also does the GC's concurrent marking) wake while the event loop is busy and, at the same
 * priority, hold its core for a whole scheduler slice. A sync JetStream publish or a request then waits 2–4 ms for
 * nothing of ours (`perf sched timehist`: the event-loop thread runnable, a JITWorker running on its core). That is
 * most of js-r1-sync's p99.9 on Bun. At nice 19 they compile on what the event loop leaves over.
 *
 * Linux only, and best effort: no /proc, no libc or no FFI permission leaves every priority as it is (a speed hint,
 * not a setting anyone relies on). JavaScriptCore ends compiler threads idle for a while and starts new ones (at
 * the event loop's priority) when work comes, so new threads are looked for every `SWEEP_MS`.
 * `PETREL_JIT_NICE` sets the nice value (0 leaves the threads alone).
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import type { RuntimeName } from "../../src/runtime/types.ts";

/** Sets one thread's nice value; false when the call failed. */
export type SetNice = (tid: number, nice: number) => boolean;

/** Thread names (as /proc shows them, 15 characters at most) of the runtimes' compiler threads. */
const COMPILER_THREADS = ["JITWorker", "V8 DefaultWorke"];
export const SWEEP_MS = 1000;
export const DEFAULT_NICE = 19;

export function isCompilerThread(comm: string): boolean {
  for (const name of COMPILER_THREADS) if (comm.startsWith(name)) return true;
  return false;
}

/**
 * One look at this process's threads: every compiler thread not in `known` gets `nice`. Returns the thread ids
 * present now (the next sweep's `known`, so exited threads are forgotten).
 */
export function sweep(known: ReadonlySet<number>, nice: number, setNice: SetNice, taskDir = "/proc/self/task"): Set<number> {
  const now = new Set<number>();
  for (const name of readdirSync(taskDir)) {
    const tid = Number(name);
    now.add(tid);
    if (known.has(tid)) continue;
    let comm: string;
    try {
      comm = readFileSync(`${taskDir}/${name}/comm`, "utf8").trim();
    } catch {
      continue; // the thread ended meanwhile
    }
    if (isCompilerThread(comm)) setNice(tid, nice);
  }
  return now;
}

/** libc's setpriority through the runtime's FFI; undefined where there is none to be had. */
async function loadSetNice(runtime: RuntimeName): Promise<SetNice | undefined> {
  try {
    const mod: { openSetNice: () => SetNice } = runtime === "bun"
      ? await import("./libc_bun.ts")
      : await import("./libc_deno.ts");
    return mod.openSetNice();
  } catch {
    return undefined;
  }
}

/** The nice value asked for by PETREL_JIT_NICE (default 19); undefined = leave the threads alone. */
export function niceFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return DEFAULT_NICE;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 19) return DEFAULT_NICE;
  return n === 0 ? undefined : n;
}

/**
 * Starts lowering this process's compiler threads; returns a stop function (a no-op where nothing was started).
 */
export async function lowerCompilerThreads(runtime: RuntimeName, env: string | undefined): Promise<() => void> {
  const nice = niceFromEnv(env);
  if (nice === undefined || process.platform !== "linux") return () => {};
  const setNice = await loadSetNice(runtime);
  if (setNice === undefined) return () => {};
  let known = new Set<number>();
  const run = (): boolean => {
    try {
      known = sweep(known, nice, setNice);
      return true;
    } catch {
      return false; // no /proc/self/task (or no read permission): nothing to do
    }
  };
  if (!run()) return () => {};
  const timer = setInterval(run, SWEEP_MS);
  (timer as unknown as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
