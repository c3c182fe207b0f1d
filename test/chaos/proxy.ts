/**
 * A fault-injecting TCP proxy on loopback for the route links of a chaos cluster. Every ordered pair of
 * servers (i dials j) gets its own listening port that forwards to j's route port, so a pair's links can be
 * cut (open connections destroyed, new ones refused) and healed independently. A black-hole listener takes the
 * address each server advertises for gossip, so implicit routes never bypass the proxy.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

interface Pair {
  readonly from: number;
  readonly to: number;
  readonly server: Server;
  port: number;
  readonly sockets: Set<Socket>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
  });
}

export class FaultProxy {
  readonly #pairs = new Map<string, Pair>();
  readonly #cut = new Set<string>();
  #blackhole: Server | undefined;
  blackholePort = 0;

  /** Server j's real route port, set once the proxy's own ports are held (so none is handed out twice). */
  routePorts: readonly number[] = [];

  constructor(private readonly n: number) {}

  static key(a: number, b: number): string {
    return a < b ? `${a}-${b}` : `${b}-${a}`;
  }

  async start(): Promise<void> {
    const n = this.n;
    this.#blackhole = createServer((s) => s.destroy());
    this.blackholePort = await listen(this.#blackhole);
    for (let from = 0; from < n; from++) {
      for (let to = 0; to < n; to++) {
        if (from === to) continue;
        const sockets = new Set<Socket>();
        const server = createServer((client) => this.#accept(from, to, client, sockets));
        const pair: Pair = { from, to, server, port: 0, sockets };
        pair.port = await listen(server);
        this.#pairs.set(`${from}>${to}`, pair);
      }
    }
  }

  /** The port server `from` dials to reach server `to`. */
  portFor(from: number, to: number): number {
    const p = this.#pairs.get(`${from}>${to}`);
    if (!p) throw new Error(`no proxy pair ${from}>${to}`);
    return p.port;
  }

  #accept(from: number, to: number, client: Socket, sockets: Set<Socket>): void {
    if (this.#cut.has(FaultProxy.key(from, to))) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: "127.0.0.1", port: this.routePorts[to] });
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Cut every link between servers a and b (both directions) until heal(). */
  cut(a: number, b: number): void {
    this.#cut.add(FaultProxy.key(a, b));
    for (const k of [`${a}>${b}`, `${b}>${a}`]) {
      const p = this.#pairs.get(k);
      for (const s of [...(p?.sockets ?? [])]) s.destroy();
      p?.sockets.clear();
    }
  }

  heal(a: number, b: number): void {
    this.#cut.delete(FaultProxy.key(a, b));
  }

  healAll(): void {
    this.#cut.clear();
  }

  get cutPairs(): string[] {
    return [...this.#cut];
  }

  async close(): Promise<void> {
    for (const p of this.#pairs.values()) {
      for (const s of p.sockets) s.destroy();
      await new Promise<void>((r) => p.server.close(() => r()));
    }
    if (this.#blackhole) await new Promise<void>((r) => this.#blackhole!.close(() => r()));
  }
}
