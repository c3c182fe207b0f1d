// The system account across a gateway: two one-server clusters (west, east) started from conf files; a PING
// from a system user on west is answered by both, and a connect on east is announced on west.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, td } from "../helpers/nats.ts";
import { gatewayUrl, waitForLinks } from "../gateway/helpers.ts";

type Json = Record<string, unknown>;

const ACCOUNTS = `accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  A: { users: [{ user: a, password: a }] }
}
system_account: SYS
`;

async function requestAll(nc: NatsConnection, subject: string): Promise<Json[]> {
  const out: Json[] = [];
  const it = await nc.requestMany(subject, "", { maxWait: 1000 });
  for await (const m of it) out.push(JSON.parse(td.decode(m.data)) as Json);
  return out;
}

describe("system account across a gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-sys-gw-"));
  let west: Petrel | undefined, east: Petrel | undefined;
  const conns: NatsConnection[] = [];

  function fromConf(name: string, text: string): Promise<Petrel> {
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, text);
    return startPetrel({ args: ["-c", file] });
  }

  before(async () => {
    west = await fromConf("west", `server_name: w1\nlisten: "127.0.0.1:-1"\n${ACCOUNTS}gateway {\n  name: west\n  listen: "127.0.0.1:-1"\n}\n`);
    east = await fromConf(
      "east",
      `server_name: e1\nlisten: "127.0.0.1:-1"\n${ACCOUNTS}gateway {\n  name: east\n  listen: "127.0.0.1:-1"\n  gateways: [{name: west, urls: ["${gatewayUrl(west)}"]}]\n}\n`,
    );
    await waitForLinks(west, ["east"]);
    await waitForLinks(east, ["west"]);
  }, { timeout: 30_000 });
  after(async () => {
    await closeAll(conns);
    await east?.stop();
    await west?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("both clusters answer a PING, each naming its cluster", { timeout: 20_000 }, async () => {
    const sys = await connect({ servers: west!.clientUrl, user: "sys", pass: "sys", reconnect: false });
    conns.push(sys);
    const answers = await waitFor("answers from west and east", async () => {
      const r = await requestAll(sys, "$SYS.REQ.SERVER.PING");
      return r.length === 2 ? r : undefined;
    }, 10_000, 100);
    const servers = answers.map((a) => a.server as Json);
    assert.deepEqual(servers.map((s) => s.name).sort(), ["e1", "w1"]);
    assert.deepEqual(servers.map((s) => s.cluster).sort(), ["east", "west"]);
    const gw = answers.map((a) => ((a.statsz as Json).gateways as Json[] | undefined)?.map((g) => g.name));
    assert.deepEqual(gw.map((g) => g?.join()).sort(), ["east", "west"]);
    for (const a of answers) assert.equal((a.statsz as Json).active_servers, 2);
  });

  it("a client of A connecting on east is announced on west", { timeout: 20_000 }, async () => {
    const sys = await connect({ servers: west!.clientUrl, user: "sys", pass: "sys", reconnect: false });
    conns.push(sys);
    const seen: Json[] = [];
    sys.subscribe("$SYS.ACCOUNT.A.CONNECT", {
      callback: (_e, m) => {
        seen.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    await sys.flush();
    await waitFor("a CONNECT from east", async () => {
      const a = await connect({ servers: east!.clientUrl, user: "a", pass: "a", reconnect: false, name: "eastern" });
      await a.close();
      return seen.length > 0;
    }, 10_000, 100);
    assert.equal((seen[0].server as Json).name, "e1");
    assert.equal((seen[0].client as Json).name, "eastern");
  });
});
