/**
 * JetStream consumer replay rate: fill a file-backed R1 stream with N messages of 128 B, then read them all
 * back through an ordered consumer and through a pull consumer (ack none), with the official client, against
 * nats-server and Petrel in turn. Usage: bun run bench/js_replay.ts [N] [petrel command...]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";

const N = Number(process.argv[2] ?? 200_000);
const petrelCmd = process.argv.length > 3 ? process.argv.slice(3) : [process.execPath, "run", "mod.ts"];
const targets: [string, string[]][] = [["nats-server", ["/usr/sbin/nats-server"]], ["petrel", petrelCmd]];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(name: string, cmd: string[], port: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "replay-"));
  const p = spawn(cmd[0], [...cmd.slice(1), "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: "ignore" });
  try {
    let nc;
    for (let i = 0; ; i++) {
      try {
        nc = await connect({ port });
        break;
      } catch (e) {
        if (i > 100) throw e;
        await sleep(50);
      }
    }
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "R", subjects: ["r.>"] });
    const js = jetstream(nc);
    const payload = new Uint8Array(128);
    const t0 = performance.now();
    let inflight: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      inflight.push(js.publish("r.x", payload));
      if (inflight.length === 256) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    const pubRate = N / ((performance.now() - t0) / 1000);

    const ordered = await js.consumers.get("R");
    const t1 = performance.now();
    let n = 0;
    const iter = await ordered.consume({ max_messages: 1000 });
    for await (const _m of iter) {
      if (++n === N) break;
    }
    const orderedRate = N / ((performance.now() - t1) / 1000);

    await jsm.consumers.add("R", { durable_name: "pull", ack_policy: AckPolicy.None });
    const pull = await js.consumers.get("R", "pull");
    const t2 = performance.now();
    n = 0;
    const it2 = await pull.consume({ max_messages: 1000 });
    for await (const _m of it2) {
      if (++n === N) break;
    }
    const pullRate = N / ((performance.now() - t2) / 1000);
    console.log(`| ${name} | ${Math.round(pubRate).toLocaleString("en")} | ${Math.round(orderedRate).toLocaleString("en")} | ${Math.round(pullRate).toLocaleString("en")} |`);
    await nc.close();
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => p.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`N = ${N} messages of 128 B, file storage, official client on ${typeof Deno !== "undefined" ? "Deno" : "Bun"}`);
console.log("| server | async publish msgs/s | ordered consumer replay msgs/s | pull consumer (ack none) replay msgs/s |");
console.log("|---|---:|---:|---:|");
let port = 14700;
for (const [name, cmd] of targets) await measure(name, cmd, port++);
