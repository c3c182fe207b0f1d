/** Runtime services on Deno. Touches `Deno` only when called, so importing this file on Bun is harmless. */
import type { FetchHandler, HttpServer, Runtime, SignalName } from "../../src/runtime/types.ts";
import type { Transport } from "../../src/transport/types.ts";
import { createDenoTcpTransport } from "../../transports/tcp_deno.ts";
import { useSlabs } from "../../src/server/small_bytes.ts";
import { useTurnPrimitive } from "../../src/runtime/light_timers.ts";
import { messageChannelTurns } from "./message_turns.ts";

const encoder = new TextEncoder();

function writeAllSync(w: { writeSync(p: Uint8Array): number }, text: string): void {
  let buf = encoder.encode(text);
  while (buf.length > 0) buf = buf.subarray(w.writeSync(buf));
}

/** What `read` returns, or undefined when the file does not exist; other errors throw. */
function unlessMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export function createRuntime(): Runtime {
  // Every typed array V8 allocates here gets its own backing store (~0.45 us, any size): the per-message small
  // arrays come from slabs instead (src/server/small_bytes.ts).
  useSlabs(true);
  // The next turn of what light clocks schedule (the input gate's replay after a stall): Deno's setImmediate is
  // Node's timer layer, loaded for the life of the process at its first call (message_turns.ts).
  useTurnPrimitive(messageChannelTurns());
  const appendFiles = new Map<string, Deno.FsFile>();
  let tcp: Transport | undefined;

  return {
    name: "deno",
    version: Deno.version.deno,
    pid: Deno.pid,
    args: () => [...Deno.args],
    env(name) {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined; // no --allow-env: behave as unset
      }
    },

    readTextFileSync: (path) => unlessMissing(() => Deno.readTextFileSync(path)),
    readBytesFileSync: (path) => unlessMissing(() => Deno.readFileSync(path)),
    realFilePathSync(path) {
      try {
        const real = Deno.realPathSync(path);
        return Deno.statSync(real).isFile ? real : undefined;
      } catch {
        return undefined;
      }
    },
    writeTextFile: (path, text) => Deno.writeTextFile(path, text),
    async removeFile(path) {
      try {
        await Deno.remove(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    },
    mkdir: (path) => Deno.mkdir(path, { recursive: true }),
    appendFile(path, text) {
      let f = appendFiles.get(path);
      if (f === undefined) {
        f = Deno.openSync(path, { append: true, create: true });
        appendFiles.set(path, f);
      }
      writeAllSync(f, text);
    },
    reopenAppendFiles() {
      for (const f of appendFiles.values()) {
        try {
          f.close();
        } catch {
          // already closed
        }
      }
      appendFiles.clear();
    },

    onSignal(sig: SignalName, fn: () => void) {
      Deno.addSignalListener(sig, fn);
    },
    exit: (code) => Deno.exit(code),
    writeStderr: (text) => writeAllSync(Deno.stderr, text),
    writeStdout: (text) => writeAllSync(Deno.stdout, text),

    memoryRss: () => Deno.memoryUsage().rss,
    interfaceAddresses: () => Deno.networkInterfaces().map((i) => i.address),

    get tcp(): Transport {
      return (tcp ??= createDenoTcpTransport());
    },
    serveHttp(opts, fetch: FetchHandler): Promise<HttpServer> {
      // Plain HTTP over the client TCP transport (transports/http_lite.ts): Deno.serve costs +2.2 MB RSS once it
      // listens, for a monitoring port that is mostly idle. HTTPS stays with Deno.serve.
      // Loaded with the first monitoring port, not at every start (a plain start was +12-18 ms and +1 MB with it).
      if (opts.tls === undefined) {
        const tcp = this.tcp;
        return import("../../transports/http_lite.ts").then((m) => m.serveHttpLite(tcp, opts, fetch));
      }
      try {
        const server = Deno.serve({
          hostname: opts.host,
          port: opts.port,
          onListen() {}, // quiet: no "Listening on" banner
          ...(opts.tls !== undefined ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
          onError: () => new Response("Internal Server Error", { status: 500 }),
        }, fetch);
        const addr = server.addr;
        let closing: Promise<void> | undefined;
        return Promise.resolve({
          host: addr.hostname,
          port: addr.port,
          close: () => (closing ??= server.shutdown()),
        });
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}
