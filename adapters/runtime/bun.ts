/**
 * Runtime services on Bun. Touches `Bun` only when called, so importing this file on Deno is harmless.
 * No `node:` module is imported up front: Bun's node:fs, node:fs/promises and node:path cost ~4 MB of RSS when
 * loaded (and Deno loads them too, as this file is in its graph), and a plain start needs none of them. Files are
 * reached through `process.getBuiltinModule` when first used; stdio goes through Bun's console, which writes
 * synchronously (nothing lost at `process.exit`) and is built in.
 */
import type { FetchHandler, HttpServer, Runtime, SignalName } from "../../src/runtime/types.ts";
import type { Transport } from "../../src/transport/types.ts";
import { createBunTcpTransport } from "../../transports/tcp_bun.ts";
import { useTimerPrimitive } from "../../src/runtime/light_timers.ts";
import { useRuntimeDateText } from "../../src/runtime/clock.ts";

type NodeFs = typeof import("node:fs");
let nodeFs: NodeFs | undefined;
const fs = (): NodeFs => (nodeFs ??= process.getBuiltinModule("node:fs"));

function writeAllSync(fd: number, text: string): void {
  let buf = new TextEncoder().encode(text);
  while (buf.length > 0) buf = buf.subarray(fs().writeSync(fd, buf));
}

/** A line goes out through the console (verbatim for one string argument, which appends the newline). */
function writeStdio(fd: 1 | 2, text: string): void {
  if (text.endsWith("\n")) {
    const line = text.slice(0, -1);
    if (fd === 2) console.error(line);
    else console.log(line);
  } else writeAllSync(fd, text);
}

// Made on first use (a config file read): a TextDecoder built at load brings ~0.3 MB of Bun's code in.
let utf8Decoder: TextDecoder | undefined;
const utf8 = { decode: (b: Uint8Array): string => (utf8Decoder ??= new TextDecoder("utf-8", { ignoreBOM: true })).decode(b) };

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

/**
 * Whether Bun.mmap can read the file: a regular file with bytes in it. A named pipe or `-c <(...)` (size Infinity)
 * must be read once, by node:fs: a mapping attempt opens it and its writer's data is gone when that fails; an
 * empty file or /proc's (size 0) cannot be mapped. A stat, no open; Bun.file's size throws nothing for a missing path.
 */
function mappable(path: string): boolean {
  const size = Bun.file(path).size;
  return size > 0 && Number.isFinite(size);
}

export function createRuntime(): Runtime {
  // The idle-time timers (src/runtime/light_timers.ts) on Bun's native setTimeout, unref'd.
  useTimerPrimitive((ms, fn) => void setTimeout(fn, ms).unref());
  // Bun's own Date formatting is cheap (~0.2 MiB); utc_text's arithmetic would be JIT-compiled by a few polls.
  useRuntimeDateText();
  const appendFds = new Map<string, number>();
  let tcp: Transport | undefined;

  return {
    name: "bun",
    version: Bun.version,
    pid: process.pid,
    args: () => process.argv.slice(2),
    env: (name) => process.env[name],

    readTextFileSync(path) {
      try {
        // As readBytesFileSync: a config file read at start-up loads no node:fs (~4 MB RSS on Bun). The BOM is
        // kept, as node:fs's "utf8" keeps it; the text is decoded before the mapping can go.
        if (mappable(path)) return utf8.decode(Bun.mmap(path));
      } catch (e) {
        if (isNotFound(e)) return undefined;
      }
      try {
        return fs().readFileSync(path, "utf8");
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    readBytesFileSync(path) {
      try {
        // Bun.mmap: a synchronous read without loading node:fs (a copy, so the mapping can go with the view).
        // Mapped without mappable()'s stat first: this reads the zone file of log times at every start, and
        // Bun.file's stat brings ~0.4 MB of Bun's code in for good. A pipe named here would be opened by the
        // failed mapping before node:fs reads it (unlike readTextFileSync, which takes config files from pipes).
        return Bun.mmap(path).slice();
      } catch (e) {
        if (isNotFound(e)) return undefined;
      }
      // What mmap cannot map (an empty file, /proc, a pipe) node:fs reads; real errors throw from there.
      try {
        return new Uint8Array(fs().readFileSync(path));
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    realFilePathSync(path) {
      // Bun's module resolver gives an absolute file path with its links followed (realpath), and it is resident
      // anyway (every import runs it): ~0.06 MB of code against node:fs's readlinkSync (~3.5 MB, the module) or a
      // Bun.mmap of the file (~0.5 MB). A path it cannot resolve to a file (missing, dangling, a directory) throws.
      try {
        return Bun.resolveSync(path, "/");
      } catch {
        return undefined;
      }
    },
    // Bun.write: the ports and pid files at start without node:fs, whose module set-up runs ~40 calls of one
    // helper and gets it compiled by the baseline JIT (resident code; test/footprint/jit_free_start.test.ts).
    writeTextFile: async (path, text) => {
      await Bun.write(path, text);
    },
    removeFile: (path) => fs().promises.rm(path, { force: true }),
    async mkdir(path) {
      await fs().promises.mkdir(path, { recursive: true });
    },
    appendFile(path, text) {
      let fd = appendFds.get(path);
      if (fd === undefined) {
        fd = fs().openSync(path, "a");
        appendFds.set(path, fd);
      }
      writeAllSync(fd, text);
    },
    reopenAppendFiles() {
      for (const fd of appendFds.values()) {
        try {
          fs().closeSync(fd);
        } catch {
          // already closed
        }
      }
      appendFds.clear();
    },

    onSignal(sig: SignalName, fn: () => void) {
      process.on(sig, fn);
    },
    exit: (code) => process.exit(code),
    writeStderr: (text) => writeStdio(2, text),
    writeStdout: (text) => writeStdio(1, text),

    memoryRss: () => process.memoryUsage.rss(),
    cpuTimeMs() {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    interfaceAddresses: () =>
      Object.values(process.getBuiltinModule("node:os").networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)),

    get tcp(): Transport {
      return (tcp ??= createBunTcpTransport());
    },
    serveHttp(opts, fetch: FetchHandler): Promise<HttpServer> {
      // Plain HTTP over the client TCP transport (transports/http_lite.ts), as on Deno: Bun.serve brings its HTTP
      // server's code in when it listens, ~0.6 MB RSS for a monitoring port that is mostly idle (a start with `http`
      // from a config file, 4 runs: 37.4-37.8 MB with Bun.serve, 36.8-37.0 with this; bench/RESULTS.md "rss16").
      // Loaded with the first monitoring port. HTTPS stays with Bun.serve.
      if (opts.tls === undefined) {
        const tcp = this.tcp;
        return import("../../transports/http_lite.ts").then((m) => m.serveHttpLite(tcp, opts, fetch));
      }
      // An event stream (the dashboard's live view) is exempt from Bun's idle timeout, which cuts a streaming
      // response 10-14 s in whatever it writes (exemptEventStreams says why); loaded for an HTTPS port only.
      return import("../../transports/ws_bun.ts").then(({ exemptEventStreams }) => {
        const server = Bun.serve({
          hostname: opts.host,
          port: opts.port,
          development: false,
          reusePort: false,
          fetch: (req, srv) => exemptEventStreams(req, srv, fetch(req)) ?? new Response("Not Found", { status: 404 }),
          ...(opts.tls !== undefined ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
          error: () => new Response("Internal Server Error", { status: 500 }),
        });
        let closing: Promise<void> | undefined;
        return {
          host: server.hostname ?? opts.host,
          port: server.port ?? opts.port,
          close: () => (closing ??= Promise.resolve(server.stop(true)).then(() => {})),
        };
      });
    },
  };
}
