// An account added by SIGHUP reaches its own system services (as nats-server's system imports let it) and its
// connections are announced. Petrel only: nats-server 2.9.10 crashes (nil pointer) when a user of an account
// added by a reload sends $SYS.REQ.SERVER.PING.CONNZ.
import { it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { forEachServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, connectTo, td } from "../helpers/nats.ts";

type Json = Record<string, unknown>;

const conf = (accounts: string[]) =>
  `accounts {\n  SYS: { users: [{ user: sys, password: sys }] }\n${accounts.map((a) => `  ${a}: { users: [{ user: ${a.toLowerCase()}, password: pw }] }`).join("\n")}\n}\nsystem_account: SYS\n`;

forEachServer(["petrel"], (kind) => {
  it("an account added by a reload is announced and answers its own CONNZ", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-sys-reload-"));
    const file = join(dir, "sys.conf");
    writeFileSync(file, conf(["A"]));
    const server = await startServer(kind, { args: ["-c", file] });
    const conns: NatsConnection[] = [];
    try {
      writeFileSync(file, conf(["A", "NEW"]));
      process.kill(server.pid, "SIGHUP");
      // Once the new account's user gets in, the reload is done; the listeners connect after it.
      const probe = await waitFor("the new account's user gets in", async () => {
        try {
          return await connectTo(server, { user: "new", pass: "pw" });
        } catch {
          return undefined;
        }
      }, 10_000, 100);
      await probe.close();
      const sys = await connectTo(server, { user: "sys", pass: "sys" });
      conns.push(sys);
      const seen: Json[] = [];
      sys.subscribe("$SYS.ACCOUNT.NEW.CONNECT", {
        callback: (_e, m) => {
          seen.push(JSON.parse(td.decode(m.data)) as Json);
        },
      });
      await sys.flush();
      const fresh = await connectTo(server, { user: "new", pass: "pw", name: "newcomer" });
      conns.push(fresh);
      await waitFor("its CONNECT event", () => seen.length > 0, 5000);
      assert.equal((seen[0].client as Json).acc, "NEW");
      const r = await fresh.request("$SYS.REQ.SERVER.PING.CONNZ", "", { timeout: 3000 });
      const data = (JSON.parse(td.decode(r.data)) as Json).data as Json;
      assert.deepEqual((data.connections as Json[]).map((c) => c.name), ["newcomer"]);
    } finally {
      await closeAll(conns);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
