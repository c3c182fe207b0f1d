/** Runtime services on Bun. Touches `Bun` only when called, so importing this file on Deno is harmless. */
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import process from "node:process";
import type { FetchHandler, HttpServer, Runtime, SignalName } from "../../src/runtime/types.ts";
import type { Transport } from "../../src/transport/types.ts";
import { createBunTcpTransport } from "../../transports/tcp_bun.ts";

function writeAllSync(fd: number, text: string): void {
  let buf = new TextEncoder().encode(text);
  while (buf.length > 0) buf = buf.subarray(writeSync(fd, buf));
}

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ENOENT";
}

export function createBunRuntime(): Runtime {
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
        return readFileSync(path, "utf8");
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    writeTextFile: (path, text) => writeFile(path, text),
    removeFile: (path) => rm(path, { force: true }),
    async mkdir(path) {
      await mkdir(path, { recursive: true });
    },
    appendFile(path, text) {
      let fd = appendFds.get(path);
      if (fd === undefined) {
        fd = openSync(path, "a");
        appendFds.set(path, fd);
      }
      writeAllSync(fd, text);
    },
    reopenAppendFiles() {
      for (const fd of appendFds.values()) {
        try {
          closeSync(fd);
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
    writeStderr: (text) => writeAllSync(2, text),
    writeStdout: (text) => writeAllSync(1, text),

    get tcp(): Transport {
      return (tcp ??= createBunTcpTransport());
    },
    serveHttp(opts, fetch: FetchHandler): Promise<HttpServer> {
      try {
        const server = Bun.serve({
          hostname: opts.host,
          port: opts.port,
          development: false,
          reusePort: false,
          fetch,
          ...(opts.tls !== undefined ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
          error: () => new Response("Internal Server Error", { status: 500 }),
        });
        let closing: Promise<void> | undefined;
        return Promise.resolve({
          host: server.hostname ?? opts.host,
          port: server.port ?? opts.port,
          close: () => (closing ??= Promise.resolve(server.stop(true)).then(() => {})),
        });
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}
