/**
 * Consuming from a replicated stream: three server processes (Petrel, then nats-server 2.9.10, same
 * configuration), an R3 file stream holding N messages, one durable pull consumer (its own Raft group) drained
 * with `consume()`, every message acknowledged. Reports messages/s until the last message arrived and until the
 * consumer's replicated ack floor reached N, for both servers, and their ratio.
 *
 *   node_modules/.bin/bun bench/consumer_r3_bench.ts [--messages N] [--rounds R]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type RunningServer, type ServerKind, startServer, waitFor } from "../test/helpers/servers.ts";
import { freePort } from "../test/jsraft/helpers.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const N = arg("--messages", 20_000);
const ROUNDS = arg("--rounds", 1);
/** `--single`: one server without a cluster (an R1 stream), to tell the replication's cost from the consumer's. */
const SINGLE = process.argv.includes("--single");

async function once(kind: ServerKind): Promise<{ delivered: number; acked: number }> {
  const dir = mkdtempSync(join(tmpdir(), "petrel-bench-cr3-"));
  const names = ["b1", "b2", "b3"];
  const ports = [await freePort(), await freePort(), await freePort()];
  const conf = (i: number) => `
server_name: ${names[i]}
jetstream { store_dir: "${join(dir, names[i])}" }
cluster {
  name: bench
  listen: 127.0.0.1:${ports[i]}
  routes: [${ports.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
`;
  const servers: RunningServer[] = SINGLE
    ? [await startServer(kind, { conf: `server_name: b1\njetstream { store_dir: "${join(dir, "b1")}" }\n` })]
    : await Promise.all([0, 1, 2].map((i) => startServer(kind, { conf: conf(i) })));
  const nc = await connect({ servers: servers[0].url });
  try {
    const jsm = await waitFor("the meta group answers", async () => await jetstreamManager(nc, { timeout: 1000 }), 30_000);
    await waitFor("stream created", async () => {
      await jsm.streams.add({ name: "B", subjects: ["b.>"], num_replicas: SINGLE ? 1 : 3 });
      return true;
    }, 30_000);
    const js = jetstream(nc);
    const payload = new Uint8Array(128);
    for (let i = 0; i < N; i += 500) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(N, i + 500); j++) batch.push(js.publish(`b.${j % 10}`, payload));
      await Promise.all(batch);
    }
    await jsm.consumers.add("B", { durable_name: "d", ack_policy: AckPolicy.Explicit });
    const cons = await jetstream(nc).consumers.get("B", "d");
    const t0 = performance.now();
    let n = 0;
    const msgs = await cons.consume({ max_messages: 1000 });
    for await (const m of msgs) {
      m.ack();
      if (++n === N) break;
    }
    const delivered = performance.now() - t0;
    await waitFor("ack floor", async () => (await jsm.consumers.info("B", "d")).ack_floor.stream_seq === N, 60_000, 20);
    const acked = performance.now() - t0;
    return { delivered: N / (delivered / 1000), acked: N / (acked / 1000) };
  } finally {
    await nc.close().catch(() => {});
    for (const s of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let r = 1; r <= ROUNDS; r++) {
  const ns = await once("nats-server");
  const pe = await once("petrel");
  const f = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(
    `round ${r}: ${N} msgs, ${SINGLE ? "R1 (one server)" : "R3"} pull consumer with acks — delivered/s nats-server ${f(ns.delivered)}, Petrel ${f(pe.delivered)} (${(pe.delivered / ns.delivered).toFixed(2)}x); ` +
      `ack floor at N/s nats-server ${f(ns.acked)}, Petrel ${f(pe.acked)} (${(pe.acked / ns.acked).toFixed(2)}x)`,
  );
}
process.exit(0);
