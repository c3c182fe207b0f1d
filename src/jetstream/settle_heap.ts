/**
 * One full garbage collection right after the first stream of a fresh process is created, off the request path.
 *
 * Why (Bun): JavaScriptCore sizes its heap limits from its last full collection, which on a fresh server is the
 * start-up one, of a ~3 MB heap. The first stream create then loads the JetStream config schemas and builds the
 * stream, and the publishes that follow pay for that: in every js-r1-sync run measured (bench/first_use.mjs,
 * BUN_JSC_logGC=1) a full collection of 2–6 ms (up to 14 ms on a loaded host) at about the 3,500th of the 20,000
 * sync publishes, besides an eden collection at about the 1,000th. Collected once here, after the create's answer
 * went out, the limits fit the heap the publishes run on: the collections inside the 20,000 went from 4–5 (one
 * of them full) to 3 eden ones, the first at about the 5,000th publish. The collection itself takes 3.5–4 ms once.
 *
 * The runtime offers the collection where it has one without flags (`Runtime.collectGarbage`: Bun's
 * `Bun.gc(true)`); Deno has none (V8's gc() needs --expose-gc at start), and there nothing happens.
 */
import type { Clock } from "../runtime/clock.ts";

/** Runs `collect` once, on a later turn of the event loop, the first time it is called; never again. */
export type HeapSettler = (collect: (() => void) | undefined, clock: Clock) => void;

export function createHeapSettler(): HeapSettler {
  let done = false;
  return (collect, clock) => {
    if (collect === undefined || done) return;
    done = true;
    clock.soon(collect);
  };
}

/** The process's one: a heap is per process, whichever account or server in it creates the first stream. */
export const settleHeapOnce: HeapSettler = createHeapSettler();
