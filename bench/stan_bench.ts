/**
 * NATS Streaming throughput with the official Node client (node-nats-streaming) against Petrel, next to
 * JetStream async publish with nats.js on the same server, same payload (128 B) and same window (256 unacked):
 *   publish-with-ack: N publishes, at most 256 awaiting their PubAck;
 *   subscribe: a deliver-all subscriber (auto ack) reads the N stored messages back.
 * Usage: bun run bench/stan_bench.ts [N] [memory|file|cluster] [petrel command...]   (no reference server exists here)
 * `cluster`: three servers (file store, routes, `streaming { cluster {} }` and clustered JetStream), the client on
 * the first one; the JetStream stream has 3 replicas.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import stan from "node-nats-streaming";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

const N = Number(process.argv[2] ?? 100_000);
const mode = process.argv[3] === "file" || process.argv[3] === "cluster" ? process.argv[3] : "memory";
const store = mode === "memory" ? "memory" : "file";
const petrelCmd = process.argv.length > 4 ? process.argv.slice(4) : [process.execPath, "run", "mod.ts"];
const WINDOW = 256;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const payload = new Uint8Array(128);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "stan-bench-"));
  const port = 4300 + Math.floor(Math.random() * 500);
  const conf = join(dir, "s.conf");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(conf, `streaming { cluster_id: "bench", store: ${store}, dir: "${join(dir, "stan")}", store_limits { max_msgs: 0, max_bytes: 0 } }\njetstream { store_dir: "${join(dir, "js")}", storage: ${store} }\n`);
  const procs = [];
  if (mode !== "cluster") {
    procs.push(spawn(petrelCmd[0], [...petrelCmd.slice(1), "-a", "127.0.0.1", "-p", String(port), "-c", conf], { stdio: "ignore" }));
  } else {
    const ids = ["a", "b", "c"];
    for (const [i, id] of ids.entries()) {
      const routes = ids.map((_, j) => `nats://127.0.0.1:${port + 10 + j}`).filter((_, j) => j !== i).join(", ");
      const c = join(dir, `${id}.conf`);
      writeFileSync(c, `server_name: ${id}
cluster { name: bench, listen: "127.0.0.1:${port + 10 + i}", routes: [${routes}] }
jetstream { store_dir: "${join(dir, id, "js")}" }
streaming { cluster_id: "bench", store: file, dir: "${join(dir, id, "stan")}", store_limits { max_msgs: 0, max_bytes: 0 }
  cluster { node_id: ${id}, peers: [${ids.join(", ")}], log_path: "${join(dir, id, "raft")}" } }
`);
      procs.push(spawn(petrelCmd[0], [...petrelCmd.slice(1), "-a", "127.0.0.1", "-p", String(port + i), "-c", c], { stdio: "ignore" }));
    }
  }
  try {
    let sc: ReturnType<typeof stan.connect> | undefined;
    for (let i = 0; sc === undefined; i++) {
      try {
        sc = await new Promise((resolve, reject) => {
          const c = stan.connect("bench", "bench-client", { url: `nats://127.0.0.1:${port}`, maxPubAcksInflight: WINDOW * 2 });
          c.once("connect", () => resolve(c));
          c.once("error", reject);
        });
      } catch (e) {
        if (i > 100) throw e;
        await sleep(100);
      }
    }
    const conn = sc as ReturnType<typeof stan.connect>;

    // publish-with-ack
    let t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      let acked = 0;
      let inflight = 0;
      const pump = () => {
        while (inflight < WINDOW && sent < N) {
          sent++;
          inflight++;
          conn.publish("bench", Buffer.from(payload), (err) => {
            if (err) return reject(err);
            inflight--;
            if (++acked === N) resolve();
            else pump();
          });
        }
      };
      pump();
    });
    const pubRate = N / ((performance.now() - t0) / 1000);

    // subscribe (deliver all, auto ack)
    t0 = performance.now();
    await new Promise<void>((resolve) => {
      let n = 0;
      const sub = conn.subscribe("bench", conn.subscriptionOptions().setDeliverAllAvailable().setMaxInFlight(16384));
      sub.on("message", () => {
        if (++n === N) resolve();
      });
    });
    const subRate = N / ((performance.now() - t0) / 1000);
    await new Promise<void>((resolve) => {
      conn.once("close", () => resolve());
      conn.close();
    });

    // JetStream async publish, same server, size and window.
    const nc = await connect({ port });
    const jsm = await jetstreamManager(nc);
    for (let i = 0;; i++) {
      try {
        await jsm.streams.add({ name: "B", subjects: ["b.>"], storage: store, num_replicas: mode === "cluster" ? 3 : 1 } as never);
        break;
      } catch (e) {
        if (i > 100) throw e;
        await sleep(100);
      }
    }
    const js = jetstream(nc);
    t0 = performance.now();
    let inflight: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      inflight.push(js.publish("b.x", payload));
      if (inflight.length === WINDOW) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    const jsRate = N / ((performance.now() - t0) / 1000);
    await nc.close();

    const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
    console.log(`| ${mode} | ${fmt(pubRate)} | ${fmt(subRate)} | ${fmt(jsRate)} | ${(pubRate / jsRate).toFixed(2)} |`);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
