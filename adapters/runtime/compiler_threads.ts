/**
 * The JIT's background compiler threads at the lowest CPU priority, so they never take the event loop's core.
 *
 * Why: on a small host (2 cores) the compiler threads (JavaScriptCore's `JITWorker` on Bun; V8's `DefaultWorker`
 * pool on Deno, which also does the GC's concurrent marking) wake while the event loop is busy and, at the same
 * priority, hold its core for a whole scheduler slice. A sync JetStream publish or a request then waits 2-4 ms for
 * nothing of ours (`perf sched timehist`: the event-loop thread runnable, a JITWorker running on its core). That is
 * most of js-r1-sync's p99.9 on Bun. At nice 19 they compile on what the event loop leaves over.
 *
 * Linux only, and best effort: no /proc, no libc or no FFI permission leaves every priority as it is (a speed hint,
 * not a setting anyone relies on). JavaScriptCore ends compiler threads idle for a while and starts new ones (at
 * the event loop's priority) when work comes, so new threads are looked for every `SWEEP_MS`.
 * On by default on Bun only. V8's worker pool is not only the compiler: the GC's parallel phases run there too and
 * the event loop waits for them, so on a saturated host a starved worker stretches a pause (js-r1-sync on Deno at
 * load 20, 5 interleaved runs each: 479 stalls >= 2 ms with nice 19 against 325 without), while `perf sched` saw
 * V8's workers take the event loop's core only twice per 20k publishes. `PETREL_JIT_NICE` sets the nice value on
 * either runtime (0 leaves the threads alone).
 *
 * No `node:` module here: mod.ts imports this statically and a plain start must not pay for node:fs (see
 * test/footprint/static_graph.test.ts); /proc is read through each runtime's own API (libc_bun.ts, libc_deno.ts).
 *
 * Started when load appears, not at start-up: the FFI, the /proc reads and the timer were +2.4 MB RSS on Bun
 * (bun:ffi's compiler, Bun.Glob, Bun.file's reads: code that then stays resident; the reads now go through the
 * FFI's libc as well, see libc_bun.ts), which an idle server does not need: with nothing to compile the compiler threads take no core. Where the runtime tells its CPU time, a
 * check every `LOAD_CHECK_MS` (a counter compare, no /proc) starts the sweep at the first check that finds the
 * process used `BUSY_CPU_MS` of CPU since the one before (10 %; the first 100 ms after start are start-up's own
 * tail, measured from but not judged); it then stays on. Short, so that the first
 * burst of JIT compiles of a load (its first few hundred ms) already finds the sweep running. While idle the
 * checks slow down (up to `LOAD_CHECK_MAX_MS`) and a new connection brings them back (`onActivity`): a load that
 * starts on connections already open for a long idle while finds the sweep up to that much later.
 */
import type { RuntimeName } from "../../src/runtime/types.ts";

/** Sets one thread's nice value; false when the call failed. */
export type SetNice = (tid: number, nice: number) => boolean;

/** A process's threads as /proc shows them: ids (directory names) and each one's name. */
export interface TaskDir {
  /** Throws where there is no such directory (not Linux, no /proc). */
  list(): string[];
  /** The thread's name (`comm`), undefined when it ended meanwhile. */
  comm(tid: string): Promise<string | undefined>;
}

/** What a runtime offers for the sweep: its /proc reader and libc's setpriority. */
export interface ThreadOs {
  tasks(dir: string): TaskDir;
  setNice: SetNice;
}

/** Thread names (as /proc shows them, 15 characters at most) of the runtimes' compiler threads. */
const COMPILER_THREADS = ["JITWorker", "V8 DefaultWorke"];
export const SWEEP_MS = 1000;
/** Thread names read in one turn of the event loop before the sweep yields (see sweep). */
export const SWEEP_READS_PER_TURN = 8;
export const DEFAULT_NICE = 19;
/** How often an idle process looks at its CPU time, and how much of it since the last look counts as load. */
export const LOAD_CHECK_MS = 100;
/** The longest interval the checks slow down to while nothing happens. */
export const LOAD_CHECK_MAX_MS = 6400;
export const BUSY_CPU_MS = 10;

export function isCompilerThread(comm: string): boolean {
  for (const name of COMPILER_THREADS) if (comm.startsWith(name)) return true;
  return false;
}

/**
 * One look at this process's threads: every compiler thread not in `known` gets `nice`. Returns the thread ids
 * present now (the next sweep's `known`, so exited threads are forgotten).
 */
export async function sweep(known: ReadonlySet<number>, nice: number, setNice: SetNice, tasks: TaskDir): Promise<Set<number>> {
  const now = new Set<number>();
  let read = 0;
  for (const name of tasks.list()) {
    const tid = Number(name);
    now.add(tid);
    if (known.has(tid)) continue;
    // The first sweep reads every thread's name (30-40 under load; Bun's reader is synchronous, ~50 us each):
    // the event loop gets a turn between groups of them instead of being held ~1.5 ms in one (a p99.9 sample).
    if (++read % SWEEP_READS_PER_TURN === 0) await new Promise((r) => setTimeout(r, 0));
    const comm = await tasks.comm(name);
    if (comm !== undefined && isCompilerThread(comm.trim())) setNice(tid, nice);
  }
  return now;
}

/** The runtime's /proc reader and libc's setpriority through its FFI; undefined where there is none to be had. */
async function loadThreadOs(runtime: RuntimeName): Promise<ThreadOs | undefined> {
  try {
    const mod: { openThreadOs: () => ThreadOs } = runtime === "bun"
      ? await import("./libc_bun.ts")
      : await import("./libc_deno.ts");
    return mod.openThreadOs();
  } catch {
    return undefined;
  }
}

/**
 * The nice value asked for by PETREL_JIT_NICE, else the runtime's default (19 on Bun, none on Deno);
 * undefined = leave the threads alone.
 */
export function niceFromEnv(value: string | undefined, runtime: RuntimeName): number | undefined {
  const fallback = runtime === "bun" ? DEFAULT_NICE : undefined;
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 19) return fallback;
  return n === 0 ? undefined : n;
}

/** Repeats `fn` every `ms` (unref'd: it never keeps the process alive); returns the cancel function. */
const everyTimer = (ms: number, fn: () => void): () => void => {
  const timer = setInterval(fn, ms);
  (timer as unknown as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
};

/** Calls `fn` once after `ms` (unref'd: it never keeps the process alive); returns the cancel function. */
export type After = (ms: number, fn: () => void) => () => void;

const afterTimer: After = (ms, fn) => {
  const timer = setTimeout(fn, ms);
  (timer as unknown as { unref?: () => void }).unref?.();
  return () => clearTimeout(timer);
};

/** The load check's handle: `nudge` when something arrives (a connection) so that checks come often again. */
export interface BusyWatch {
  cancel(): void;
  nudge(): void;
}

/**
 * Calls `start` once, at the first check that finds `cpuMs` grew by `BUSY_CPU_MS` per `LOAD_CHECK_MS` or more
 * (10 %) since the check before. While the checks find the process idle they come at twice the interval each
 * time, up to `LOAD_CHECK_MAX_MS`; a nudge brings them back to `LOAD_CHECK_MS`.
 * Why: a check every 100 ms for ever gets its own code compiled by Bun's baseline JIT within ~3.5 s (~34 calls),
 * and the JIT's code then stays resident (+1 MB on an idle server that had not compiled anything else).
 * The first `LOAD_CHECK_MS` is not judged, only measured from: it is start-up's own tail, not load. On Bun the
 * runtime's first full collection runs right after the listener is ready, 5-12 ms of CPU in those 100 ms on a
 * loaded 2-core host (then 5-7 ms in the next 200 ms, under 1 % after), and counting it as load started the sweep
 * (FFI, Bun.Glob, /proc reads: +1.5 MB of resident runtime code) on an idle server in most starts under load.
 */
export function whenBusy(cpuMs: () => number, start: () => void, after: After = afterTimer, clock: () => number = () => performance.now()): BusyWatch {
  let lastCpu = 0;
  let lastAt = 0;
  let settled = false;
  let period = LOAD_CHECK_MS;
  let done = false;
  let cancelTimer: (() => void) | undefined;
  const check = () => {
    cancelTimer = undefined;
    if (done) return;
    const cpu = cpuMs();
    const at = clock();
    const busy = settled && (cpu - lastCpu) * LOAD_CHECK_MS >= BUSY_CPU_MS * Math.max(at - lastAt, LOAD_CHECK_MS);
    settled = true;
    lastCpu = cpu;
    lastAt = at;
    if (busy) {
      done = true;
      start();
      return;
    }
    period = Math.min(period * 2, LOAD_CHECK_MAX_MS);
    cancelTimer = after(period, check);
  };
  cancelTimer = after(period, check);
  return {
    cancel() {
      done = true;
      cancelTimer?.();
      cancelTimer = undefined;
    },
    nudge() {
      if (done || period === LOAD_CHECK_MS) return;
      cancelTimer?.();
      period = LOAD_CHECK_MS;
      cancelTimer = after(period, check);
    },
  };
}

/**
 * Starts lowering this process's compiler threads: at once, or when `cpuMs` (the process's CPU time) shows load.
 * `onActivity` is given the nudge to call when something arrives (mod.ts: each new client connection).
 * Returns a stop function (a no-op where nothing was started).
 */
export async function lowerCompilerThreads(
  runtime: RuntimeName,
  env: string | undefined,
  cpuMs?: () => number,
  onActivity?: (nudge: () => void) => void,
): Promise<() => void> {
  const nice = niceFromEnv(env, runtime);
  if (nice === undefined) return () => {};
  if (cpuMs === undefined) return await startSweep(runtime, nice);
  let stopped = false;
  let stopSweep = () => {};
  const watch = whenBusy(cpuMs, () => {
    void startSweep(runtime, nice).then((stop) => {
      if (stopped) stop();
      else stopSweep = stop;
    });
  });
  onActivity?.(() => watch.nudge());
  return () => {
    stopped = true;
    watch.cancel();
    stopSweep();
  };
}

/** Loads the runtime's FFI, lowers the compiler threads now and then every `SWEEP_MS`; returns the stop function. */
async function startSweep(runtime: RuntimeName, nice: number): Promise<() => void> {
  const os = await loadThreadOs(runtime);
  if (os === undefined) return () => {};
  const tasks = os.tasks("/proc/self/task");
  let known = new Set<number>();
  let busy = false;
  const run = async (): Promise<boolean> => {
    if (busy) return true;
    busy = true;
    try {
      known = await sweep(known, nice, os.setNice, tasks);
      return true;
    } catch {
      return false; // no /proc/self/task (not Linux, or no read permission): nothing to do
    } finally {
      busy = false;
    }
  };
  if (!(await run())) return () => {};
  return everyTimer(SWEEP_MS, () => void run());
}
