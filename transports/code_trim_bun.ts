/**
 * Bun's binding of the code trim (code_trim.ts): bun.exe's mappings from /proc/self/maps, libc's madvise through
 * bun:ffi (loaded at the first trim, not at start), unref'd timers. Linux only; where /proc, libc or FFI is
 * missing nothing is done. `PETREL_CODE_TRIM_MS`: the period (default 1000 ms; 0 turns it off).
 */
import { CodeTrim, trimPeriodMs, trimPieces, trimRanges } from "./code_trim.ts";

const MADV_DONTNEED = 4;
/**
 * One madvise per turn gives back at most this much: the syscall's time grows with the resident pages it unmaps
 * (bun.exe's ~37 MB at once held the event loop 0.7–1.9 ms, 4–5 ms at start-up, on the 2-core host at load 5), and a
 * request or sync publish arriving meanwhile waited for all of it: every trim was one slow message (cluster
 * request/reply: the six trims of a 20k window on the two busy nodes were six requests of 1.2–4.3 ms). In pieces,
 * one per turn, a message waits for one piece at most.
 */
const TRIM_PIECE = 1024 * 1024;

async function openTrim(): Promise<(() => void) | undefined> {
  try {
    const ranges = trimRanges(await Bun.file("/proc/self/maps").text(), process.execPath);
    if (ranges.length === 0) return undefined;
    const { dlopen } = await import("bun:ffi");
    const lib = dlopen("libc.so.6", { madvise: { args: ["usize", "usize", "i32"], returns: "i32" } });
    const pieces = trimPieces(ranges, TRIM_PIECE);
    let next = -1; // the piece the sweep in progress gives back next (-1: none in progress)
    const step = () => {
      const p = pieces[next++];
      lib.symbols.madvise(p.start, p.len, MADV_DONTNEED);
      if (next < pieces.length) setImmediate(step);
      else next = -1;
    };
    return () => {
      if (next >= 0) return; // the last sweep is still going
      next = 0;
      step();
    };
  } catch {
    return undefined; // not Linux, no libc, no FFI: the pages stay
  }
}

/** Built when the module loads, so that a bad value stops start-up (no `Bun` on Deno: never started there). */
const trimmer = new CodeTrim({
  periodMs: typeof Bun === "undefined" ? 0 : trimPeriodMs(Bun.env.PETREL_CODE_TRIM_MS),
  open: openTrim,
  later: (f, ms) => void setTimeout(f, ms).unref(),
});

/** Called when a listener starts (the first call starts the trims). */
export function startCodeTrim(): void {
  trimmer.start();
}

/** Socket input arrived (every read: one flag test when a trim is already due). */
export function noteCodeActivity(): void {
  trimmer.activity();
}
