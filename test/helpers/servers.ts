// Starts nats-server (the reference) or Petrel as a child process on random loopback ports, so the
// same test body can run against both. Ports are discovered through --ports_file_dir, never guessed.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe } from "node:test";

export type ServerKind = "petrel" | "nats-server";

export interface StartOptions {
  /** Extra command-line flags, appended after the defaults (so they win). */
  args?: string[];
  /** Configuration text, written to a temp file and passed with -c. */
  conf?: string;
  /** Also open the HTTP monitoring port (-m -1). */
  monitor?: boolean;
  /** Enable JetStream with a store directory inside the server's temp dir (removed on stop). */
  jetstream?: boolean;
  /** Fixed client port instead of -1 (used to restart a server on the same port). */
  port?: number;
  /** How long to wait for the server to become reachable. */
  startTimeoutMs?: number;
  /** Client listen host instead of 127.0.0.1 (e.g. "::1"); readiness is checked on it (":: "/"0.0.0.0": on 127.0.0.1). */
  host?: string;
  /**
   * Called with the server's pid the moment its ports file appears (a watch on its directory, no polling): what a
   * tool may do as soon as the server says it is up, before the readiness checks here are through.
   */
  onPortsFile?: (pid: number) => void;
  /** Environment variables for the server (over this process's). */
  env?: Record<string, string>;
  /** The runtime that runs Petrel (default: the one running the test). */
  runtime?: "bun" | "deno";
  /** Working directory of the server process (default: the test's). */
  cwd?: string;
}

export interface RunningServer {
  kind: ServerKind;
  url: string;
  port: number;
  monitorUrl?: string;
  clusterPort?: number;
  /** The WebSocket port, when the server listens for WebSocket clients. */
  wsPort?: number;
  /** The leafnode listener's port, when it has one. */
  leafPort?: number;
  pid: number;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
  kill9(): Promise<void>;
  logs(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
}

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
export const MOD_TS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "mod.ts");

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Safety net: a crashed test file must not leave servers behind.
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  });
}

declare const Deno: { execPath(): string } | undefined;

const BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "node_modules", ".bin");

export function petrelCommand(runtime?: "bun" | "deno"): { cmd: string; prefix: string[] } {
  const own = typeof Deno !== "undefined" ? "deno" : "bun";
  if ((runtime ?? own) === "deno") return { cmd: own === "deno" ? Deno!.execPath() : join(BIN_DIR, "deno"), prefix: ["run", "-A", MOD_TS] };
  return { cmd: own === "bun" ? process.execPath : join(BIN_DIR, "bun"), prefix: ["run", MOD_TS] };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
  websocket?: string[];
  leafnode?: string[];
}

function readPortsFile(dir: string): PortsFile | undefined {
  const name = readdirSync(dir).find((f) => f.endsWith(".ports"));
  if (!name) return undefined;
  try {
    return JSON.parse(readFileSync(join(dir, name), "utf8")) as PortsFile;
  } catch {
    return undefined; // partially written; poll again
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

export function tcpAccepts(port: number, timeoutMs = 1000, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export async function startServer(kind: ServerKind, opts: StartOptions = {}): Promise<RunningServer> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), `petrel-test-${kind}-`));
  const host = opts.host ?? "127.0.0.1";
  const args = ["-a", host, "-p", String(opts.port ?? -1), "--ports_file_dir", dir];
  const reachAt = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  if (opts.monitor) args.push("-m", "-1");
  if (opts.jetstream) args.push("-js", "-sd", join(dir, "store"));
  if (opts.conf !== undefined) {
    const confPath = join(dir, "server.conf");
    writeFileSync(confPath, opts.conf);
    args.push("-c", confPath);
  }
  args.push(...(opts.args ?? []));

  let cmd: string;
  let fullArgs: string[];
  if (kind === "nats-server") {
    cmd = NATS_SERVER_BIN;
    fullArgs = args;
  } else {
    if (!existsSync(MOD_TS)) throw new Error(`Petrel entry ${MOD_TS} does not exist yet`);
    const p = petrelCommand(opts.runtime);
    cmd = p.cmd;
    fullArgs = [...p.prefix, ...args];
  }

  const env = opts.env === undefined ? undefined : { ...process.env, ...opts.env };
  const child = spawn(cmd, fullArgs, { stdio: ["ignore", "pipe", "pipe"], env, cwd: opts.cwd });
  live.add(child);
  let out = "";
  const append = (chunk: Buffer | string) => {
    out += chunk.toString();
    if (out.length > 200_000) out = out.slice(-100_000); // floods of trace output stay bounded
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let exitValue: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      exitValue = code ?? signal ?? -1;
      resolve(exitValue);
    });
    child.once("error", (err) => {
      live.delete(child);
      append(String(err));
      exitValue = -1;
      resolve(-1);
    });
  });

  const cleanupDir = () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch { /* best effort */ }
  };

  const kill = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (exitValue !== undefined) {
      cleanupDir();
      return;
    }
    child.kill(signal);
    const timer = setTimeout(() => {
      if (exitValue === undefined) child.kill("SIGKILL");
    }, graceMs);
    await exited;
    clearTimeout(timer);
    cleanupDir();
  };

  // Called once, by the watch on the directory or, when the watch's event is late (a loaded machine: it came after
  // the poll below had read the file and the watch was closed, and the callback never ran), by that poll.
  const onPortsFile = opts.onPortsFile;
  let portsFileSeen = false;
  const portsFileAppeared = () => {
    if (onPortsFile === undefined || portsFileSeen) return;
    portsFileSeen = true;
    watcher?.close();
    onPortsFile(child.pid ?? -1);
  };
  const watcher = onPortsFile === undefined ? undefined : watch(dir, (_event, name) => {
    if (String(name ?? "").endsWith(".ports")) portsFileAppeared();
  });
  try {
    return await ready();
  } finally {
    watcher?.close();
  }

  async function ready(): Promise<RunningServer> {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    let ports: PortsFile | undefined;
    while (Date.now() < deadline) {
      if (exitValue !== undefined) {
        cleanupDir();
        throw new Error(`${kind} exited (${exitValue}) before it was ready:\n${out}`);
      }
      ports = readPortsFile(dir);
      if (ports !== undefined) portsFileAppeared();
      if (ports?.nats?.length && (!opts.monitor || ports.monitoring?.length)) break;
      ports = undefined;
      await sleep(25);
    }
    if (!ports?.nats?.length) {
      await kill("SIGKILL", 0);
      throw new Error(`${kind}: no ports file in ${dir} after start timeout:\n${out}`);
    }
    const port = portOf(ports.nats[0]);
    while (!(await tcpAccepts(port, 500, reachAt))) {
      if (Date.now() > deadline || exitValue !== undefined) {
        await kill("SIGKILL", 0);
        throw new Error(`${kind}: client port ${port} never accepted:\n${out}`);
      }
      await sleep(25);
    }

    const monitoring = ports.monitoring?.[0];
    return {
      kind,
      url: `nats://${reachAt.includes(":") ? `[${reachAt}]` : reachAt}:${port}`,
      port,
      monitorUrl: monitoring ? `http://${reachAt.includes(":") ? `[${reachAt}]` : reachAt}:${portOf(monitoring)}` : undefined,
      clusterPort: ports.cluster?.[0] ? portOf(ports.cluster[0]) : undefined,
      wsPort: ports.websocket?.[0] ? portOf(ports.websocket[0]) : undefined,
      leafPort: ports.leafnode?.[0] ? portOf(ports.leafnode[0]) : undefined,
      pid: child.pid ?? -1,
      stop: () => kill("SIGTERM", 5000),
      kill9: () => kill("SIGKILL", 0),
      logs: () => out,
      exited,
    };
  }
}

/** Which implementations to test: PETREL_TEST_TARGETS="nats-server,petrel" (default: both). */
export function testTargets(): ServerKind[] {
  const env = process.env.PETREL_TEST_TARGETS;
  const all: ServerKind[] = ["nats-server", "petrel"];
  if (!env) return all;
  const wanted = env.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const w of wanted) {
    if (w !== "nats-server" && w !== "petrel") throw new Error(`PETREL_TEST_TARGETS: unknown target ${w}`);
  }
  return all.filter((k) => wanted.includes(k));
}

/** Declares `describe(kind, body)` once per selected target. */
export function forEachServer(kinds: ServerKind[], body: (kind: ServerKind) => void): void {
  const selected = testTargets();
  for (const kind of kinds) {
    if (!selected.includes(kind)) continue;
    describe(kind, () => body(kind));
  }
}

/** GET a monitoring endpoint and parse JSON. */
export async function monitorJson<T = Record<string, unknown>>(
  server: RunningServer,
  path: string,
): Promise<T> {
  if (!server.monitorUrl) throw new Error("server started without monitor: true");
  const res = await fetch(server.monitorUrl + path);
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export { sleep };

/** Polls `check` until it returns a truthy value or the time runs out (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/**
 * Waits until /varz reports exactly `n` client connections. startServer's readiness probe is a real TCP
 * connection, and a server may still count it for a few ms: tests about connection limits wait here first.
 */
export async function waitConnections(server: RunningServer, n: number, timeoutMs = 3000): Promise<void> {
  await waitFor(`${server.kind}: ${n} connections in /varz`, async () => {
    const v = await monitorJson<{ connections: number }>(server, "/varz");
    return v.connections === n;
  }, timeoutMs, 10);
}

/**
 * Starts several servers at once; if any fails, the ones that did start are stopped before the error is
 * rethrown (so a failed before() hook never leaks a process).
 */
export async function startServers<T extends Array<Promise<RunningServer> | undefined>>(
  ...starts: T
): Promise<{ [K in keyof T]: RunningServer | undefined }> {
  const settled = await Promise.allSettled(starts.map((p) => p ?? Promise.resolve(undefined)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const ok = settled.map((r) => (r.status === "fulfilled" ? r.value : undefined));
  if (failed) {
    await Promise.all(ok.map((s) => s?.stop()));
    throw failed.reason;
  }
  return ok as { [K in keyof T]: RunningServer | undefined };
}
