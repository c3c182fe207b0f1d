/** Picks the runtime services for the runtime we are on. */
import type { Runtime, RuntimeName } from "../../src/runtime/types.ts";
import { createBunRuntime } from "./bun.ts";
import { createDenoRuntime } from "./deno.ts";

export type { Runtime, RuntimeName } from "../../src/runtime/types.ts";

export function detectRuntime(): RuntimeName {
  if (typeof Bun !== "undefined") return "bun";
  if (typeof Deno !== "undefined") return "deno";
  throw new Error("unsupported runtime: Petrel runs on Deno or Bun");
}

let current: Runtime | undefined;

/** The runtime services for this process (created once). */
export function currentRuntime(): Runtime {
  return (current ??= detectRuntime() === "bun" ? createBunRuntime() : createDenoRuntime());
}
