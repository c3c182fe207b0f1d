/** libc's setpriority on Bun (bun:ffi); see compiler_threads.ts. Throws where libc cannot be opened. */
import { dlopen } from "bun:ffi";
import type { SetNice } from "./compiler_threads.ts";

const PRIO_PROCESS = 0;

export function openSetNice(): SetNice {
  const lib = dlopen("libc.so.6", { setpriority: { args: ["i32", "u32", "i32"], returns: "i32" } });
  return (tid, nice) => lib.symbols.setpriority(PRIO_PROCESS, tid, nice) === 0;
}
