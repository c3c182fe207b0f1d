/**
 * The chaos cluster: N real Petrel processes (JetStream, file store) whose route links all go through a
 * FaultProxy, with fixed client ports (clients fail over and come back) and store directories that survive
 * kill -9 and restarts. Signals go to one process id at a time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { freePort } from "../helpers/ports.ts";
import { FaultProxy } from "./proxy.ts";

export type NodeState = "up" | "frozen" | "down";

export class ChaosCluster {
  readonly names: string[];
  readonly clientPorts: number[] = [];
  readonly routePorts: number[] = [];
  readonly servers: Array<RunningServer | undefined>;
  readonly state: NodeState[];
  proxy!: FaultProxy;
  readonly dir: string;

  constructor(readonly size: number, readonly keepDir = false) {
    this.names = Array.from({ length: size }, (_, i) => `c${i + 1}`);
    this.servers = new Array(size).fill(undefined);
    this.state = new Array(size).fill("down");
    this.dir = mkdtempSync(join(tmpdir(), "petrel-chaos-"));
  }

  storeDir(i: number): string {
    return join(this.dir, this.names[i]);
  }

  get clientUrls(): string[] {
    return this.clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  }

  #conf(i: number): string {
    const routes: string[] = [];
    for (let j = 0; j < this.size; j++) if (j !== i) routes.push(`nats://127.0.0.1:${this.proxy.portFor(i, j)}`);
    return `
server_name: ${this.names[i]}
jetstream { store_dir: "${this.storeDir(i)}" }
cluster {
  name: chaos
  listen: 127.0.0.1:${this.routePorts[i]}
  advertise: 127.0.0.1:${this.proxy.blackholePort}
  routes: [${routes.join(", ")}]
}
`;
  }

  async start(): Promise<void> {
    this.proxy = new FaultProxy(this.size);
    await this.proxy.start();
    for (let i = 0; i < this.size; i++) {
      this.clientPorts.push(await freePort());
      this.routePorts.push(await freePort());
    }
    this.proxy.routePorts = this.routePorts;
    await Promise.all(this.names.map(async (_, i) => {
      for (let attempt = 1;; attempt++) {
        try {
          return await this.restart(i, 1);
        } catch (e) {
          // A port picked as free was taken meanwhile (the machine is shared): new ones, before any client knows.
          if (attempt >= 3 || !/Failed to listen|AddrInUse|EADDRINUSE|address already in use/i.test(String(e))) throw e;
          this.clientPorts[i] = await freePort();
          this.routePorts[i] = await freePort();
        }
      }
    }));
  }

  /** Starts server i again on its ports; a port held by someone else for a moment is tried again. */
  async restart(i: number, attempts = 5): Promise<void> {
    if (this.state[i] !== "down") throw new Error(`${this.names[i]} is ${this.state[i]}, not down`);
    for (let attempt = 1;; attempt++) {
      try {
        this.servers[i] = await startServer("petrel", {
          conf: this.#conf(i),
          port: this.clientPorts[i],
          monitor: true,
          startTimeoutMs: 30_000,
        });
        break;
      } catch (e) {
        if (attempt >= attempts || !/Failed to listen|AddrInUse|EADDRINUSE|address already in use/i.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    this.state[i] = "up";
  }

  async kill9(i: number): Promise<void> {
    const s = this.servers[i];
    if (this.state[i] === "frozen" && s) process.kill(s.pid, "SIGCONT");
    await s?.kill9();
    this.servers[i] = undefined;
    this.state[i] = "down";
  }

  async stop(i: number): Promise<void> {
    const s = this.servers[i];
    if (this.state[i] === "frozen" && s) process.kill(s.pid, "SIGCONT");
    await s?.stop();
    this.servers[i] = undefined;
    this.state[i] = "down";
  }

  freeze(i: number): void {
    const s = this.servers[i];
    if (this.state[i] !== "up" || !s) throw new Error(`${this.names[i]} is ${this.state[i]}, cannot freeze`);
    process.kill(s.pid, "SIGSTOP");
    this.state[i] = "frozen";
  }

  thaw(i: number): void {
    const s = this.servers[i];
    if (this.state[i] !== "frozen" || !s) return;
    process.kill(s.pid, "SIGCONT");
    this.state[i] = "up";
  }

  async monitor<T>(i: number, path: string, timeoutMs = 2000): Promise<T | undefined> {
    const s = this.servers[i];
    if (!s?.monitorUrl || this.state[i] !== "up") return undefined;
    try {
      const res = await fetch(s.monitorUrl + path, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 200) return undefined;
      return (await res.json()) as T;
    } catch {
      return undefined;
    }
  }

  /** Everything back: links healed, frozen thawed, dead restarted. */
  async recoverAll(): Promise<void> {
    this.proxy.healAll();
    for (let i = 0; i < this.size; i++) this.thaw(i);
    for (let i = 0; i < this.size; i++) if (this.state[i] === "down") await this.restart(i);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.names.map((_, i) => this.stop(i).catch(() => {})));
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.size; i++) await this.kill9(i).catch(() => {});
    await this.proxy?.close();
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  logs(i: number): string {
    return this.servers[i]?.logs() ?? "";
  }
}
