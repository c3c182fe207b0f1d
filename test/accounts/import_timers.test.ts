/**
 * A service import's response threshold is a light timer (src/runtime/light_timers.ts), not a runtime setTimeout,
 * which on Deno 2.9 loads Node's timer layer for the life of the process at its first call (+2-3 MB;
 * bench/RESULTS.md `denotimers2`): a request through the import arms one, the response takes it out. In process,
 * raw clients.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";
import { IMPORTS_CONF } from "./helpers.ts";

describe("a service import's response threshold", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-import-timers-"));
  let petrel: Petrel;
  const clients: RawClient[] = [];

  before(async () => {
    const conf = join(dir, "imports.conf");
    writeFileSync(conf, IMPORTS_CONF);
    petrel = await startPetrel({ args: ["-c", conf, "-a", "127.0.0.1", "-p", "-1"] });
  });
  after(async () => {
    for (const c of clients) c.close();
    await petrel.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const login = async (user: string, pass: string) => {
    const { c } = await connectReady(petrel.server.clientPort, { user, pass });
    clients.push(c);
    await c.send("PING\r\n");
    await c.readUntil("PONG\r\n");
    return c;
  };

  it("is one light timer from the request to its response", async () => {
    const service = await login("a", "pa");
    const requester = await login("b", "pb");
    await service.send("SUB one 1\r\nPING\r\n");
    await service.readUntil("PONG\r\n");
    await requester.send("SUB inbox 1\r\nPING\r\n");
    await requester.readUntil("PONG\r\n");
    const before = lightTimersPending();
    await requester.send("PUB one inbox 1\r\nq\r\n");
    const req = await service.readUntil(/MSG one 1 (\S+) 1\r\nq\r\n/);
    const reply = /MSG one 1 (\S+) 1/.exec(req)?.[1] ?? assert.fail(req);
    assert.equal(lightTimersPending(), before + 1, "the mapped reply waits on a light timer");
    await service.send(`PUB ${reply} 1\r\nr\r\nPING\r\n`);
    await service.readUntil("PONG\r\n");
    await requester.readUntil("MSG inbox 1 1\r\nr\r\n");
    assert.equal(lightTimersPending(), before, "the singleton response took it out");
  });
});
