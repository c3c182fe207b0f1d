/**
 * The CLI's first step when `PETREL_REEXEC=1`: replace this process by itself with the runtime options of
 * reexec_plan.ts in the environment, so that they are in effect from the runtime's start (they cannot be set later).
 *
 * Only mod.ts's main calls it (never an embedder's import), only on Linux, before anything is served or written.
 * `execve` keeps the PID, the open standard streams and the parent: a process manager, a pid file and the bench's
 * RSS reading all see the one process, under its name (see `execFile`). The new image gets the same command line
 * and the same environment as this one was started with (/proc/self/cmdline and /proc/self/environ: what the
 * launcher gave, also for a `bun build --compile` / `deno compile` binary, not what the runtime added since, such
 * as `bun run`'s npm_* variables) plus what the plan adds and a marker.
 * Best effort: if anything is missing (not Linux, no FFI permission on Deno, execve failing) it returns and the
 * server starts in this process with the runtime's defaults.
 *
 * No imports of `node:` or `bun:` modules: Bun's `process.execve` is a global, Deno's FFI (`Deno.dlopen`) too.
 */
import { mayReexec, planReexec } from "./reexec_plan.ts";

/** A NUL-separated /proc file (cmdline, environ) as strings. */
function splitNul(bytes: Uint8Array): string[] {
  const parts = new TextDecoder().decode(bytes).split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** `NAME=value` entries as a map (the first `=` splits; a later duplicate name wins, as getenv's callers see it). */
function environMap(entries: string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of entries) {
    const i = e.indexOf("=");
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  return env;
}

/** What the new image gets: the start environment with the plan's additions (set or replaced). */
function nextEnviron(env: Map<string, string>, add: Record<string, string>): Map<string, string> {
  const next = new Map(env);
  for (const [k, v] of Object.entries(add)) next.set(k, v);
  return next;
}

/**
 * The file to execute: the running executable, by the path it was started with when that path (with a `/`) names
 * it, so that the process keeps its name (`comm`: `bun`, `deno`, the compiled binary's name; through /proc/self/exe
 * it would become `exe`), else by its real path.
 */
async function execFile(
  argv0: string,
  execPath: string,
  sameFile: (a: string, b: string) => Promise<boolean> | boolean,
): Promise<string> {
  if (!argv0.includes("/")) return execPath;
  try {
    return (await sameFile(argv0, execPath)) ? argv0 : execPath;
  } catch {
    return execPath;
  }
}

interface BunProcess {
  platform: string;
  env: Record<string, string | undefined>;
  execPath: string;
  execve?: (file: string, args: string[], env: Record<string, string>) => never;
}

async function reexecBun(): Promise<void> {
  const proc = (globalThis as unknown as { process?: BunProcess }).process;
  if (proc === undefined || proc.platform !== "linux" || typeof proc.execve !== "function") return;
  if (!mayReexec("bun", (n) => proc.env[n])) return; // the re-executed process (or opted out) reads no /proc
  const [cmdBytes, envBytes] = await Promise.all([
    Bun.file("/proc/self/cmdline").bytes(),
    Bun.file("/proc/self/environ").bytes(),
  ]);
  const cmdline = splitNul(cmdBytes);
  const env = environMap(splitNul(envBytes));
  const add = planReexec({ runtime: "bun", env: (n) => env.get(n), cmdline });
  if (add === undefined || cmdline.length === 0) return;
  const sameFile = async (a: string, b: string) => {
    const [x, y] = await Promise.all([Bun.file(a).stat(), Bun.file(b).stat()]);
    return x.ino === y.ino && x.dev === y.dev;
  };
  const file = await execFile(cmdline[0], proc.execPath, sameFile);
  proc.execve(file, cmdline, Object.fromEntries(nextEnviron(env, add)));
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(desc).state === "granted";
}

async function reexecDeno(): Promise<void> {
  if (Deno.build.os !== "linux") return;
  if (granted({ name: "env" }) && !mayReexec("deno", (n) => Deno.env.get(n))) return; // re-executed, or opted out
  // Never a permission prompt: without /proc read and FFI rights there is no re-exec.
  if (!granted({ name: "read", path: "/proc/self" }) || !granted({ name: "ffi" })) return;
  const cmdline = splitNul(Deno.readFileSync("/proc/self/cmdline"));
  const env = environMap(splitNul(Deno.readFileSync("/proc/self/environ")));
  const add = planReexec({ runtime: "deno", env: (n) => env.get(n), cmdline });
  if (add === undefined || cmdline.length === 0) return;
  const enc = new TextEncoder();
  const keep: Uint8Array[] = []; // the strings must stay alive until execve has copied them
  const cstr = (s: string): Uint8Array<ArrayBuffer> => {
    const b = enc.encode(`${s}\0`);
    keep.push(b);
    return b;
  };
  const array = (list: string[]): BigUint64Array<ArrayBuffer> => {
    const a = new BigUint64Array(list.length + 1); // NULL-terminated
    list.forEach((s, i) => {
      a[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(cstr(s))));
    });
    return a;
  };
  const sameFile = (a: string, b: string) => {
    const x = Deno.statSync(a);
    const y = Deno.statSync(b);
    return x.ino === y.ino && x.dev === y.dev;
  };
  const file = await execFile(cmdline[0], Deno.execPath(), sameFile);
  const envList = [...nextEnviron(env, add)].map(([k, v]) => `${k}=${v}`);
  const libc = Deno.dlopen("libc.so.6", { execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" } });
  libc.symbols.execve(cstr(file), array(cmdline), array(envList));
  libc.close(); // execve returned: it failed; carry on as we are
}

/** Re-exec with the runtime options when they are not in effect yet; returns when there is none (or it failed). */
export async function reexecWithRuntimeOptions(): Promise<void> {
  try {
    if (typeof Bun !== "undefined") await reexecBun();
    else if (typeof Deno !== "undefined") await reexecDeno();
  } catch {
    // Best effort by design (see the header): the server runs with the runtime's defaults.
  }
}
