/** libc's setpriority (Deno.dlopen, needs --allow-ffi) and /proc read with Deno's own API; see compiler_threads.ts. Throws without FFI. */
import type { TaskDir, ThreadOs } from "./compiler_threads.ts";

const PRIO_PROCESS = 0;

function taskDir(dir: string): TaskDir {
  return {
    list: () => [...Deno.readDirSync(dir)].map((e) => e.name),
    comm: (tid) => {
      try {
        return Promise.resolve(Deno.readTextFileSync(`${dir}/${tid}/comm`));
      } catch {
        return Promise.resolve(undefined); // the thread ended meanwhile
      }
    },
  };
}

export function openThreadOs(): ThreadOs {
  const lib = Deno.dlopen("libc.so.6", { setpriority: { parameters: ["i32", "u32", "i32"], result: "i32" } });
  return { tasks: taskDir, setNice: (tid, nice) => lib.symbols.setpriority(PRIO_PROCESS, tid, nice) === 0 };
}
