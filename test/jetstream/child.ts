// Petrel + JetStream as a child process on a given store dir (restart and kill -9 tests).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";

const FIXTURE = path.join(import.meta.dirname ?? ".", "fixtures", "petrel_js.ts");
declare const Deno: { execPath(): string } | undefined;

export interface Child {
  url: string;
  kill9(): Promise<void>;
  stop(): Promise<number | string>;
  logs(): string;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
  }
});

export async function startChild(storeDir: string, conf: string): Promise<Child> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-js-child-"));
  const confPath = path.join(dir, "server.conf");
  fs.writeFileSync(confPath, `jetstream { store_dir: "${storeDir}"\n${conf}\n}\n`);
  const args = ["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir, "-c", confPath];
  const cmd = typeof Deno !== "undefined" ? Deno.execPath() : process.execPath;
  const full = typeof Deno !== "undefined" ? ["run", "-A", FIXTURE, ...args] : ["run", FIXTURE, ...args];
  const child = spawn(cmd, full, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let out = "";
  child.stdout?.on("data", (c: Uint8Array) => (out += String(c)));
  child.stderr?.on("data", (c: Uint8Array) => (out += String(c)));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, sig) => {
      live.delete(child);
      resolve(code ?? sig ?? -1);
    })
  );
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 20_000;
  let url = "";
  while (!url) {
    if (done) throw new Error(`child exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`child did not start:\n${out}`);
    }
    const f = fs.readdirSync(dir).find((n) => n.endsWith(".ports"));
    if (f) {
      try {
        url = (JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as { nats: string[] }).nats[0];
      } catch { /* partial write */ }
    }
    if (!url) await new Promise((r) => setTimeout(r, 25));
  }
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return {
    url,
    logs: () => out,
    kill9: async () => {
      child.kill("SIGKILL");
      await exited;
      cleanup();
    },
    stop: async () => {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      cleanup();
      return code;
    },
  };
}
