/**
 * Picks the runtime services for the runtime we are on. Only that runtime's adapter is loaded (a top-level
 * dynamic import): the other one's transport and adapter are ~12 KB (Bun) / ~20 KB (Deno) of code a process
 * would load, parse and keep for nothing (an idle server's memory grows with the code it loads).
 * On Bun this import is a second, serial round of module loading after the static graph (~2.5 ms of a quiet start).
 * A static import resolved per runtime (package.json `imports` with a "bun" condition, deno.json's import map for
 * Deno) took that round away, and was measured and reverted: Bun idled 0.05-0.14 MB higher in each of 7
 * interleaved sets (Bun's allocator arena: the adapter's modules transpiled in the same batch as the rest), with
 * the idle row at its 36 MB line; Deno resolving package.json `imports` itself cost 0.6 MB (bench/RESULTS.md, `start6`).
 */
import type { Runtime, RuntimeName } from "../../src/runtime/types.ts";

export type { Runtime, RuntimeName } from "../../src/runtime/types.ts";

export function detectRuntime(): RuntimeName {
  if (typeof Bun !== "undefined") return "bun";
  if (typeof Deno !== "undefined") return "deno";
  throw new Error("unsupported runtime: Petrel runs on Deno or Bun");
}

const create: () => Runtime = typeof Bun !== "undefined"
  ? (await import("./bun.ts")).createBunRuntime
  : typeof Deno !== "undefined"
  ? (await import("./deno.ts")).createDenoRuntime
  : () => {
    detectRuntime();
    throw new Error("unreachable");
  };

let current: Runtime | undefined;

/** The runtime services for this process (created once). */
export function currentRuntime(): Runtime {
  return (current ??= create());
}
