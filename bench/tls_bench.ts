// TLS benchmark: nats-server 2.9.10 (A) and Petrel (B) side by side, both with `tls {}` on the client port.
// Pub/sub 16 B and 1 KiB over TLS (one publisher, one subscriber, raw protocol over node:tls, delivered msgs/s
// counted at the subscriber), and the TLS handshake rate (new connections per second: TCP connect, plain INFO,
// TLS upgrade, CONNECT + PING, PONG, close). A/B alternate per round; medians are reported.
//
//   node_modules/.bin/bun bench/tls_bench.ts [--petrel "node_modules/.bin/bun run mod.ts"] [--rounds 3]
//
// The load generator is JavaScript (Bun's node:tls), the same for both servers: compare the ratios, not the
// absolute numbers, which the client side bounds.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { testCerts } from "../test/helpers/certs.ts";

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const PETREL = arg("--petrel", "node_modules/.bin/bun run mod.ts");
const ROUNDS = Number(arg("--rounds", "3"));
const certs = testCerts();
const CA = certs.pem(certs.caFile);

interface Server {
  port: number;
  stop(): Promise<void>;
}

async function start(cmd: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "tls-bench-"));
  const conf = join(dir, "s.conf");
  writeFileSync(conf, `tls {\n  cert_file: ${JSON.stringify(certs.serverCert)}\n  key_file: ${JSON.stringify(certs.serverKey)}\n}\nmax_pending: 256MB\n`);
  const [bin, ...pre] = cmd.split(" ");
  const child = spawn(bin, [...pre, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir, "-c", conf], { stdio: "ignore", detached: true });
  for (let i = 0; i < 400; i++) {
    const f = readdirSync(dir).find((n) => n.endsWith(".ports"));
    if (f !== undefined) {
      try {
        const p = JSON.parse(readFileSync(join(dir, f), "utf8")) as { nats: string[] };
        const port = Number(new URL(p.nats[0]).port);
        return {
          port,
          stop: async () => {
            try {
              process.kill(-(child.pid as number), "SIGTERM");
            } catch { /* gone */ }
            await new Promise((r) => child.once("exit", r));
            rmSync(dir, { recursive: true, force: true });
          },
        };
      } catch { /* partial */ }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${cmd}: did not start`);
}

/** Plain connect, read INFO, upgrade; resolves with the TLS socket. */
function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock: Socket = netConnect({ host: "127.0.0.1", port });
    sock.setNoDelay(true);
    sock.once("error", reject);
    let got = "";
    const onData = (d: Buffer) => {
      got += d.toString("latin1");
      if (!got.includes("\r\n")) return;
      sock.off("data", onData);
      sock.pause();
      const t = tls.connect({ socket: sock, ca: CA, servername: "localhost" }, () => resolve(t));
      t.once("error", reject);
    };
    sock.on("data", onData);
  });
}

function waitFor(sock: tls.TLSSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const on = (d: Buffer) => {
      buf += d.toString("latin1");
      if (buf.includes(text)) {
        sock.off("data", on);
        resolve();
      }
    };
    sock.on("data", on);
    sock.once("close", () => reject(new Error("closed")));
  });
}

async function pubsub(port: number, size: number, count: number): Promise<number> {
  const sub = await tlsConnect(port);
  const pub = await tlsConnect(port);
  sub.write('CONNECT {"verbose":false,"pedantic":false}\r\nSUB b 1\r\nPING\r\n');
  await waitFor(sub, "PONG\r\n");
  pub.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
  await waitFor(pub, "PONG\r\n");
  const frameIn = `MSG b 1 ${size}\r\n`.length + size + 2;
  const want = frameIn * count;
  let received = 0;
  const done = new Promise<void>((resolve) => {
    sub.on("data", (d: Buffer) => {
      received += d.length;
      if (received >= want) resolve();
    });
  });
  const one = Buffer.from(`PUB b ${size}\r\n${"x".repeat(size)}\r\n`, "latin1");
  const perBatch = Math.max(1, Math.floor(64 * 1024 / one.length));
  const batch = Buffer.concat(Array(perBatch).fill(one));
  const t0 = performance.now();
  let sent = 0;
  while (sent < count) {
    const n = Math.min(perBatch, count - sent);
    const ok = pub.write(n === perBatch ? batch : batch.subarray(0, n * one.length));
    sent += n;
    if (!ok) await new Promise((r) => pub.once("drain", r));
  }
  await done;
  const secs = (performance.now() - t0) / 1000;
  sub.destroy();
  pub.destroy();
  return count / secs;
}

async function handshakes(port: number, total: number, concurrency: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      const s = await tlsConnect(port);
      s.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
      await waitFor(s, "PONG\r\n");
      s.destroy();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return total / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sides: [string, string][] = [["nats-server", "/usr/sbin/nats-server"], ["petrel", PETREL]];
const scenarios: [string, (port: number) => Promise<number>][] = [
  ["pubsub-16 (msgs/s)", (p) => pubsub(p, 16, 400_000)],
  ["pubsub-1k (msgs/s)", (p) => pubsub(p, 1024, 100_000)],
  ["handshakes (conn/s)", (p) => handshakes(p, 400, 4)],
];
const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? sides : [...sides].reverse();
  for (const [name, cmd] of order) {
    const s = await start(cmd);
    try {
      for (const [sc, run] of scenarios) {
        const v = await run(s.port);
        const key = `${name}|${sc}`;
        results.set(key, [...(results.get(key) ?? []), v]);
      }
    } finally {
      await s.stop();
    }
  }
}
console.log(`| scenario | A: nats-server | B: petrel (${PETREL}) | B/A |`);
console.log("|---|---:|---:|---:|");
for (const [sc] of scenarios) {
  const a = results.get(`nats-server|${sc}`) ?? [0];
  const b = results.get(`petrel|${sc}`) ?? [0];
  const fmt = (xs: number[]) => `${Math.round(median(xs)).toLocaleString("en-US")} [${Math.round(Math.min(...xs)).toLocaleString("en-US")}..${Math.round(Math.max(...xs)).toLocaleString("en-US")}]`;
  console.log(`| ${sc} | ${fmt(a)} | ${fmt(b)} | ${(median(b) / median(a)).toFixed(2)} |`);
}
process.exit(0);
