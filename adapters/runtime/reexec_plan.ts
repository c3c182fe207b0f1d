/**
 * Which runtime options the CLI puts in effect from the runtime's first instruction when asked to
 * (`PETREL_REEXEC=1`), and what a re-exec must add to the environment to get them. Pure: the caller (reexec.ts)
 * reads the environment and the command line.
 *
 * Why: some of what decides the runtimes' memory is read once, when the runtime starts, from the environment only:
 * - Bun: JavaScriptCore reads the machine's RAM size once, when its heap is created, and sizes its heap growth and
 *   collection triggers from it (memory use above `criticalGCMemoryThreshold`, 80 % of it, makes the collector
 *   eager). `BUN_JSC_forceRAMSize` sets the figure JSC uses.
 * - Deno: V8's young generation grows up to 2 x 32 MiB semi-spaces under load unless `--max-semi-space-size` bounds
 *   it (`DENO_V8_FLAGS`, or `--v8-flags=` on deno's command line). 1 MiB cost JetStream sync publish half its rate
 *   (objects that live across a store write get promoted); 2 MiB did not.
 * Off by default: measured on the code before the read-buffer and output-buffer fixes of 2026-12-06, these cut 10-45
 * MB under load; on main after them (`acc1a61`) they cut 3-8 MB in a few scenarios, while the re-exec costs a second
 * runtime start (Bun ~20 ms, Deno ~25-30 ms of start-up) and the 2 MiB semi-space doubles Deno's scavenges inside a
 * sync publish run. Kept as one switch for hosts and workloads where they pay (a quiet-machine run may rank them).
 * Re-measured at `f551ba2` (2026-12-07): Bun's pub-16 and fanout-16 unchanged, start-up CPU 1.8-1.9x; Deno's the same
 * but JetStream async publish 3 MB lower. Tried and not kept: Bun's `MIMALLOC_PURGE_DELAY=0` and `--smol` (through
 * `BUN_OPTIONS`), and (2026-12-07) JSC's GC marker, compiler-thread, inlining and tier-up options and mimalloc's
 * page retention: no RSS change under load beyond the noise. The figures are in bench/RESULTS.md ("Runtime options before start (reexec)").
 *
 * What the user set wins: a variable already in the environment is kept as it is, and a V8 flag the user named (in
 * DENO_V8_FLAGS or `--v8-flags=` on the command line) is not added again.
 */

/** Set in the re-executed process: the options are in effect, never re-exec again (no loop). */
export const REEXEC_MARKER = "PETREL_REEXECED";
/** The switch: `PETREL_REEXEC=1` re-executes with the options; unset or 0 starts as launched (the default). */
export const REEXEC_SWITCH = "PETREL_REEXEC";

/** Bun: environment variables and their values (each only when the user did not set it). */
export const BUN_ENV: ReadonlyArray<readonly [string, string]> = [
  ["BUN_JSC_forceRAMSize", String(256 * 1024 * 1024)],
];
/** Deno: V8 flags added to `DENO_V8_FLAGS` (each only when the user did not name that flag). */
export const DENO_V8: readonly string[] = ["--max-semi-space-size=2"];

export type SwitchValue = "on" | "off";

/** `PETREL_REEXEC`: 1/true/on re-execs; unset, empty or 0/false/off does not; anything else is an error naming it. */
export function readSwitch(raw: string | undefined): SwitchValue | { error: string } {
  if (raw === "1" || raw === "true" || raw === "on") return "on";
  if (raw === undefined || raw === "" || raw === "0" || raw === "false" || raw === "off") return "off";
  return { error: `${REEXEC_SWITCH} must be 0 or 1, got '${raw}'` };
}

export interface PlanInput {
  runtime: "bun" | "deno";
  env: (name: string) => string | undefined;
  /** The process's command line as the kernel has it (/proc/self/cmdline), argv[0] included. */
  cmdline: readonly string[];
}

/** The flag's name: `--max-semi-space-size=1` -> `max-semi-space-size` (V8 treats `_` and `-` alike). */
function flagName(flag: string): string {
  return flag.replace(/^--?(no-?)?/, "").split("=")[0].replaceAll("_", "-");
}

/** V8 flags the user gave: DENO_V8_FLAGS and every `--v8-flags=` on the command line (comma separated). */
function userV8Flags(env: PlanInput["env"], cmdline: readonly string[]): Set<string> {
  const lists = [env("DENO_V8_FLAGS") ?? ""];
  for (const a of cmdline) if (a.startsWith("--v8-flags=")) lists.push(a.slice("--v8-flags=".length));
  const names = new Set<string>();
  for (const list of lists) for (const f of list.split(",")) if (f.trim() !== "") names.add(flagName(f.trim()));
  return names;
}

/** Cheap first look (no /proc read): false when not switched on, already re-executed, or nothing to set here. */
export function mayReexec(runtime: PlanInput["runtime"], env: PlanInput["env"]): boolean {
  if (readSwitch(env(REEXEC_SWITCH)) !== "on" || env(REEXEC_MARKER) !== undefined) return false;
  return runtime === "bun" ? BUN_ENV.length > 0 : DENO_V8.length > 0;
}

/**
 * The variables to add for a re-exec, or undefined when none is wanted: switched off, already re-executed, or
 * everything already set by the user. The marker is part of a non-empty answer.
 */
export function planReexec(input: PlanInput): Record<string, string> | undefined {
  const { env, cmdline } = input;
  if (!mayReexec(input.runtime, env)) return undefined;
  const add: Record<string, string> = {};
  if (input.runtime === "bun") {
    for (const [name, value] of BUN_ENV) if (env(name) === undefined) add[name] = value;
  } else {
    const named = userV8Flags(env, cmdline);
    const missing = DENO_V8.filter((f) => !named.has(flagName(f)));
    const given = (env("DENO_V8_FLAGS") ?? "").trim();
    if (missing.length > 0) add.DENO_V8_FLAGS = [given, ...missing].filter((s) => s !== "").join(",");
  }
  if (Object.keys(add).length === 0) return undefined;
  add[REEXEC_MARKER] = "1";
  return add;
}
