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
 * `PETREL_GC_SHARE`: the largest share of the time the collections may take (default 0.03).
 *
 * Measured side by side on current main (bench servers and natsbench at autogroup nice -15, 2 rounds, pacer off →
 * on): RSS at the end pub-16 79–85 → 70–75 MB, fanout-16 111–131 → 92–95 MB, cluster-pubsub-1k publisher's node
 * 135–150 → 102–114 MB (the subscriber's node 111–133 → 119–140), pubsub-1k 99–107 → 100–101 MB; server CPU per
 * million messages unchanged (pub-16 66–68 vs 68–69 ms, fanout-16 393–424 vs 375–379, pubsub-1k 986–1134 vs
 * 977–1134).
 */
import { gcShareSetting, GcPacer } from "./gc_pacer.ts";

const PACED_READ = 64 * 1024;
const DEFAULT_BUDGET_MB = 4;

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
    // The collections may take at most this share of the time (a full collection under load: 2–8 ms).
    maxShare: gcShareSetting(Bun.env.PETREL_GC_SHARE),
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

/** A read of `n` bytes counted by noteRead was freed by the core's recycling (tcp_bun.ts): no garbage left. */
export function noteRecycled(n: number): void {
  if (n >= PACED_READ && pacer !== undefined) pacer.freed(n);
}

/** Collections run so far and the time they took (benchmarks), undefined when the pacer is off. */
export function readPacerStats(): { runs: number; totalMs: number } | undefined {
  return pacer === undefined ? undefined : { runs: pacer.runs, totalMs: pacer.totalMs };
}
