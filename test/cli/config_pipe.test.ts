// A configuration given as a pipe (`-c <(...)`, a named pipe) can be read only once: nats-server reads it once and
// serves with its settings; Petrel prepares and loads the options from that one read (mod.ts readOnce) instead of
// reading the file again and starting on an empty one.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRaw, readInfo } from "../helpers/raw.ts";
import { type ServerKind, startServer } from "../helpers/servers.ts";

for (const kind of ["nats-server", "petrel"] as ServerKind[]) {
  describe(`${kind}: -c a named pipe`, () => {
    it("serves with the settings read from the pipe", async () => {
      const dir = mkdtempSync(join(tmpdir(), "petrel-conf-pipe-"));
      const fifo = join(dir, "conf");
      assert.equal(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
      // The writer blocks in open() until the server opens the pipe to read, as bash's <(...) does.
      const writer = spawn("sh", ["-c", 'printf "max_payload: 1000\\nserver_name: piped\\n" > "$0"', fifo], { stdio: "ignore" });
      try {
        const server = await startServer(kind, { args: ["-c", fifo] });
        try {
          const raw = await connectRaw(server.port);
          const info = await readInfo(raw);
          raw.close();
          assert.equal(info.max_payload, 1000);
          assert.equal(info.server_name, "piped");
        } finally {
          await server.stop();
        }
      } finally {
        writer.kill();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
