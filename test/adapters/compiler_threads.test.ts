import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type After, BUSY_CPU_MS, isCompilerThread, LOAD_CHECK_MAX_MS, LOAD_CHECK_MS, niceFromEnv, sweep, SWEEP_READS_PER_TURN, type TaskDir, type ThreadOs, whenBusy } from "../../adapters/runtime/compiler_threads.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { connectTo } from "../helpers/nats.ts";

describe("compiler threads: which and when", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-tasks-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const thread = (tid: number, comm: string) => {
    mkdirSync(join(dir, String(tid)), { recursive: true });
    writeFileSync(join(dir, String(tid), "comm"), comm + "\n");
  };

  it("names the JIT threads of both runtimes, nothing else", () => {
    assert.ok(isCompilerThread("JITWorker"));
    assert.ok(isCompilerThread("V8 DefaultWorke"));
    for (const other of ["bun", "deno", "HeapHelper", "Collector Thread", "tokio-runtime-w", "Bun Pool 0"]) {
      assert.ok(!isCompilerThread(other), other);
    }
  });

  const tasks: TaskDir = {
    list: () => readdirSync(dir),
    comm: (tid) => Promise.resolve(readFileSync(join(dir, tid, "comm"), "utf8")),
  };
  it("lowers each new compiler thread once and forgets threads that ended", async () => {
    thread(100, "bun");
    thread(101, "JITWorker");
    thread(102, "HeapHelper");
    thread(103, "V8 DefaultWorke");
    const calls: Array<[number, number]> = [];
    const set = (tid: number, nice: number) => {
      calls.push([tid, nice]);
      return true;
    };
    let known = await sweep(new Set(), 19, set, tasks);
    assert.deepEqual(calls.sort(), [[101, 19], [103, 19]]);
    assert.deepEqual([...known].sort(), [100, 101, 102, 103]);
    calls.length = 0;
    known = await sweep(known, 19, set, tasks);
    assert.deepEqual(calls, [], "already lowered");
    // JavaScriptCore ends an idle compiler thread and starts another later.
    rmSync(join(dir, "101"), { recursive: true });
    thread(104, "JITWorker");
    known = await sweep(known, 19, set, tasks);
    assert.deepEqual(calls, [[104, 19]]);
    assert.ok(!known.has(101));
  });

  it("a first sweep over many threads gives the event loop turns while it reads their names", async () => {
    const n = SWEEP_READS_PER_TURN * 4;
    const names = Array.from({ length: n }, (_, i) => String(1000 + i));
    // Bun's reader answers at once (a resolved promise): without a yield the whole sweep is one turn.
    const instant: TaskDir = { list: () => names, comm: () => Promise.resolve("bun\n") };
    const turns: number[] = [];
    let reads = 0;
    const counting: TaskDir = { list: instant.list, comm: (tid) => (reads++, instant.comm(tid)) };
    // A timer queued before the sweep runs in the first turn the sweep gives up; it notes how far the sweep was.
    const tick = () => {
      turns.push(reads);
      if (reads < n) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const known = await sweep(new Set(), 19, () => true, counting);
    assert.equal(known.size, n);
    assert.ok(turns.length >= 2 && turns[0] < n, `the loop got no turn during the sweep (turns at reads ${turns})`);
    // A later sweep with every thread known reads nothing and does not yield.
    reads = 0;
    await sweep(known, 19, () => true, counting);
    assert.equal(reads, 0);
  });

  it("starts when a check finds the CPU busy, once; idle checks slow down, a nudge speeds them up, cancel ends them", () => {
    let cpu = 1000;
    let at = 0;
    let pending: { ms: number; fn: () => void } | undefined;
    const periods: number[] = [];
    const after: After = (ms, fn) => {
      periods.push(ms);
      const t = { ms, fn };
      pending = t;
      return () => void (pending === t && (pending = undefined));
    };
    /** Runs the pending check after its interval, with `used` ms of CPU spent meanwhile. */
    const tick = (used: number) => {
      const t = pending;
      assert.ok(t, "a check is pending");
      pending = undefined;
      at += t.ms;
      cpu += used;
      t.fn();
    };
    let started = 0;
    const watch = whenBusy(() => cpu, () => started++, after, () => at);
    assert.deepEqual(periods, [LOAD_CHECK_MS]);
    // The first period is start-up's own tail (Bun's first full collection): measured from, never load.
    tick(5 * BUSY_CPU_MS);
    assert.equal(started, 0, "start-up's CPU does not start the sweep");
    // Idle (a little work, below 10 % in each check): every check waits twice as long, up to the maximum.
    for (let i = 0; i < 8; i++) tick(((BUSY_CPU_MS - 1) * (pending?.ms ?? 0)) / LOAD_CHECK_MS);
    assert.equal(started, 0);
    assert.deepEqual(periods, [100, 200, 400, 800, 1600, 3200, 6400, 6400, 6400, 6400].map((x) => x * LOAD_CHECK_MS / 100));
    assert.equal(Math.max(...periods), LOAD_CHECK_MAX_MS);
    // A connection: the next check comes after LOAD_CHECK_MS again, and finds the load.
    watch.nudge();
    assert.equal(pending?.ms, LOAD_CHECK_MS);
    tick(BUSY_CPU_MS);
    assert.equal(started, 1);
    assert.equal(pending, undefined, "the checks stop once started");
    watch.nudge();
    assert.equal(pending, undefined, "a nudge after the start does nothing");
    // Cancelled before any load: never starts.
    started = 0;
    const cancelled = whenBusy(() => cpu, () => started++, after, () => at);
    cancelled.cancel();
    assert.equal(pending, undefined);
    cancelled.nudge();
    assert.equal(pending, undefined);
    assert.equal(started, 0);
  });

  it("the runtime's /proc reader lists a directory of any size as readdirSync does and reads a thread's comm", async () => {
    // Bun reads through libc (getdents64, read) in fixed buffers: a directory whose entries take more than one
    // buffer, a name read whole, a file that is not there. Deno reads with its own API.
    const isDeno = typeof Deno !== "undefined";
    const mod: { openThreadOs: () => ThreadOs } = isDeno
      ? await import("../../adapters/runtime/libc_deno.ts")
      : await import("../../adapters/runtime/libc_bun.ts");
    const big = mkdtempSync(join(tmpdir(), "petrel-dirents-"));
    try {
      const names = Array.from({ length: 600 }, (_, i) => `entry-${i}-${"x".repeat(i % 40)}`); // ~30 KiB of dirents
      for (const n of names) writeFileSync(join(big, n), "");
      const os = mod.openThreadOs();
      assert.deepEqual(os.tasks(big).list().sort(), readdirSync(big).sort());
      assert.equal(os.tasks(big).list().length, names.length);
      const self = os.tasks(`/proc/${process.pid}/task`);
      const tids = self.list();
      assert.ok(tids.includes(String(process.pid)), JSON.stringify(tids));
      assert.equal(await self.comm(String(process.pid)), readFileSync(`/proc/${process.pid}/task/${process.pid}/comm`, "utf8"));
      assert.equal(await self.comm("999999999"), undefined);
      assert.throws(() => os.tasks(join(big, "missing")).list());
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  });

  it("on Bun, libc is opened with the runtime's native dlopen (not by evaluating bun:ffi), and a failed open throws", async () => {
    if (typeof Bun === "undefined") return; // Deno opens libc with Deno.dlopen (libc_deno.ts)
    const mod = await import("../../adapters/runtime/libc_bun.ts");
    assert.equal(mod.dlopenSource, "native");
    const lib = mod.openLibrary("libc.so.6", { getpid: { args: [], returns: "i32" } });
    assert.equal(lib.symbols.getpid(), process.pid);
    assert.throws(() => mod.openLibrary("libpetrel-no-such-library.so.0", { getpid: { args: [], returns: "i32" } }));
  });

  it("PETREL_JIT_NICE: default 19 on Bun and off on Deno, 0 leaves the threads alone, nonsense is the default", () => {
    assert.equal(niceFromEnv(undefined, "bun"), 19);
    assert.equal(niceFromEnv("", "bun"), 19);
    assert.equal(niceFromEnv(undefined, "deno"), undefined);
    assert.equal(niceFromEnv("10", "bun"), 10);
    assert.equal(niceFromEnv("19", "deno"), 19);
    assert.equal(niceFromEnv("0", "bun"), undefined);
    assert.equal(niceFromEnv("-5", "bun"), 19);
    assert.equal(niceFromEnv("high", "deno"), undefined);
  });
});

/** [tid, name, nice] of every thread of a process, from /proc (the name sits in parentheses, may hold spaces). */
function threadsOf(pid: number): Array<[number, string, number]> {
  const out: Array<[number, string, number]> = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" "); // fields[0] is field 3 (state); nice is field 19
      out.push([Number(tid), name, Number(fields[16])]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

// A plain server starts its load watch with the first client (its load comes only through clients); one with a
// monitoring port (or links) watches from the start. Both must end up lowering the threads under a client's load.
for (const monitor of [false, true]) describe(`compiler threads of a running server${monitor ? " with a monitoring port" : ""}`, () => {
  let server: RunningServer;
  before(async () => {
    // Bun lowers its compiler threads by default, Deno when asked (the server inherits this process's environment).
    const isDeno = typeof Deno !== "undefined";
    if (isDeno) process.env.PETREL_JIT_NICE = "19";
    try {
      server = await startServer("petrel", { monitor });
    } finally {
      if (isDeno) delete process.env.PETREL_JIT_NICE;
    }
  });
  after(() => server.stop());

  it("run at nice 19 once the server is busy, while the event loop keeps its priority", { timeout: 30_000 }, async () => {
    // The sweep starts with load (on Bun; at once on Deno, which cannot tell its CPU time): publish batches
    // until a compiler thread is lowered. Up to 20 s: in a full npm test at load 15 the sweep (once a second)
    // had not lowered one within 5 s.
    const nc = await connectTo(server);
    const payload = new Uint8Array(16);
    let busy = true;
    const load = (async () => {
      while (busy) {
        for (let i = 0; i < 20_000; i++) nc.publish("compiler.threads.load", payload);
        await nc.flush();
      }
    })();
    let threads: Array<[number, string, number]>;
    try {
      threads = await waitFor("a compiler thread at nice 19", () => {
        const t = threadsOf(server.pid);
        return t.some(([, name, nice]) => isCompilerThread(name) && nice === 19) ? t : undefined;
      }, 20_000, 50);
    } finally {
      busy = false;
      await load;
      await nc.close();
    }
    // The event-loop thread and the others keep the priority the process started with.
    const main = threads.find(([tid]) => tid === server.pid);
    assert.ok(main, JSON.stringify(threads));
    assert.ok(main[2] < 19, JSON.stringify(threads));
    for (const [, name, nice] of threads) if (!isCompilerThread(name)) assert.equal(nice, main[2], name);
  });
});
