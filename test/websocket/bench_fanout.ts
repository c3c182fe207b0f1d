// WebSocket fan-out benchmark: 1 TCP publisher, N browser-style WebSocket subscribers (the runtime's own
// WebSocket client, binary frames), 128-byte messages, against nats-server's websocket listener and Petrel in
// one run. The publisher keeps a bounded window ahead of the slowest subscriber, so the figure is the
// sustainable delivered rate (no slow-consumer drops). Usage (results go to bench/websocket.md):
//   node_modules/.bin/bun test/websocket/bench_fanout.ts [subscribers=100] [seconds=5] [rounds=3]
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SUBS = Number(process.argv[2] ?? 100);
const SECONDS = Number(process.argv[3] ?? 5);
const SIZE = 128;
const BATCH = 1000;
const WINDOW = 20000;
const ROOT = fileURLToPath(new URL("../../", import.meta.url).href);
const BUN = join(ROOT, "node_modules/.bin/bun");
const DENO = join(ROOT, "node_modules/.bin/deno");
/** "MSG bench 1 128\r\n" + payload + "\r\n" */
const FRAME_BYTES = `MSG bench 1 ${SIZE}\r\n`.length + SIZE + 2;

interface Target {
  name: string;
  start(): Promise<{ tcp: number; ws: number; child: ChildProcess; cleanup(): void }>;
}

/** Resolves once the child's combined output matches every pattern. */
function waitOutput(child: ChildProcess, res: RegExp[]): Promise<RegExpExecArray[]> {
  return new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const on = (d: Uint8Array) => {
      out += new TextDecoder().decode(d);
      const ms = res.map((re) => re.exec(out));
      if (ms.every((m) => m !== null)) {
        clearTimeout(t);
        resolve(ms as RegExpExecArray[]);
      }
    };
    child.stdout?.on("data", on);
    child.stderr?.on("data", on);
  });
}

const natsServer: Target = {
  name: "nats-server 2.9.10",
  async start() {
    const dir = mkdtempSync(join(tmpdir(), "wsbench-"));
    const conf = join(dir, "ns.conf");
    writeFileSync(conf, "host: 127.0.0.1\nport: -1\nwebsocket { host: 127.0.0.1, port: -1, no_tls: true }\n");
    const child = spawn("/usr/sbin/nats-server", ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    const [ws, tcp] = await waitOutput(child, [
      /websocket clients on ws:\/\/[^:]+:(\d+)/,
      /client connections on [^:]+:(\d+)/,
    ]);
    return {
      tcp: Number(tcp[1]),
      ws: Number(ws[1]),
      child,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

function petrel(runtime: "bun" | "deno"): Target {
  return {
    name: `Petrel on ${runtime === "bun" ? "Bun" : "Deno"}`,
    async start() {
      const script = join(ROOT, "test/websocket/bench_server.ts");
      const child = runtime === "bun"
        ? spawn(BUN, ["run", script], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
        : spawn(DENO, ["run", "-A", script], {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, NO_COLOR: "1" },
        });
      const [m] = await waitOutput(child, [/\{"tcp":(\d+),"ws":(\d+)\}/]);
      return { tcp: Number(m[1]), ws: Number(m[2]), child, cleanup: () => {} };
    },
  };
}

interface Sub {
  ws: WebSocket;
  bytes: number;
}

async function subscriber(port: number): Promise<Sub> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  ws.binaryType = "arraybuffer";
  const s: Sub = { ws, bytes: 0 };
  await new Promise<void>((resolve, reject) => {
    let text = "";
    ws.onerror = () => reject(new Error("ws error"));
    ws.onmessage = (e) => {
      text += new TextDecoder().decode(e.data as ArrayBuffer);
      if (text.startsWith("INFO ") && !text.includes("PONG")) {
        ws.send(
          new TextEncoder().encode(
            'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nSUB bench 1\r\nPING\r\n',
          ),
        );
      }
      if (text.includes("PONG\r\n")) {
        ws.onmessage = (ev) => void (s.bytes += (ev.data as ArrayBuffer).byteLength);
        resolve();
      }
    };
  });
  return s;
}

function publisher(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: "127.0.0.1", port }, () => {
      sock.write('CONNECT {"verbose":false,"pedantic":false}\r\n');
      resolve(sock);
    });
    sock.setNoDelay(true);
    sock.on("data", () => {});
    sock.once("error", reject);
  });
}

async function run(t: Target): Promise<number> {
  const srv = await t.start();
  const subs: Sub[] = [];
  try {
    for (let i = 0; i < SUBS; i++) subs.push(await subscriber(srv.ws));
    const pub = await publisher(srv.tcp);
    const one = `PUB bench ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`;
    const batch = new TextEncoder().encode(one.repeat(BATCH));
    const delivered = () => subs.reduce((n, s) => n + s.bytes, 0) / FRAME_BYTES;
    const slowest = () => Math.min(...subs.map((s) => s.bytes)) / FRAME_BYTES;
    let sent = 0;
    let startAt = 0, startCount = 0;
    const warmUntil = performance.now() + 1000;
    const endAt = warmUntil + SECONDS * 1000;
    for (;;) {
      const now = performance.now();
      if (startAt === 0 && now >= warmUntil) {
        startAt = now;
        startCount = delivered();
      }
      if (now >= endAt) break;
      if (sent - slowest() < WINDOW) {
        pub.write(batch);
        sent += BATCH;
      } else {
        await new Promise((r) => setTimeout(r, 0));
      }
      // Let socket events run between batches.
      await new Promise((r) => setImmediate(r));
    }
    const rate = (delivered() - startCount) / ((performance.now() - startAt) / 1000);
    pub.destroy();
    return rate;
  } finally {
    for (const s of subs) s.ws.close();
    srv.child.kill("SIGKILL");
    srv.cleanup();
  }
}

// Rounds rotate the order so that load from elsewhere on the machine does not favour one target; the
// median of each target's rounds is reported.
const ROUNDS = Number(process.argv[4] ?? 3);
const targets = [natsServer, petrel("bun"), petrel("deno")];
const rates = new Map<string, number[]>(targets.map((t) => [t.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < targets.length; k++) {
    const t = targets[(k + r) % targets.length];
    const rate = await run(t);
    rates.get(t.name)!.push(rate);
    console.log(`round ${r + 1}: ${t.name.padEnd(20)} ${fmt(rate).padStart(12)} msgs/s delivered`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(rates.get(natsServer.name)!);
console.log("\nmedian delivered rate");
for (const t of targets) {
  const m = median(rates.get(t.name)!);
  console.log(`${t.name.padEnd(20)} ${fmt(m).padStart(12)} msgs/s  ${(m / base).toFixed(2)}x nats-server`);
}
console.log(
  `(${SUBS} WebSocket subscribers, ${SIZE}-byte messages, ${SECONDS}s per measurement after 1s warm-up, ${ROUNDS} rounds, client: runtime WebSocket in ${
    typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
      ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
      : "Deno"
  })`,
);
process.exit(0);

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
