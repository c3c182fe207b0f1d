// A Petrel server in a child process of this runtime that reports the first caller of each runtime timer
// function (test/server/fixtures/timer_trace_server.ts): on Deno 2.9 the first runtime setTimeout, setInterval
// or setImmediate loads Node's timer layer for the life of the process, +2-3 MB RSS. On Bun those globals are
// the runtime's own (the light timers run on its setTimeout): only Deno's trace says anything.
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import process from "node:process";

declare const Deno: { execPath(): string } | undefined;

export const onDeno = typeof Deno !== "undefined";

const FIXTURE = path.join(import.meta.dirname ?? ".", "..", "server", "fixtures", "timer_trace_server.ts");

export interface TracedServer {
  port: number;
  /** petrel.ports(): URLs by kind ("nats", "cluster", ...). */
  ports: Record<string, string[]>;
  /** `TIMER <name> at <stack>` lines printed so far: the runtime timers called, first call of each. */
  timers(): string[];
  /** Resolves once a line matching `re` was printed (rejects if the process ends first or after `ms`). */
  waitLine(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startTracedServer(args: string[]): Promise<TracedServer> {
  const [cmd, argv] = onDeno ? [(Deno as { execPath(): string }).execPath(), ["run", "-A", FIXTURE, ...args]] : [process.execPath, ["run", FIXTURE, ...args]];
  const child: ChildProcess = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  let exited = false;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.on("data", (d: Uint8Array) => {
    partial += new TextDecoder().decode(d);
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    notify();
  });
  child.stderr?.on("data", (d: Uint8Array) => void (stderr += new TextDecoder().decode(d)));
  const done = new Promise<void>((r) =>
    child.on("exit", () => {
      exited = true;
      notify();
      r();
    })
  );
  const waitLine = (re: RegExp, ms = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no line matching ${re} within ${ms} ms; stdout ${JSON.stringify(lines)}; stderr ${stderr}`)), ms);
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) finish(undefined, hit);
        else if (exited) finish(new Error(`the server exited before a line matching ${re}; stdout ${JSON.stringify(lines)}; stderr ${stderr}`));
      };
      const finish = (err?: Error, hit?: string) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (err !== undefined) reject(err);
        else resolve(hit as string);
      };
      waiters.add(check);
      check();
    });
  let port: number;
  let ports: Record<string, string[]>;
  try {
    port = Number((await waitLine(/^PORT \d+$/)).slice(5));
    ports = JSON.parse((await waitLine(/^PORTS /)).slice(6));
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  return {
    port,
    ports,
    timers: () => lines.filter((l) => l.startsWith("TIMER ")),
    waitLine,
    async stop() {
      if (!exited) child.kill("SIGKILL");
      await done;
    },
  };
}
