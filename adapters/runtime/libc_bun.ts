/** libc's setpriority (bun:ffi) and /proc read with Bun's own API (no node:fs); see compiler_threads.ts. Throws where libc cannot be opened. */
import { dlopen } from "bun:ffi";
import type { TaskDir, ThreadOs } from "./compiler_threads.ts";

const PRIO_PROCESS = 0;

function taskDir(dir: string): TaskDir {
  const glob = new Bun.Glob("*");
  return {
    list: () => [...glob.scanSync({ cwd: dir, onlyFiles: false, throwErrorOnBrokenSymlink: false })],
    comm: async (tid) => {
      try {
        return await Bun.file(`${dir}/${tid}/comm`).text();
      } catch {
        return undefined; // the thread ended meanwhile
      }
    },
  };
}

export function openThreadOs(): ThreadOs {
  const lib = dlopen("libc.so.6", { setpriority: { args: ["i32", "u32", "i32"], returns: "i32" } });
  return { tasks: taskDir, setNice: (tid, nice) => lib.symbols.setpriority(PRIO_PROCESS, tid, nice) === 0 };
}
