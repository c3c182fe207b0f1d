// What the store benchmarks share about a server run as a child process: the command line for nats-server or
// Petrel on Bun/Deno, start (time to the first accepted connection) and stop, one raw STREAM.INFO request, and
// the RSS of the process and its children (a runtime may fork helpers) from /proc.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { readFileSync } from "node:fs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The argv that runs `which` (nats-server, bun or deno) with nats-server flags `args`. */
export function serverCommand(which, args) {
  if (which === "nats-server") return ["/usr/sbin/nats-server", ...args];
  if (which === "deno") return ["node_modules/.bin/deno", "run", "-A", "mod.ts", ...args];
  return ["node_modules/.bin/bun", "run", "mod.ts", ...args];
}

export function tryConnect(port) {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * One raw `$JS.API.STREAM.INFO.<stream>` request: the stream's message count once it answers with its state,
 * false when nobody answers within `waitMs` (before the store is loaded) or it answers with an error.
 */
export function streamInfo(port, stream, waitMs) {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let buf = "";
    s.setEncoding("latin1");
    s.once("error", () => resolve(false));
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, waitMs);
    s.on("data", (d) => {
      buf += d;
      const m = buf.match(/"messages":(\d+)/);
      if (m) {
        clearTimeout(t);
        s.destroy();
        resolve(Number(m[1]));
      } else if (buf.includes("\"error\"")) {
        clearTimeout(t);
        s.destroy();
        resolve(false);
      }
    });
    s.once("connect", () => {
      s.write(`CONNECT {"verbose":false}\r\nSUB _I.x 1\r\nPUB $JS.API.STREAM.INFO.${stream} _I.x 0\r\n\r\n`);
    });
  });
}

/** RSS in bytes of `pid` and all its descendants. */
export function rssOfTree(pid) {
  let total = 0;
  const kids = (p) => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
        .flatMap((k) => [k, ...kids(k)]);
    } catch {
      return [];
    }
  };
  for (const p of [pid, ...kids(pid)]) {
    try {
      const m = readFileSync(`/proc/${p}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      if (m) total += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return total;
}

export const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;

/** Spawns `cmd` and waits until `port` accepts: `accept` is the time that took (ms), `t0` the spawn time. */
export async function startServer(cmd, port) {
  const t0 = performance.now();
  const p = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
  while (!(await tryConnect(port))) await sleep(2);
  return { p, accept: performance.now() - t0, t0 };
}

export async function stopServer(p) {
  p.kill("SIGTERM");
  await new Promise((r) => p.once("exit", r));
}
