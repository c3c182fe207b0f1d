/**
 * `npm run chaos -- --seconds 120 --seed N [--servers 5] [--keep] [--dump FILE]
 * [--plan kill9,freeze,isolate,cut-pair,stepdown,meta-stepdown,peer-remove] [--hold MIN,MAX] [--no-consumer]`: runs the
 * chaos harness (harness.ts) once
 * and prints one verdict line (`N faults, M acked, 0 lost, 0 duplicated, linearizable`); exits 1 otherwise.
 * Servers run on the runtime running this script (`deno run -A test/chaos/cli.ts` puts them on Deno).
 */
import process from "node:process";
import { runChaos } from "./harness.ts";
import type { FaultKind } from "./faults.ts";

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const args = process.argv.slice(2);
const seconds = Number(flag(args, "--seconds") ?? "120");
const seed = Number(flag(args, "--seed") ?? String(Date.now() % 100_000));
const servers = Number(flag(args, "--servers") ?? "5");
if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed) || !Number.isInteger(servers) || servers < 3) {
  console.error("usage: npm run chaos -- [--seconds N] [--seed N] [--servers N>=3] [--keep]");
  process.exit(2);
}
const started = Date.now();
console.error(`chaos: seed ${seed}, ${seconds} s of faults, ${servers} servers`);
const v = await runChaos({
  seconds,
  seed,
  servers,
  keepDir: args.includes("--keep"),
  dumpFile: flag(args, "--dump"),
  plan: flag(args, "--plan")?.split(",") as FaultKind[] | undefined,
  hold: flag(args, "--hold")?.split(",").map(Number) as [number, number] | undefined,
  consumer: !args.includes("--no-consumer"),
  log: (l) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${l}`),
});
for (const p of v.problems) console.error(`PROBLEM: ${p}`);
console.log(v.line);
process.exit(v.ok ? 0 : 1);
