/**
 * A start from flags with `--user/--pass` or `--auth` loads the signature and password libraries (nkeys,
 * bcryptjs) only when the password or token is a bcrypt hash: a plain one is compared without them, and on Deno
 * they (and the schemas that used to come with them) were ~15 MB of the idle server (60-63 MB against 45-48 from
 * a config file with the same user; bench/RESULTS.md `denotimers`). A bcrypt hash from the flags still logs in.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import process from "node:process";
import bcrypt from "bcryptjs";
import { startServer } from "../helpers/servers.ts";
import { connectReady } from "../helpers/raw.ts";

declare const Deno: { execPath(): string } | undefined;
const PROBE = path.join(import.meta.dirname ?? ".", "fixtures", "auth_libs_probe.ts");

/** What loading the options of `argv` loaded, in a fresh process of this runtime. */
function probe(argv: string[]): Promise<{ ok: boolean; authLibs: boolean; schemas: boolean }> {
  const [cmd, args] = typeof Deno !== "undefined" ? [Deno.execPath(), ["run", "-A", PROBE, ...argv]] : [process.execPath, ["run", PROBE, ...argv]];
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split("\n").pop() ?? ""));
      } catch {
        reject(new Error(`probe printed ${JSON.stringify(stdout)}; stderr ${stderr}`));
      }
    });
  });
}

const HASH = bcrypt.hashSync("s3cret", 4);

describe("the command line's credentials and the auth libraries", () => {
  it("--user/--pass with a plain password, and a plain --auth token, load neither the libraries nor the schemas", async () => {
    assert.deepEqual(await probe(["--user", "alice", "--pass", "s3cret"]), { ok: true, authLibs: false, schemas: false });
    assert.deepEqual(await probe(["--auth", "tok"]), { ok: true, authLibs: false, schemas: false });
  });

  it("a bcrypt hash as --pass or --auth loads them", async () => {
    assert.deepEqual(await probe(["--user", "alice", "--pass", HASH]), { ok: true, authLibs: true, schemas: false });
    assert.deepEqual(await probe(["--auth", HASH]), { ok: true, authLibs: true, schemas: false });
  });

  it("a server started with --pass <bcrypt hash> accepts the password and refuses another", async () => {
    const server = await startServer("petrel", { args: ["--user", "alice", "--pass", HASH] });
    try {
      const good = await connectReady(server.port, { user: "alice", pass: "s3cret" });
      await good.c.send("PING\r\n");
      await good.c.readUntil("PONG\r\n");
      good.c.close();
      const bad = await connectReady(server.port, { user: "alice", pass: "wrong" });
      await bad.c.send("PING\r\n");
      await bad.c.readUntil("Authorization Violation");
      assert.ok(!bad.c.text().includes("PONG"), "a wrong password is refused");
      bad.c.close();
    } finally {
      await server.stop();
    }
  });
});
