/**
 * A diagnostic for tail latency (issue 14 item 6): what the server's event loop was doing when a message waited.
 *
 * Off unless `PETREL_STALL_LOG=<file>` is set (mod.ts imports this module only then; nothing of it is on a path a
 * message takes). It is a heartbeat: a 1 ms interval timer whose late firings are the stalls, each one with
 * - the event-loop thread's CPU and run-queue wait across it (/proc/thread-self/schedstat): running (our code,
 *   a collection, a compile's finalize on the loop) or runnable but preempted (another thread held the core); the
 *   kernel brings these up to date at its ticks and context switches, so they are exact to a few ms, not better;
 * - whether a collection ran (a `WeakRef` to a fresh object per tick, found empty);
 * - the CPU the JIT's compiler threads (JITWorker, V8 DefaultWorker) used since a read at most a few ticks before it;
 * - the timer callbacks that ran inside it and held the loop 0.1 ms or more (wall time less preemption; global
 *   setTimeout/setInterval and the light timers: housekeeping, heartbeats, the compiler-thread sweep), by name or source.
 * The record is written as JSON when the server stops (`stop()`): wall-clock times (performance.timeOrigin + now,
 * ms) so that a client's latency dump can be matched to it (bench/first_use.mjs `--stalls`).
 *
 * The heartbeat wakes the loop 1,000 times a second and reads /proc on each tick (~10-20 µs): it changes what it
 * watches a little (more turns, a few more allocations), which is why it is a diagnostic and never on by default.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { wrapLightTimers } from "../../src/runtime/light_timers.ts";

/** A late heartbeat: `at` (wall ms) is the tick before it, `gap` the time to the late one. */
interface Stall {
  at: number;
  gap: number;
  /** Event-loop thread CPU / run-queue wait across the gap, ms. */
  run: number;
  wait: number;
  /** A collection ran in the gap. */
  gc: boolean;
  /** Compiler threads' CPU (ms) since `compSince` (wall ms, at most COMPILER_EVERY ticks before `at`). */
  comp: number;
  compSince: number;
  /** Timer callbacks that ran in the gap: name and duration (ms). */
  timers: string[];
}

/** What the record holds so far. */
export interface StallRecord {
  pid: number;
  /** performance.timeOrigin (wall ms): the runtimes' own traces count from about there. */
  origin: number;
  tickMs: number;
  stalls: Stall[];
  /** Wall ms of the ticks that found a collection had run. */
  gcs: number[];
  /** `<wall ms> <name> <ms>` of every timer callback that used TIMER_REPORT_MS or more. */
  slowTimers: string[];
}

export interface StallRecorder {
  snapshot(): StallRecord;
  /** Stops the heartbeat, restores the timers and writes the record. */
  stop(): void;
}

const TICK_MS = 1;
/** A heartbeat this much later than its period is a stall. */
const LATE_MS = 0.5;
/** Compiler threads are read every this many ticks (and at every stall). */
const COMPILER_EVERY = 4;
const TIMER_REPORT_MS = 0.1;
const COMPILER_THREADS = ["JITWorker", "V8 DefaultWorke"];

type Fn = (...args: unknown[]) => void;

function schedstat(path: string): [number, number] {
  const t = readFileSync(path, "latin1");
  const a = t.indexOf(" ");
  const b = t.indexOf(" ", a + 1);
  return [Number(t.slice(0, a)) / 1e6, Number(t.slice(a + 1, b)) / 1e6];
}

/** Where a timer callback comes from: its name, else the start of its source. */
function nameOf(fn: Fn): string {
  if (fn.name !== "" && fn.name !== "tick") return fn.name;
  return String(fn).replace(/\s+/g, " ").slice(0, 60);
}

export function startStallRecorder(file: string, pid: number): StallRecorder {
  // The calling thread: the one that runs the event loop (on Deno not always the process's first thread).
  const mainStat = "/proc/thread-self/schedstat";
  const origin = performance.timeOrigin;
  const stalls: Stall[] = [];
  const gcs: number[] = [];
  const slowTimers: string[] = [];
  let pendingTimers: string[] = [];
  let ticks = 0;

  // A callback's time on the loop's thread: its wall time less the run-queue wait that grew meanwhile (it was
  // preempted). Not schedstat's CPU figure: the kernel updates that only at ticks and switches, so a read inside
  // one running slice is stale, while the wait is brought up to date when the thread is switched back in.
  const timed = (fn: Fn): Fn => {
    return function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      const w0 = schedstat(mainStat)[1];
      try {
        fn.apply(this, args);
      } finally {
        const d = performance.now() - t0 - (schedstat(mainStat)[1] - w0);
        if (d >= TIMER_REPORT_MS) {
          const s = `${nameOf(fn)} ${d.toFixed(2)}ms`;
          pendingTimers.push(s);
          if (slowTimers.length < 10000) slowTimers.push(`${(origin + t0).toFixed(2)} ${s}`);
        }
      }
    };
  };
  const g = globalThis as unknown as Record<string, unknown>;
  const realSetTimeout = g.setTimeout as (fn: Fn, ms?: number, ...a: unknown[]) => unknown;
  const realSetInterval = g.setInterval as (fn: Fn, ms?: number, ...a: unknown[]) => unknown;
  g.setTimeout = (fn: Fn, ms?: number, ...a: unknown[]) => realSetTimeout(typeof fn === "function" ? timed(fn) : fn, ms, ...a);
  g.setInterval = (fn: Fn, ms?: number, ...a: unknown[]) => realSetInterval(typeof fn === "function" ? timed(fn) : fn, ms, ...a);
  // The light timers (housekeeping, heartbeats, lingering closes), each one by its own function.
  wrapLightTimers((fn) => timed(fn as Fn));

  const compilerTids = new Map<string, boolean>();
  const compilerCpu = (): number => {
    let sum = 0;
    for (const tid of readdirSync("/proc/self/task")) {
      let is = compilerTids.get(tid);
      try {
        if (is === undefined) {
          const comm = readFileSync(`/proc/self/task/${tid}/comm`, "latin1").trim();
          is = COMPILER_THREADS.some((n) => comm.startsWith(n));
          compilerTids.set(tid, is);
        }
        if (is) sum += schedstat(`/proc/self/task/${tid}/schedstat`)[0];
      } catch { /* the thread ended */ }
    }
    return sum;
  };

  let last = performance.now();
  let [lastRun, lastWait] = schedstat(mainStat);
  let comp = compilerCpu();
  let compAt = last;
  let sentinel = new WeakRef({});
  function tick(): void {
    const now = performance.now();
    const [run, wait] = schedstat(mainStat);
    const gc = sentinel.deref() === undefined;
    sentinel = new WeakRef({});
    if (gc) gcs.push(origin + now);
    const gap = now - last;
    const late = gap > TICK_MS + LATE_MS;
    if (late || ++ticks % COMPILER_EVERY === 0) {
      const c = compilerCpu();
      if (late) {
        stalls.push({
          at: origin + last,
          gap,
          run: run - lastRun,
          wait: wait - lastWait,
          gc,
          comp: c - comp,
          compSince: origin + compAt,
          timers: pendingTimers,
        });
      }
      comp = c;
      compAt = now;
    }
    pendingTimers = [];
    last = now;
    lastRun = run;
    lastWait = wait;
  }
  const interval = realSetInterval(tick, TICK_MS) as { unref?: () => void };
  interval.unref?.();

  const snapshot = (): StallRecord => ({ pid, origin, tickMs: TICK_MS, stalls, gcs, slowTimers });
  return {
    snapshot,
    stop() {
      (g.clearInterval as (t: unknown) => void)(interval);
      g.setTimeout = realSetTimeout;
      g.setInterval = realSetInterval;
      wrapLightTimers(undefined);
      writeFileSync(file, JSON.stringify(snapshot()));
    },
  };
}
