/**
 * `npm run sim -- --seeds N [--start S] [--seed K] [--bug NAME] [--duration MS] [--stream-seeds M] [--consumer-seeds M]`
 * Runs seeds S..S+N-1 (or the single seed K) of the Raft KV simulation, then M seeds (default 20) of the
 * replicated-stream simulation (stream_sim.ts) and of the replicated-consumer simulation (consumer_sim.ts),
 * prints each failure and a one-line summary of each.
 */
import { runSim, SIM_BUGS, type SimBug } from "./sim.ts";
import { runStreamSim } from "./stream_sim.ts";
import { runConsumerSim } from "./consumer_sim.ts";

const BUGS: readonly string[] = SIM_BUGS;

function argv(): string[] {
  const g = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
  return g.Deno ? g.Deno.args : (g.process?.argv.slice(2) ?? []);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const args = argv();
const bugArg = flag(args, "--bug");
if (bugArg !== undefined && !BUGS.includes(bugArg)) {
  console.error(`unknown --bug ${bugArg}; one of: ${BUGS.join(", ")}`);
  throw new Error("bad arguments");
}
const bug = bugArg as SimBug | undefined;
const single = flag(args, "--seed");
const start = Number(flag(args, "--start") ?? "1");
const count = Number(flag(args, "--seeds") ?? "100");
const durationArg = flag(args, "--duration");
const duration = durationArg === undefined ? undefined : Number(durationArg);
const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => start + i);

let passed = 0;
const failed: number[] = [];
const t0 = performance.now();
let lastReport = t0;
for (const seed of seeds) {
  const r = runSim({ seed, bug, duration });
  if (r.ok) passed++;
  else {
    failed.push(seed);
    console.log(`seed ${seed} FAILED: ${r.violation}`);
  }
  if (single !== undefined) console.log(`seed ${seed}: ${JSON.stringify(r.stats)}`);
  const now = performance.now();
  if (now - lastReport > 60_000) {
    lastReport = now;
    console.log(`... ${passed + failed.length}/${seeds.length} seeds, ${failed.length} failed, ${((now - t0) / 1000).toFixed(0)} s`);
  }
}
const secs = ((performance.now() - t0) / 1000).toFixed(1);
if (failed.length > 0) {
  console.log(`failing seeds: ${failed.slice(0, 50).join(" ")}${failed.length > 50 ? " ..." : ""}`);
  console.log(`replay one: npm run sim -- --seed ${failed[0]}${bug ? ` --bug ${bug}` : ""}`);
}
console.log(`(${secs} s${bug ? `, bug ${bug}` : ""})`);
console.log(`${passed} seeds passed, ${failed.length} failed`);

// The replicated stream (StreamReplica + Stream over RaftHost) under loss, cuts, crashes and lost stores.
const streamSeeds = Number(flag(args, "--stream-seeds") ?? (single !== undefined || bug ? "0" : "20"));
let streamFailed = 0, acked = 0, faults = 0;
const s0 = performance.now();
for (let seed = start; seed < start + streamSeeds; seed++) {
  const r = runStreamSim({ seed, steps: 2500 });
  if (r.violation !== null) {
    streamFailed++;
    console.log(`stream seed ${seed} FAILED: ${r.violation}`);
  } else {
    acked += r.result?.acked ?? 0;
    faults += r.result?.faults ?? 0;
  }
}
if (streamSeeds > 0) {
  console.log(`(${((performance.now() - s0) / 1000).toFixed(1)} s) stream: ${streamSeeds - streamFailed} seeds passed, ${streamFailed} failed; ${faults} faults, ${acked} acked, 0 lost`);
}
// The replicated consumer (ConsumerReplica + Consumer over RaftHost) under loss, cuts, crashes and step-downs.
const consumerSeeds = Number(flag(args, "--consumer-seeds") ?? (single !== undefined || bug ? "0" : "20"));
let consumerFailed = 0, confirmed = 0, cfaults = 0, redelivered = 0, installed = 0;
const c0 = performance.now();
for (let seed = start; seed < start + consumerSeeds; seed++) {
  const r = await runConsumerSim({ seed, steps: 2500 });
  if (r.violation !== null) {
    consumerFailed++;
    console.log(`consumer seed ${seed} FAILED: ${r.violation}`);
  } else {
    confirmed += r.result?.confirmed ?? 0;
    cfaults += r.result?.faults ?? 0;
    redelivered += r.result?.redeliveries ?? 0;
    installed += r.result?.installed ?? 0;
  }
}
if (consumerSeeds > 0) {
  console.log(
    `(${((performance.now() - c0) / 1000).toFixed(1)} s) consumer: ${consumerSeeds - consumerFailed} seeds passed, ${consumerFailed} failed; ${cfaults} faults, ${confirmed} acks confirmed, ${redelivered} redeliveries (of unacknowledged), ${installed} snapshots installed by lagging replicas, ack floors never back`,
  );
}
if (failed.length > 0 || streamFailed > 0 || consumerFailed > 0) {
  (globalThis as { process?: { exitCode?: number } }).process!.exitCode = 1;
}
