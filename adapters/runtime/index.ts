/**
 * Picks the runtime services for the runtime we are on. Only that runtime's adapter is loaded (a top-level
 * dynamic import): the other one's transport and adapter are ~12 KB (Bun) / ~20 KB (Deno) of code a process
 * would load, parse and keep for nothing (an idle server's memory grows with the code it loads).
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
