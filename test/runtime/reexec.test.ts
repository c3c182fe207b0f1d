// The CLI's early self-re-exec (adapters/runtime/reexec.ts, PETREL_REEXEC=1): the runtime options that only the
// environment at start can set are in effect in the server process itself (same PID as spawned), off by default,
// an embedded start does not re-exec, and signals, output and exit codes are what they are without it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { petrelCommand, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { startPetrel } from "../../mod.ts";
import {
  BUN_ENV,
  DENO_V8,
  planReexec,
  readSwitch,
  REEXEC_MARKER,
  REEXEC_SWITCH,
} from "../../adapters/runtime/reexec_plan.ts";

declare const Deno: unknown;
const runtime = typeof Deno !== "undefined" ? "deno" : "bun";

/** A process's environment as the kernel holds it (what execve gave the current image). */
function environOf(pid: number | "self"): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const i = e.indexOf("=");
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  return env;
}

/** What a re-exec should have added on this runtime, for a parent environment without any of it. */
function expectedAdditions(): Record<string, string> {
  if (runtime === "bun") return Object.fromEntries(BUN_ENV);
  return { DENO_V8_FLAGS: DENO_V8.join(",") };
}

const plain = (env: Record<string, string>) => (n: string) => env[n];
const ON = { [REEXEC_SWITCH]: "1" };

describe("reexec: the plan", () => {
  it("adds the runtime's options and the marker when switched on; nothing when off (the default) or already done", () => {
    const bun = planReexec({ runtime: "bun", env: plain(ON), cmdline: ["bun", "run", "mod.ts"] });
    assert.deepEqual(bun, { BUN_JSC_forceRAMSize: "268435456", [REEXEC_MARKER]: "1" });
    const deno = planReexec({ runtime: "deno", env: plain(ON), cmdline: ["deno", "run", "-A", "mod.ts"] });
    assert.deepEqual(deno, { DENO_V8_FLAGS: "--max-semi-space-size=2", [REEXEC_MARKER]: "1" });
    assert.equal(planReexec({ runtime: "bun", env: plain({}), cmdline: [] }), undefined);
    for (const off of ["0", "false", "off", ""]) {
      assert.equal(planReexec({ runtime: "deno", env: plain({ [REEXEC_SWITCH]: off }), cmdline: [] }), undefined, off);
    }
    assert.equal(planReexec({ runtime: "deno", env: plain({ ...ON, [REEXEC_MARKER]: "1" }), cmdline: [] }), undefined);
    assert.equal(readSwitch("1"), "on");
    assert.equal(readSwitch(undefined), "off");
    assert.deepEqual(readSwitch("maybe"), { error: "PETREL_REEXEC must be 0 or 1, got 'maybe'" });
    assert.equal(planReexec({ runtime: "bun", env: plain({ [REEXEC_SWITCH]: "maybe" }), cmdline: [] }), undefined);
  });

  it("keeps what the user set: the variable itself, V8 flags in DENO_V8_FLAGS or on deno's command line", () => {
    const userRam = { ...ON, BUN_JSC_forceRAMSize: String(2 ** 30) };
    assert.equal(planReexec({ runtime: "bun", env: plain(userRam), cmdline: ["bun", "run", "mod.ts"] }), undefined);
    assert.deepEqual(
      planReexec({ runtime: "deno", env: plain({ ...ON, DENO_V8_FLAGS: "--stack-size=2000" }), cmdline: ["deno"] }),
      { DENO_V8_FLAGS: "--stack-size=2000,--max-semi-space-size=2", [REEXEC_MARKER]: "1" },
    );
    assert.equal(
      planReexec({ runtime: "deno", env: plain({ ...ON, DENO_V8_FLAGS: "--max_semi_space_size=16" }), cmdline: ["deno"] }),
      undefined,
    );
    const cli = ["deno", "run", "--v8-flags=--expose-gc,--max-semi-space-size=8", "-A", "mod.ts"];
    assert.equal(planReexec({ runtime: "deno", env: plain(ON), cmdline: cli }), undefined);
  });
});

describe("reexec: the CLI", () => {
  let server: RunningServer;
  let plainStart: RunningServer;
  before(async () => {
    [server, plainStart] = await Promise.all([
      startServer("petrel", { env: ON, cwd: tmpdir() }),
      startServer("petrel"),
    ]);
  });
  after(async () => {
    await Promise.all([server?.stop(), plainStart?.stop()]);
  });

  it("PETREL_REEXEC=1: runs with the options in its environment, as the process that was spawned, under its name", () => {
    const env = environOf(server.pid); // the pid spawn() returned: the re-exec kept it
    assert.equal(env.get(REEXEC_MARKER), "1");
    for (const [k, v] of Object.entries(expectedAdditions())) assert.equal(env.get(k), v, k);
    const comm = readFileSync(`/proc/${server.pid}/comm`, "utf8").trim();
    assert.notEqual(comm, "exe");
  });

  it("without it (the default) starts as launched", () => {
    const env = environOf(plainStart.pid);
    assert.equal(env.get(REEXEC_MARKER), undefined);
    for (const k of Object.keys(expectedAdditions())) assert.equal(env.get(k), undefined, k);
  });

  it("after the re-exec, SIGHUP reloads and SIGTERM stops cleanly, logging on stderr", async () => {
    process.kill(server.pid, "SIGHUP");
    await waitFor("reload logged", () => server.logs().includes("Reloaded server configuration"));
    process.kill(server.pid, "SIGTERM");
    assert.equal(await server.exited, 0);
    assert.match(server.logs(), /Trapped "terminated" signal/);
  });

  it("--help, --version and a bad flag give the same output and exit codes with and without it", () => {
    const { cmd, prefix } = petrelCommand();
    for (const args of [["--help"], ["--version"], ["--no-such-flag"]]) {
      const run = (extra: Record<string, string>) =>
        spawnSync(cmd, [...prefix, ...args], { encoding: "utf8", env: { ...process.env, ...extra }, timeout: 30_000 });
      const on = run(ON);
      const off = run({});
      assert.equal(on.status, off.status, args[0]);
      assert.equal(on.stdout, off.stdout, args[0]);
      assert.equal(on.stderr, off.stderr, args[0]);
      assert.equal(on.status, args[0] === "--no-such-flag" ? 1 : 0, args[0]);
    }
    const bad = spawnSync(cmd, [...prefix, "--version"], {
      encoding: "utf8",
      env: { ...process.env, [REEXEC_SWITCH]: "maybe" },
      timeout: 30_000,
    });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /PETREL_REEXEC must be 0 or 1, got 'maybe'/);
  });

  it("an embedded start (mod.ts imported) does not re-exec the embedding process", async () => {
    const petrel = await startPetrel({ args: ["-a", "127.0.0.1", "-p", "-1"] });
    try {
      assert.equal(environOf("self").get(REEXEC_MARKER), undefined);
      assert.match(petrel.clientUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await petrel.stop();
    }
  });
});
