/**
 * Gives the resident pages of the runtime's own code back to the page cache once a server no longer runs them.
 * Runtime-agnostic: which mappings may go, the setting, and when; a runtime's edge (code_trim_bun.ts) gives it
 * /proc/self/maps, its executable's path, libc's madvise and a timer.
 *
 * Why: under load most of a Bun server's RSS is the runtime's own machine code and read-only data, clean pages of
 * the executable file mapped into the process (bun.exe r-xp 25.5 MB idle, 31.6 MB under pub-16, + 5.5 MB r--p;
 * Petrel's JavaScript heap under pub-16 is ~2 MB). Most of them ran once: the transpiler, module loader and parser
 * at start-up, the optimising compilers while the hot functions tiered up. They stay mapped for the life of the
 * process although nothing runs them again. `madvise(MADV_DONTNEED)` on the executable's clean mappings unmaps
 * them; what runs next is mapped back from the page cache on first touch (a minor fault, 64 KiB at a time by the
 * kernel's fault-around), so RSS follows what the server ran in the last period, not what it ever ran. The page
 * cache keeps the file's pages (shared with every other process of the same binary, and what the kernel reclaims
 * first when it needs memory); nothing is read from disk again while they stay cached. The same idea as Android's
 * compaction of background apps' file pages.
 *
 * Only the executable's read-only, never-written mappings are touched (`r-xp`, and `r--p` at file offset 0:
 * headers, read-only data, unwind tables). The RELRO segment (relocated at load, then made read-only) sits at a
 * later offset in the writable segment's pages: dropping its copied-on-write pages would lose the relocations, so it
 * is left out, as is every writable and anonymous mapping (heap, JIT code) and every other file.
 *
 * When: once shortly after the first listener starts (start-up's code is dead by then), then one period after the
 * first socket read that follows a trim (at most once a period under load; no timer while idle). Measured on Bun
 * under pub-16: ~300 minor faults per trim (~1–2 ms of CPU spread over the next turns), 0.1–0.2 % at 1 s; request/
 * reply latency unchanged even at 50 trims a second (bench/RESULTS.md, `bunmem`).
 */

const DEFAULT_PERIOD_MS = 1000;
/** The first trim after the first listener starts: start-up's remaining work (system services, probes) is done. */
export const FIRST_TRIM_MS = 250;

/** One mapping to trim: start address and length in bytes. */
export interface CodeRange {
  start: number;
  len: number;
}

/** The period from PETREL_CODE_TRIM_MS (default 1000 ms, 0: off); a bad value stops start-up naming it. */
export function trimPeriodMs(raw: string | undefined): number {
  if (raw === undefined || raw === "") return DEFAULT_PERIOD_MS;
  const ms = Number(raw);
  if (!(Number.isInteger(ms) && ms >= 0)) {
    throw new Error(`PETREL_CODE_TRIM_MS must be a whole number of milliseconds (0: off), got '${raw}'`);
  }
  return ms;
}

/**
 * The mappings of `exe` in a /proc/PID/maps text that were never written: its code (`r-xp`) and the read-only
 * segment at file offset 0. No per-line loop over the whole text (a start must not bring the JIT in): only the
 * few lines naming the executable are looked at.
 */
export function trimRanges(maps: string, exe: string): CodeRange[] {
  const out: CodeRange[] = [];
  let at = maps.indexOf(exe);
  while (at >= 0) {
    const end = at + exe.length;
    // the whole path, at the end of its line (not a prefix, not "(deleted)")
    if (maps.charCodeAt(at - 1) === 32 && (end === maps.length || maps.charCodeAt(end) === 10)) {
      const lineStart = maps.lastIndexOf("\n", at) + 1;
      const [range, perms, offset] = maps.slice(lineStart, at).split(" ", 3);
      const dash = range.indexOf("-");
      const start = parseInt(range.slice(0, dash), 16);
      const stop = parseInt(range.slice(dash + 1), 16);
      const keep = perms === "r-xp" || (perms === "r--p" && parseInt(offset, 16) === 0);
      if (keep && stop > start) out.push({ start, len: stop - start });
    }
    at = maps.indexOf(exe, end);
  }
  return out;
}

/** `ranges` cut into consecutive pieces of at most `size` bytes (the last of each range shorter), in order. */
export function trimPieces(ranges: readonly CodeRange[], size: number): CodeRange[] {
  const out: CodeRange[] = [];
  for (const r of ranges) {
    for (let off = 0; off < r.len; off += size) out.push({ start: r.start + off, len: Math.min(size, r.len - off) });
  }
  return out;
}

export interface CodeTrimOptions {
  /** Milliseconds between a trim and the next (0: never trim). */
  periodMs: number;
  /** Makes the trim function (reads the mappings, binds madvise); undefined where it cannot work. */
  open: () => Promise<(() => void) | undefined>;
  /** Runs `f` once after `ms` without keeping the process alive. */
  later: (f: () => void, ms: number) => void;
}

/** The schedule: one trim after start, then one a period after the first activity that follows a trim. */
export class CodeTrim {
  readonly #o: CodeTrimOptions;
  #started = false;
  #pending = false;
  #trim: (() => void) | undefined;
  /** Trims done so far (tests, benchmarks). */
  trims = 0;
  readonly #run = () => {
    this.#pending = false;
    this.#trim?.();
    this.trims++;
  };

  constructor(o: CodeTrimOptions) {
    this.#o = o;
  }

  /** A listener started: the first call opens the trim and trims once, FIRST_TRIM_MS later. */
  start(): void {
    if (this.#started || this.#o.periodMs === 0) return;
    this.#started = true;
    this.#o.later(() => {
      void this.#o.open().then((t) => {
        this.#trim = t;
        if (t !== undefined) this.#run();
      });
    }, FIRST_TRIM_MS);
  }

  /** The server ran code (socket input): a trim follows one period later unless one is already due. */
  activity(): void {
    if (this.#pending || this.#trim === undefined) return;
    this.#pending = true;
    this.#o.later(this.#run, this.#o.periodMs);
  }
}
