/**
 * The gateway path's own cost, in one process: clusters A and B (one Petrel server each, linked by gateways on
 * loopback, no delay), a raw publisher on A and a raw subscriber on B; each round publishes `count` x `size` B
 * in 64-message writes and waits until all arrived. Prints the time per round (every cost of both servers and
 * both sides of the path is in it, serialised on one thread): run it under a profiler to see where it goes.
 *   bun bench/gateway_path.ts [rounds=20] [count=10000] [size=64]
 *   bun --cpu-prof --cpu-prof-md bench/gateway_path.ts     deno run -A bench/gateway_path.ts
 */
import { connect } from "node:net";
import process from "node:process";
import type { Socket } from "node:net";
import { startGatewayNode, gatewayUrl, stopAll, waitForGatewayInterest, waitForLinks } from "../test/gateway/helpers.ts";

const rounds = Number(process.argv[2] ?? 20);
const count = Number(process.argv[3] ?? 10000);
const size = Number(process.argv[4] ?? 64);

const b = await startGatewayNode("B");
const a = await startGatewayNode("A", [{ name: "B", urls: [gatewayUrl(b)] }]);
await waitForLinks(a, ["B"], 8000, true);

function raw(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, "127.0.0.1", () => {
      s.setNoDelay(true);
      s.write('CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n');
      res(s);
    });
    s.once("error", rej);
  });
}
const port = (p: typeof a) => Number(p.ports().nats?.[0]?.split(":").pop());
const sub = await raw(port(b));
const frameLen = `MSG x 1 ${size}\r\n`.length + size + 2;
let received = 0;
let wake: (() => void) | undefined;
let want = 0;
sub.on("data", (d: Buffer) => {
  received += d.length;
  if (wake !== undefined && received >= want) wake();
});
sub.write("SUB x 1\r\nPING\r\n");
await waitForGatewayInterest(a, "x");
const pub = await raw(port(a));
const head = new TextEncoder().encode(`PUB x ${size}\r\n`);
const frame = head.length + size + 2;
const chunks: Uint8Array[] = [];
for (let i = 0; i < count; i += 64) {
  const n = Math.min(64, count - i);
  const c = new Uint8Array(n * frame);
  for (let k = 0; k < n; k++) {
    c.set(head, k * frame);
    c[k * frame + frame - 2] = 13;
    c[k * frame + frame - 1] = 10;
  }
  chunks.push(c);
}
received = 0; // PONG and the like
const times: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < rounds; r++) {
  const cpu0 = process.cpuUsage();
  const base = received;
  want = base + count * frameLen;
  const done = new Promise<void>((res) => (wake = res));
  const t0 = performance.now();
  for (const c of chunks) pub.write(c);
  await done;
  wake = undefined;
  times.push(performance.now() - t0);
  const cpu = process.cpuUsage(cpu0);
  cpus.push((cpu.user + cpu.system) / 1000);
}
const sorted = [...times].sort((x, y) => x - y);
console.log(`${rounds} rounds of ${count} x ${size} B: median ${sorted[Math.floor(rounds / 2)].toFixed(1)} ms, min ${sorted[0].toFixed(1)} ms, all ${times.map((t) => t.toFixed(0)).join(" ")}`);
// CPU of the whole process (every thread: JIT compilers and GC included) per round.
console.log(`CPU ms per round: ${cpus.map((t) => t.toFixed(0)).join(" ")}`);
pub.destroy();
sub.destroy();
await stopAll([a, b]);
process.exit(0);
