/**
 * The compiler-thread sweep's system calls on Bun (see compiler_threads.ts), all through one bun:ffi `dlopen` of
 * libc: `setpriority` for a thread's nice value, and `open` / `getdents64` / `read` / `close` for /proc's task
 * directory and each thread's `comm`.
 *
 * Why libc for the reads too: the sweep starts when load appears, and every part of Bun it calls stays resident
 * from then on. Bun.Glob's directory scan and Bun.file's asynchronous reads were ~0.6 MB of Bun's code (r-xp) and
 * ~1 MB of RSS in all under load on top of the FFI's own (pub-16 / fanout-16 at the end; bench/RESULTS.md,
 * `bunload`); four more libc symbols on the one dlopen cost nothing measurable. No node:fs either (~4 MB).
 * Throws where libc cannot be opened (the caller then leaves every priority as it is).
 */
import type { dlopen as Dlopen } from "bun:ffi";
import type { TaskDir, ThreadOs } from "./compiler_threads.ts";

/**
 * The runtime's own `dlopen` (`Bun.FFI.dlopen`, the native function `bun:ffi` wraps: its wrapper only turns a URL
 * into a path and throws the error the native call returns), else the module's. Importing `bun:ffi` evaluates its
 * whole JavaScript module, and the code that runs stays resident: in a bare `Bun.listen` process the module's
 * `dlopen` of these five symbols cost +2.1 MB RSS against +1.35 MB for the native one (3 runs each, bun.exe text
 * +1.85 against +1.25 MiB), and the sweep loads it under any load (bench/RESULTS.md, `rss8`).
 */
type NativeDlopen = (path: string, symbols: Parameters<typeof Dlopen>[1]) => ReturnType<typeof Dlopen> | Error;
const nativeDlopen = (Bun as unknown as { FFI?: { dlopen?: NativeDlopen } }).FFI?.dlopen;

async function dlopenFn(): Promise<typeof Dlopen> {
  if (typeof nativeDlopen === "function") {
    const open = nativeDlopen;
    return ((path: string, symbols: Parameters<typeof Dlopen>[1]) => {
      const lib = open(path, symbols);
      if (lib instanceof Error) throw lib;
      return lib;
    }) as typeof Dlopen;
  }
  return (await import("bun:ffi")).dlopen;
}

const dlopen = await dlopenFn();

/** Which `dlopen` this module uses (tests: a Bun without the native one would quietly pay the module's cost). */
export const dlopenSource: "native" | "module" = typeof nativeDlopen === "function" ? "native" : "module";

/** Opens a library as `bun:ffi`'s `dlopen` does (throws when it cannot); exported for the tests. */
export const openLibrary: typeof Dlopen = dlopen;

const PRIO_PROCESS = 0;
const O_RDONLY = 0;
/** The same on x86-64 and arm64 (O_DIRECTORY is not: it is left out, getdents64 fails on anything else anyway). */
const O_CLOEXEC = 0o2000000;
/** `struct linux_dirent64`: d_ino u64, d_off i64, d_reclen u16 at 16, d_type u8 at 18, d_name from 19 (NUL-ended). */
const RECLEN_AT = 16;
const NAME_AT = 19;

type Libc = ReturnType<typeof openLibc>;

function openLibc() {
  return dlopen("libc.so.6", {
    setpriority: { args: ["i32", "u32", "i32"], returns: "i32" },
    open: { args: ["ptr", "i32"], returns: "i32" },
    getdents64: { args: ["i32", "ptr", "u64"], returns: "i64" },
    read: { args: ["i32", "ptr", "u64"], returns: "i64" },
    close: { args: ["i32"], returns: "i32" },
  }).symbols;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const cPath = (path: string): Uint8Array => enc.encode(`${path}\0`);

/** The names in a directory (`.` and `..` left out); throws when it cannot be opened. */
export function listDir(libc: Libc, dir: string, buf: Uint8Array): string[] {
  const fd = libc.open(cPath(dir), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new Error(`cannot open ${dir}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const names: string[] = [];
  try {
    for (;;) {
      const n = Number(libc.getdents64(fd, buf, buf.byteLength));
      if (n < 0) throw new Error(`cannot read ${dir}`);
      if (n === 0) return names;
      for (let at = 0; at < n;) {
        const reclen = view.getUint16(at + RECLEN_AT, true);
        const end = buf.indexOf(0, at + NAME_AT);
        const name = dec.decode(buf.subarray(at + NAME_AT, end));
        if (name !== "." && name !== "..") names.push(name);
        at += reclen;
      }
    }
  } finally {
    libc.close(fd);
  }
}

/** A small file's text (one read: /proc's `comm` is at most 16 bytes), undefined when it cannot be opened or read. */
export function readSmall(libc: Libc, path: string, buf: Uint8Array): string | undefined {
  const fd = libc.open(cPath(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return undefined; // the thread ended meanwhile
  try {
    const n = Number(libc.read(fd, buf, buf.byteLength));
    return n < 0 ? undefined : dec.decode(buf.subarray(0, n));
  } finally {
    libc.close(fd);
  }
}

export function openThreadOs(): ThreadOs {
  const libc = openLibc();
  const dirBuf = new Uint8Array(8192);
  const fileBuf = new Uint8Array(256);
  const tasks = (dir: string): TaskDir => ({
    list: () => listDir(libc, dir, dirBuf),
    comm: (tid) => Promise.resolve(readSmall(libc, `${dir}/${tid}/comm`, fileBuf)),
  });
  return { tasks, setNice: (tid, nice) => libc.setpriority(PRIO_PROCESS, tid, nice) === 0 };
}
