/** libc's setpriority on Deno (Deno.dlopen, needs --allow-ffi); see compiler_threads.ts. Throws without it. */
import type { SetNice } from "./compiler_threads.ts";

const PRIO_PROCESS = 0;

export function openSetNice(): SetNice {
  const lib = Deno.dlopen("libc.so.6", { setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" } });
  return (tid, nice) => lib.symbols.setpriority(PRIO_PROCESS, tid, nice) === 0;
}
