/**
 * Bun's socket reads and the garbage they leave: one process-wide GcPacer (gc_pacer.ts) counting large reads, with
 * JavaScriptCore's full collection (`bun:jsc`, imported on the first collection: a plain start does not load it).
 *
 * Only reads of `PACED_READ` bytes or more are counted: a fast publisher's reads (256–512 KiB each, fanout-16:
 * 1,892 of 2,126 output batches and nearly all input bytes) are what piles up; a JetStream publisher's window
 * (16–64 KiB reads) is freed by JavaScriptCore's own collections and is not paced (a full collection of a
 * JetStream server's heap costs more and would only slow its acks).
 *
 * `PETREL_GC_PACE_MB`: MiB of large reads between collections (default 4; 0 turns the pacer off).
 */
import { GcPacer } from "./gc_pacer.ts";

const PACED_READ = 64 * 1024;
const DEFAULT_BUDGET_MB = 4;
/** The collections may take at most this share of the time (a full collection under load: 2–8 ms). */
const MAX_SHARE = 0.03;

let fullGc: (() => void) | undefined;

function later(f: () => void): void {
  if (fullGc !== undefined) {
    setImmediate(f);
    return;
  }
  void import("bun:jsc").then((jsc) => {
    fullGc = () => void jsc.fullGC();
    f();
  });
}

function budgetMb(): number {
  const raw = Bun.env.PETREL_GC_PACE_MB;
  const mb = raw === undefined || raw === "" ? DEFAULT_BUDGET_MB : Number(raw);
  if (!(mb >= 0)) throw new Error(`PETREL_GC_PACE_MB must be a number of MiB (0: off), got '${raw}'`);
  return mb;
}

function build(): GcPacer | undefined {
  const mb = budgetMb();
  if (mb === 0) return undefined;
  return new GcPacer({
    budget: mb * 1024 * 1024,
    maxShare: MAX_SHARE,
    collect: () => fullGc?.(),
    now: () => performance.now(),
    later,
  });
}

/**
 * Built when the module loads, so that a bad PETREL_GC_PACE_MB stops start-up; this module is also in Deno's
 * import graph (through tcp.ts), where there is no `Bun` and no pacer.
 */
const pacer: GcPacer | undefined = typeof Bun === "undefined" ? undefined : build();

/** A socket read of `n` bytes was handed over in a fresh buffer. */
export function noteRead(n: number): void {
  if (n >= PACED_READ && pacer !== undefined) pacer.read(n);
}

/** Collections run so far and the time they took (benchmarks), undefined when the pacer is off. */
export function readPacerStats(): { runs: number; totalMs: number } | undefined {
  return pacer === undefined ? undefined : { runs: pacer.runs, totalMs: pacer.totalMs };
}
