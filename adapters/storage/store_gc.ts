/**
 * On Bun, a full collection (and an allocator purge) after every few MiB written to file stores, within a bound on
 * the time it may take: what bounds a JetStream server's memory under a fast publisher by this pacing instead of
 * by the collector's own sizing.
 *
 * Why: the publish → store → PubAck path leaves garbage per message that JavaScriptCore's eden collections free,
 * but the memory stays with the process: the heap keeps the blocks it grew to (its eden budget, ~7.5 MB over a
 * ~5 MB live heap in js-r1-async) and mimalloc keeps freed pages until a purge. A full collection with a purge
 * (`Bun.gc(true)`) hands them back: js-r1-async's RSS at the end of the window 66–67 → 62–64 MB for one collection
 * per ~250 ms (3–5 ms each at that heap, ~1.5 % of the time), msgs/s unchanged (bench/RESULTS.md, `jsmem`).
 * Counting what reaches the disk ties the pacing to the load (an idle server never collects) without a timer.
 *
 * Not on Deno: V8 keeps the pages a collection frees (its young generation is sized at start-up, see RESULTS), so a
 * collection there costs time and gives no memory back; and `gc()` is not exposed without a flag.
 *
 * `PETREL_STORE_GC_MB`: MiB written between collections (default 32; 0 turns this off). `PETREL_GC_SHARE`: the
 * largest share of the time the collections may take (default 0.03; shared with the read pacer's setting).
 */
import { GcPacer } from "../../transports/gc_pacer.ts";

export const DEFAULT_STORE_GC_MB = 32;
const DEFAULT_SHARE = 0.03;

/** PETREL_STORE_GC_MB's value (MiB between collections, 0: off); throws naming the variable when it is not one. */
export function storeGcMb(raw: string | undefined): number {
  const mb = raw === undefined || raw === "" ? DEFAULT_STORE_GC_MB : Number(raw);
  if (!(mb >= 0) || !Number.isFinite(mb)) {
    throw new Error(`PETREL_STORE_GC_MB must be a number of MiB (0: off), got '${raw}'`);
  }
  return mb;
}

function share(raw: string | undefined): number {
  const s = raw === undefined || raw === "" ? DEFAULT_SHARE : Number(raw);
  if (!(s > 0 && s <= 1)) throw new Error(`PETREL_GC_SHARE must be a fraction of the time in (0, 1], got '${raw}'`);
  return s;
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

/** Built when the module loads (a bad setting stops start-up); Deno has no `Bun` and no pacer. */
const pacer: GcPacer | undefined = typeof Bun === "undefined"
  ? undefined
  : storeGcPacer(storeGcMb(Bun.env.PETREL_STORE_GC_MB), share(Bun.env.PETREL_GC_SHARE), () => Bun.gc(true), (f) =>
    void setImmediate(f));

/** `n` bytes of records went to a file store's segment (one call per write batch). */
export function noteStoreWrite(n: number): void {
  if (pacer !== undefined) pacer.read(n);
}

/** Collections run so far and the time they took (benchmarks, tests); undefined when off or not on Bun. */
export function storeGcStats(): { runs: number; totalMs: number } | undefined {
  return pacer === undefined ? undefined : { runs: pacer.runs, totalMs: pacer.totalMs };
}
