// A cluster node builds its STATSZ heartbeat only when someone can hear it: a system-account subscriber on another
// server (its interest comes over the route as RS+) gets it; while nobody subscribes, none is built. The server
// block's `seq` counts every system message a server builds, so the first heartbeat heard tells how many went before.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { defaultExtensions } from "../../adapters/extensions.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";
import { Petrel } from "../../src/petrel.ts";

await loadSchemas();

type Json = Record<string, unknown>;
const td = new TextDecoder();

async function node(name: string, routes: string[]): Promise<Petrel> {
  const rt = currentRuntime();
  const accounts = {
    SYS: { users: [{ user: "sys", password: "sys" }], exports: [], imports: [] },
    A: { users: [{ user: "a", password: "a" }], exports: [], imports: [] },
  };
  const base = applyDefaults({ host: "127.0.0.1", port: -1, server_name: name, cluster: { name: "hb", host: "127.0.0.1", port: -1, routes } });
  const options = { ...base, accounts, system_account: "SYS" };
  const p = new Petrel(options, {
    transport: rt.tcp,
    extensions: defaultExtensions(options, rt),
    // Heartbeats every 20 ms, so that a few periods pass quickly.
    system: { statszFirstMs: 20, statszIntervalMs: 20 },
  });
  await p.start();
  return p;
}

/** The next `count` heartbeats on `subject`, as the server blocks they carry. */
function heartbeats(nc: NatsConnection, subject: string, count: number): Promise<Json[]> {
  const got: Json[] = [];
  return new Promise((resolve) => {
    const sub = nc.subscribe(subject, {
      callback: (_e, m) => {
        got.push((JSON.parse(td.decode(m.data)) as Json).server as Json);
        if (got.length === count) {
          sub.unsubscribe();
          resolve(got);
        }
      },
    });
  });
}

describe("STATSZ heartbeat on a cluster node (built only when heard)", () => {
  let a: Petrel;
  let b: Petrel;
  let nc: NatsConnection;

  before(async () => {
    a = await node("hb-a", []);
    const cluster = a.ports().cluster?.[0];
    assert.ok(cluster !== undefined);
    b = await node("hb-b", [cluster]);
    nc = await connect({ servers: b.clientUrl, reconnect: false, name: "sys-probe", user: "sys", pass: "sys" });
  });
  after(async () => {
    await nc?.close().catch(() => {});
    await b?.stop();
    await a?.stop();
  });

  it("reaches a subscriber on another server, and none was built while nobody listened", { timeout: 30_000 }, async () => {
    // b's own heartbeats are the clock: a started first on the same schedule, so after b's sixth a has had at
    // least six periods with nobody subscribed to its subject (b's probe listens to b's subject only).
    const own = await heartbeats(nc, `$SYS.SERVER.${b.server.serverId}.STATSZ`, 6);
    assert.equal(own.length, 6);
    const fromA = await heartbeats(nc, `$SYS.SERVER.${a.server.serverId}.STATSZ`, 2);
    assert.equal(fromA[0].id, a.server.serverId);
    assert.ok((fromA[1].seq as number) > (fromA[0].seq as number));
    assert.ok((fromA[0].seq as number) <= 2, `a built ${fromA[0].seq} system messages before anyone heard one`);
  });
});
