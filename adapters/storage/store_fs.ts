/**
 * The synchronous file calls the storage layer makes, in node:fs's shapes, without node:fs on Deno.
 *
 * Why: importing node:fs costs Deno ~7.5 MB of RSS (its Node compatibility layer: a bare Deno process 34 -> 41.5 MB),
 * and the file store was what loaded it in a JetStream server, so every JetStream server on Deno paid it, idle or
 * under load. On Deno these are Deno's own file calls behind the same signatures, open files as numeric handles of
 * this module's own; on Bun they are node:fs itself (native there), reached on first use.
 *
 * Only the shapes the storage layer uses; errors keep node's `code` (Deno's errors carry it too: `ENOENT`, `EEXIST`).
 */

export interface StoreFs {
  /** "a+": read anywhere, writes append (created if missing); "r": read; "w": write from empty (created). */
  openSync(path: string, flags: "a+" | "r" | "w"): number;
  closeSync(fd: number): void;
  /** Reads up to `len` bytes at file offset `pos` into `buf[off..]`; the count read (short at the end of file). */
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number;
  /** Writes `buf[off, off + len)` (all of `buf` without them) at the file's position (the end, for "a+"). */
  writeSync(fd: number, buf: Uint8Array, off?: number, len?: number): number;
  fsyncSync(fd: number): void;
  /** fsync on the runtime's I/O threads. */
  fsync(fd: number, done: (err: Error | null) => void): void;
  fstatSync(fd: number): { size: number };
  statSync(path: string): { size: number; isDirectory(): boolean };
  truncateSync(path: string, len: number): void;
  mkdirSync(path: string, opts: { recursive: true }): void;
  readdirSync(path: string): string[];
  readFileSync(path: string, encoding: "utf8"): string;
  writeFileSync(path: string, data: string | Uint8Array): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, opts: { force?: boolean; recursive?: boolean }): void;
  rmdirSync(path: string): void;
  existsSync(path: string): boolean;
}

/** The largest buffer whose ranged-write view writeSync keeps for the next call (the file store's batch is 272 KiB). */
const VIEW_CACHE_MAX = 512 * 1024;

/** Deno's file calls behind StoreFs. */
function denoFs(): StoreFs {
  const files = new Map<number, Deno.FsFile>();
  let next = 1;
  const file = (fd: number): Deno.FsFile => {
    const f = files.get(fd);
    if (f === undefined) throw Object.assign(new Error(`EBADF: bad file handle ${fd}`), { code: "EBADF" });
    return f;
  };
  const notFound = (e: unknown) => e instanceof Deno.errors.NotFound;
  /** The last range writeSync wrote: `view` is `viewOf[viewOff, viewOff + view.length)`. */
  let viewOf: Uint8Array | undefined;
  let viewOff = 0;
  let view: Uint8Array = new Uint8Array(0);
  return {
    openSync(path, flags) {
      const opts: Deno.OpenOptions = flags === "a+"
        ? { read: true, append: true, create: true }
        : flags === "r"
        ? { read: true }
        : { write: true, create: true, truncate: true };
      const fd = next++;
      files.set(fd, Deno.openSync(path, opts));
      return fd;
    },
    closeSync(fd) {
      const f = file(fd);
      files.delete(fd);
      f.close();
    },
    readSync(fd, buf, off, len, pos) {
      const f = file(fd);
      f.seekSync(pos, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const n = f.readSync(buf.subarray(off + got, off + len));
        if (n === null || n === 0) break;
        got += n;
      }
      return got;
    },
    writeSync(fd, buf, off = 0, len = buf.length - off) {
      if (off === 0 && len === buf.length) return file(fd).writeSync(buf);
      // Deno's writeSync takes no range: one view per range, kept while the same range of the same buffer is
      // written again (the file store writes its batch buffer from 0, and a sync publisher's batches are all one
      // length: a view per publish was ~100 B of Deno's ~3 KB of garbage per sync publish). A buffer larger than
      // the store's batch (one record's own) is not kept alive by the cache.
      if (buf.byteLength > VIEW_CACHE_MAX) return file(fd).writeSync(buf.subarray(off, off + len));
      if (buf !== viewOf || off !== viewOff || len !== view.length) {
        viewOf = buf;
        viewOff = off;
        view = buf.subarray(off, off + len);
      }
      return file(fd).writeSync(view);
    },
    fsyncSync(fd) {
      file(fd).syncSync();
    },
    fsync(fd, done) {
      let f: Deno.FsFile;
      try {
        f = file(fd);
      } catch (e) {
        queueMicrotask(() => done(e as Error));
        return;
      }
      f.sync().then(() => done(null), (e: Error) => done(e));
    },
    fstatSync(fd) {
      return { size: file(fd).statSync().size };
    },
    statSync(path) {
      const st = Deno.statSync(path);
      return { size: st.size, isDirectory: () => st.isDirectory };
    },
    truncateSync(path, len) {
      Deno.truncateSync(path, len);
    },
    mkdirSync(path, opts) {
      Deno.mkdirSync(path, opts);
    },
    readdirSync(path) {
      return Array.from(Deno.readDirSync(path), (e) => e.name);
    },
    readFileSync(path) {
      return Deno.readTextFileSync(path);
    },
    writeFileSync(path, data) {
      if (typeof data === "string") Deno.writeTextFileSync(path, data);
      else Deno.writeFileSync(path, data);
    },
    renameSync(from, to) {
      Deno.renameSync(from, to);
    },
    rmSync(path, opts) {
      try {
        Deno.removeSync(path, { recursive: opts.recursive === true });
      } catch (e) {
        if (!(opts.force === true && notFound(e))) throw e;
      }
    },
    rmdirSync(path) {
      Deno.removeSync(path);
    },
    existsSync(path) {
      try {
        Deno.statSync(path);
        return true;
      } catch {
        return false;
      }
    },
  };
}

let impl: StoreFs | undefined;

/** The storage layer's file calls (built on first use). */
export function storeFs(): StoreFs {
  if (impl !== undefined) return impl;
  impl = typeof Deno !== "undefined" ? denoFs() : process.getBuiltinModule("node:fs") as unknown as StoreFs;
  return impl;
}

/**
 * POSIX `path.join` (node:path's result: non-empty parts joined by "/", then ".", ".." and repeated slashes
 * resolved; "." when nothing is left; a trailing slash kept), so that the storage layer needs no node:path on Deno
 * (node:path and node:os are another ~2 MB there).
 */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p.length > 0).join("/");
  if (joined.length === 0) return ".";
  const absolute = joined.startsWith("/");
  const trailing = joined.endsWith("/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(seg);
  }
  let p = out.join("/");
  if (p.length === 0 && !absolute) p = ".";
  if (p.length > 0 && trailing) p += "/";
  return absolute ? "/" + p : p;
}

/** POSIX `path.dirname`. */
export function dirName(p: string): string {
  if (p.length === 0) return ".";
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const i = p.lastIndexOf("/", end - 1);
  if (i < 0) return ".";
  if (i === 0) return "/";
  return p.slice(0, i);
}

/** `os.tmpdir()` on POSIX: TMPDIR, TMP or TEMP, else /tmp, without a trailing slash. */
export function tmpDir(): string {
  const env = (k: string): string | undefined =>
    typeof Deno !== "undefined" ? Deno.env.get(k) : (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[k];
  let d = env("TMPDIR") || env("TMP") || env("TEMP") || "/tmp";
  if (d.length > 1 && d.endsWith("/")) d = d.slice(0, -1);
  return d;
}
