/**
 * The runtime services for the runtime we are on. Only that runtime's adapter is loaded: `#runtime-adapter` names
 * it, resolved by Bun through package.json's `imports` (its "bun" condition: adapters/runtime/bun.ts) and by Deno
 * through deno.json's import map (adapters/runtime/deno.ts; Deno's own resolution of package.json's `imports`
 * cost a plain start ~0.6 MB of RSS and ~8 ms of CPU). The other runtime's transport and adapter (~12 KB on Bun,
 * ~20 KB on Deno) are never loaded, parsed or kept (an idle server's memory grows with the code it loads). A static
 * import, not a top-level `import()`: on Bun that was a second, serial round of module loading after the whole
 * static graph had loaded (the adapter, its TCP transport and seven more modules; bench/RESULTS.md, `start6`).
 */
import type { Runtime, RuntimeName } from "../../src/runtime/types.ts";
import { createRuntime } from "#runtime-adapter";

export type { Runtime, RuntimeName } from "../../src/runtime/types.ts";

export function detectRuntime(): RuntimeName {
  if (typeof Bun !== "undefined") return "bun";
  if (typeof Deno !== "undefined") return "deno";
  throw new Error("unsupported runtime: Petrel runs on Deno or Bun");
}

let current: Runtime | undefined;

/** The runtime services for this process (created once). */
export function currentRuntime(): Runtime {
  return (current ??= createRuntime());
}
