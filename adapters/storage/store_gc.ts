/**
 * Memory a file store's writes leave with the allocators, handed back to the system every few MiB written, within a
 * bound on the time it may take: what bounds a JetStream server's memory under a fast publisher by this pacing
 * instead of by the runtimes' own sizing. Counting what reaches the disk ties it to the load (an idle server never
 * does it) without a timer.
 *
 * Bun: a full collection with a mimalloc purge (`Bun.gc(true)`). The publish -> store -> PubAck path leaves garbage
 * per message that JavaScriptCore's eden collections free, but the memory stays with the process: the heap keeps
 * the blocks it grew to (its eden budget, ~7.5 MB over a ~5 MB live heap in js-r1-async) and mimalloc keeps freed
 * pages until a purge. js-r1-async's RSS at the end of the window 66-67 -> 62-63 MB, one collection per ~250 ms
 * (3-5 ms each at that heap), msgs/s unchanged (bench/RESULTS.md, `jsmem`).
 *
 * Deno: glibc's `malloc_trim(0)` (FFI; where FFI is not allowed or libc is not glibc, nothing), on a thread of
 * Deno's blocking pool. V8's collections keep their pages (a `gc()` gives no RSS back), but glibc holds freed
 * memory in the arenas of V8's compiler and GC threads: a trim at the end of js-r1-async took 3-7 MB of them back
 * in 1-1.7 ms.
 *
 * `PETREL_STORE_GC_MB`: MiB written between two (default 32; 0 turns this off). `PETREL_GC_SHARE`: the largest share
 * of the time they may take (default 0.03; shared with the read pacer's setting).
 */
import { gcShareSetting, GcPacer } from "../../transports/gc_pacer.ts";
import { lightTimeout } from "../../src/runtime/light_timers.ts";

export const DEFAULT_STORE_GC_MB = 32;

/** PETREL_STORE_GC_MB's value (MiB between collections, 0: off); throws naming the variable when it is not one. */
export function storeGcMb(raw: string | undefined): number {
  const mb = raw === undefined || raw === "" ? DEFAULT_STORE_GC_MB : Number(raw);
  if (!(mb >= 0) || !Number.isFinite(mb)) {
    throw new Error(`PETREL_STORE_GC_MB must be a number of MiB (0: off), got '${raw}'`);
  }
  return mb;
}

/** The pacer for `mb` MiB between collections (undefined when 0: off). */
export function storeGcPacer(
  mb: number,
  maxShare: number,
  collect: () => void,
  later: (f: () => void) => void,
): GcPacer | undefined {
  if (mb === 0) return undefined;
  return new GcPacer({ budget: mb * 1024 * 1024, maxShare, collect, now: () => performance.now(), later });
}

/**
 * glibc's malloc_trim through Deno's FFI; undefined where it cannot be had (no FFI permission, no glibc).
 *
 * Declared `nonblocking`: the call runs on one of Deno's blocking-pool threads through libffi instead of a call
 * trampoline compiled into the event loop's thread, and that keeps ~1.5 MB of the deno binary's code out of the
 * resident set (js-r1-async at the end of the window: r-xp 26.3-27.0 -> 25.1-25.2 MB, 3 interleaved pairs,
 * bench/RESULTS.md `denomem`). A trim takes 1-2 ms and locks each arena while it walks it; off the event loop it
 * costs the loop nothing. One at a time: a trim still running when the next is due makes that one a no-op.
 */
function denoTrim(): (() => void) | undefined {
  try {
    const lib = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true } });
    let running = false;
    const done = (): void => {
      running = false;
    };
    return () => {
      if (running) return;
      running = true;
      lib.symbols.malloc_trim(0n).then(done, done);
    };
  } catch {
    return undefined;
  }
}

function build(): GcPacer | undefined {
  if (typeof Bun !== "undefined") {
    return storeGcPacer(storeGcMb(Bun.env.PETREL_STORE_GC_MB), gcShareSetting(Bun.env.PETREL_GC_SHARE), () => Bun.gc(true), (f) =>
      void setImmediate(f));
  }
  if (typeof Deno === "undefined") return undefined;
  const env = (k: string): string | undefined => {
    try {
      return Deno.env.get(k);
    } catch {
      return undefined; // no env permission: the defaults
    }
  };
  const mb = storeGcMb(env("PETREL_STORE_GC_MB"));
  const maxShare = gcShareSetting(env("PETREL_GC_SHARE"));
  if (mb === 0) return undefined;
  // Opened on the first trim: a server that never writes much loads no FFI.
  let trim: (() => void) | undefined | null = null;
  return storeGcPacer(mb, maxShare, () => {
    if (trim === null) trim = denoTrim();
    trim?.();
  }, (f) => void lightTimeout(0, f)); // not setTimeout: on Deno that loads Node's timer layer for good (light_timers.ts)
}

/** Built when the module loads (a bad setting stops start-up). */
const pacer: GcPacer | undefined = build();

/** `n` bytes of records went to a file store's segment (one call per write batch). */
export function noteStoreWrite(n: number): void {
  if (pacer !== undefined) pacer.read(n);
}

/** Collections (Bun) or trims (Deno) run so far and the time they took (benchmarks, tests); undefined when off. */
export function storeGcStats(): { runs: number; totalMs: number } | undefined {
  return pacer === undefined ? undefined : { runs: pacer.runs, totalMs: pacer.totalMs };
}
