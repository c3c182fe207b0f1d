// `npm test`: the whole suite on Bun and on Deno at the same time (most of a test's time is spent waiting on sockets
// and timers, so two runtimes share two cores well), each one's output kept whole and printed one after the other,
// Bun's first. Exits non-zero when either fails. PETREL_TEST_SERIAL=1 runs them one after the other instead.
import { spawn } from "node:child_process";

type Run = { name: string; cmd: string[] };
const runs: Run[] = [
  { name: "bun", cmd: ["npm", "run", "--silent", "test:bun"] },
  { name: "deno", cmd: ["npm", "run", "--silent", "test:deno"] },
];

/** Runs one command with its output (stdout and stderr, in arrival order) collected. */
function run(r: Run, echo: boolean): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const child = spawn(r.cmd[0], r.cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const take = (d: Buffer) => {
      if (echo) process.stdout.write(d);
      else chunks.push(d);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out: Buffer.concat(chunks).toString() }));
  });
}

/** Writes and waits until the bytes are handed to the pipe (a large write is otherwise cut short by the exit). */
const print = (s: string): Promise<void> => new Promise((resolve) => process.stdout.write(s, () => resolve()));

const serial = process.env.PETREL_TEST_SERIAL === "1";
let failed = false;
if (serial) {
  for (const r of runs) failed = (await run(r, true)).code !== 0 || failed;
} else {
  const started = Date.now();
  const results = await Promise.all(runs.map((r) => run(r, false).then((res) => ({ ...res, ms: Date.now() - started }))));
  for (const [i, res] of results.entries()) {
    await print(`\n===== ${runs[i].name}: exit ${res.code} after ${(res.ms / 1000).toFixed(0)} s =====\n`);
    await print(res.out);
    failed = failed || res.code !== 0;
  }
}
process.exitCode = failed ? 1 : 0;
