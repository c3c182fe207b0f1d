/**
 * Bun's binding of the code trim (code_trim.ts): bun.exe's mappings from /proc/self/maps, libc's madvise through
 * bun:ffi (loaded at the first trim, not at start), unref'd timers. Linux only; where /proc, libc or FFI is
 * missing nothing is done. `PETREL_CODE_TRIM_MS`: the period (default 1000 ms; 0 turns it off).
 */
import { CodeTrim, trimPeriodMs, trimRanges } from "./code_trim.ts";

const MADV_DONTNEED = 4;

async function openTrim(): Promise<(() => void) | undefined> {
  try {
    const ranges = trimRanges(await Bun.file("/proc/self/maps").text(), process.execPath);
    if (ranges.length === 0) return undefined;
    const { dlopen } = await import("bun:ffi");
    const lib = dlopen("libc.so.6", { madvise: { args: ["usize", "usize", "i32"], returns: "i32" } });
    return () => {
      for (let i = 0; i < ranges.length; i++) lib.symbols.madvise(ranges[i].start, ranges[i].len, MADV_DONTNEED);
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
