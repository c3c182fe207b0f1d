// The system services driven in-process with the official client, logged in to the system account: the
// endpoint handlers, the envelope, the request-body options and filters, and the STATSZ heartbeat.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { Petrel } from "../../src/petrel.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";
import { Server } from "../../src/server/server.ts";
import { createMonitorState } from "../../src/monitor/monitor_state.ts";
import { createMonitorEndpoints } from "../../src/monitor/endpoints.ts";
import { waitFor } from "../helpers/servers.ts";
import { SystemServices } from "../../src/system/services.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

type Json = Record<string, unknown>;
const td = new TextDecoder();

/**
 * Every answer to one request, however long the server takes under load: a HEALTHZ request follows it on the same
 * connection, and the server answers its system requests in order, so its answer closes the list (no time window).
 */
async function requestAll(nc: NatsConnection, subject: string, body = ""): Promise<Json[]> {
  const inbox = createInbox();
  const out: Json[] = [];
  const sub = nc.subscribe(`${inbox}.*`);
  nc.publish(subject, body, { reply: `${inbox}.q` });
  nc.publish("$SYS.REQ.SERVER.PING.HEALTHZ", "", { reply: `${inbox}.marker` });
  for await (const m of sub) {
    if (m.subject.endsWith(".marker")) break;
    out.push(JSON.parse(td.decode(m.data)) as Json);
  }
  sub.unsubscribe();
  return out;
}

describe("system services (in-process)", () => {
  let petrel: Petrel;
  let nc: NatsConnection;

  before(async () => {
    const accounts = {
      SYS: { users: [{ user: "sys", password: "sys" }], exports: [], imports: [] },
      A: { users: [{ user: "a", password: "a" }], exports: [], imports: [] },
    };
    const options = { ...applyDefaults({ host: "127.0.0.1", port: -1, server_name: "sys-1" }), accounts, system_account: "SYS" };
    petrel = new Petrel(options, { transport: currentRuntime().tcp, system: { statszFirstMs: 50, statszIntervalMs: 200 } });
    await petrel.start();
    nc = await connect({ servers: petrel.clientUrl, reconnect: false, name: "probe", user: "sys", pass: "sys" });
  });
  after(async () => {
    await nc?.close().catch(() => {});
    await petrel?.stop();
  });

  it("STATSZ heartbeats on $SYS.SERVER.<id>.STATSZ with growing seq (a short injected period)", async () => {
    const seen: Json[] = [];
    const sub = nc.subscribe(`$SYS.SERVER.${petrel.server.serverId}.STATSZ`, {
      callback: (_e, m) => {
        seen.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    const deadline = Date.now() + 6000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    assert.ok(seen.length >= 2, `heartbeats: ${seen.length}`);
    const seqs = seen.map((m) => (m.server as Json).seq as number);
    assert.ok(seqs[1] > seqs[0]);
    assert.ok((seen[0].statsz as Json).connections !== undefined);
  });

  it("PING answers with the server block and statsz", async () => {
    const [r, ...rest] = await requestAll(nc, "$SYS.REQ.SERVER.PING");
    assert.equal(rest.length, 0);
    const server = r.server as Json;
    assert.deepEqual(Object.keys(server), ["name", "host", "id", "ver", "seq", "jetstream", "time"]);
    assert.equal(server.name, "sys-1");
    assert.equal(server.id, petrel.server.serverId);
    assert.equal(server.ver, "2.9.10");
    const statsz = r.statsz as Json;
    for (const k of ["start", "mem", "cores", "cpu", "connections", "total_connections", "active_accounts", "subscriptions", "sent", "received", "slow_consumers", "active_servers"]) {
      assert.ok(k in statsz, k);
    }
    assert.equal(statsz.connections, 1);
    assert.equal(statsz.active_servers, 1);
  });

  it("every endpoint answers in the data envelope, by PING and by server id", async () => {
    for (const ep of ["VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "JSZ", "HEALTHZ", "ACCOUNTZ"]) {
      const [byPing] = await requestAll(nc, `$SYS.REQ.SERVER.PING.${ep}`);
      assert.ok(byPing.data !== undefined, ep);
      const byId = await nc.request(`$SYS.REQ.SERVER.${petrel.server.serverId}.${ep}`, "", { timeout: 2000 });
      const j = JSON.parse(td.decode(byId.data)) as Json;
      assert.ok(j.data !== undefined, ep);
    }
    const [connz] = await requestAll(nc, "$SYS.REQ.SERVER.PING.CONNZ");
    const conns = (connz.data as Json).connections as Json[];
    assert.deepEqual(conns.map((c) => c.name), ["probe"]);
    const [health] = await requestAll(nc, "$SYS.REQ.SERVER.PING.HEALTHZ");
    assert.deepEqual(health.data, { status: "ok" });
  });

  it("request bodies carry the endpoint's options and nats-server's server filter", async () => {
    const sub = nc.subscribe("only.here");
    await nc.flush();
    const [subsz] = await requestAll(nc, "$SYS.REQ.SERVER.PING.SUBSZ", JSON.stringify({ subscriptions: true, test: "only.here" }));
    const list = (subsz.data as Json).subscriptions_list as Json[];
    assert.deepEqual(list.map((s) => s.subject), ["only.here"]);
    sub.unsubscribe();
    assert.deepEqual(await requestAll(nc, "$SYS.REQ.SERVER.PING", JSON.stringify({ server_name: "nope" })), []);
    assert.equal((await requestAll(nc, "$SYS.REQ.SERVER.PING", JSON.stringify({ server_name: "sys" }))).length, 1);
    const [bad] = await requestAll(nc, "$SYS.REQ.SERVER.PING.CONNZ", "{bad");
    assert.equal((bad.error as Json).code, 400);
    assert.equal(bad.data, undefined);
    const [badType] = await requestAll(nc, "$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ offset: "x" }));
    assert.equal((badType.error as Json).code, 400);
    assert.match(String((badType.error as Json).description), /offset/);
    const [badSort] = await requestAll(nc, "$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ sort: "bogus" }));
    assert.equal(badSort.data, null);
    assert.deepEqual(badSort.error, { code: 500, description: "invalid sorting option: bogus" });
  });

  it("a failing endpoint answers 500 and the requester's connection goes on", async () => {
    petrel.server.monitorSections.set("gatewayz", () => {
      throw new Error("boom");
    });
    try {
      const [r] = await requestAll(nc, "$SYS.REQ.SERVER.PING.GATEWAYZ");
      assert.equal(r.data, null);
      assert.equal((r.error as Json).code, 500);
      assert.match(String((r.error as Json).description), /boom/);
      const [health] = await requestAll(nc, "$SYS.REQ.SERVER.PING.HEALTHZ");
      assert.deepEqual(health.data, { status: "ok" });
    } finally {
      petrel.server.monitorSections.delete("gatewayz");
    }
  });

  it("account requests: INFO, CONNZ, SUBSZ, STATZ; unknown accounts as nats-server answers them", async () => {
    const [info] = await requestAll(nc, "$SYS.REQ.ACCOUNT.SYS.INFO");
    assert.equal((info.data as Json).account_name, "SYS");
    assert.equal((info.data as Json).is_system, true);
    const [missing] = await requestAll(nc, "$SYS.REQ.ACCOUNT.NOPE.INFO");
    assert.deepEqual(missing.error, { code: 500, description: "Account NOPE does not exist" });
    const [connz] = await requestAll(nc, "$SYS.REQ.ACCOUNT.SYS.CONNZ");
    assert.equal((connz.data as Json).num_connections, 1);
    const [connzA] = await requestAll(nc, "$SYS.REQ.ACCOUNT.A.CONNZ");
    assert.deepEqual((connzA.data as Json).connections, []);
    const [noConnz] = await requestAll(nc, "$SYS.REQ.ACCOUNT.NOPE.CONNZ");
    assert.equal((noConnz.data as Json).connections, null);
    const [statz] = await requestAll(nc, "$SYS.REQ.ACCOUNT.PING.STATZ");
    const accs = ((statz.data as Json).account_statz as Json[]).map((a) => a.acc);
    assert.deepEqual(accs, ["SYS"]);
    const [conns] = await requestAll(nc, "$SYS.REQ.ACCOUNT.SYS.CONNS");
    assert.equal(conns.type, "io.nats.server.advisory.v1.account_connections");
    assert.equal(conns.conns, 1);
    assert.deepEqual(await requestAll(nc, "$SYS.REQ.ACCOUNT.A.CONNS"), [], "no connections in A: no answer");
    const [jsz] = await requestAll(nc, "$SYS.REQ.ACCOUNT.A.JSZ");
    assert.deepEqual(jsz.error, { code: 500, description: "jetstream not enabled" });
  });

});

describe("system account: isolation and connect/disconnect events (in-process)", () => {
  let petrel: Petrel;
  let sys: NatsConnection;

  before(async () => {
    const accounts = {
      SYS: { users: [{ user: "sys", password: "sys" }], exports: [], imports: [] },
      A: { users: [{ user: "a", password: "a" }], exports: [], imports: [] },
    };
    const options = { ...applyDefaults({ host: "127.0.0.1", port: -1, server_name: "sys-ev" }), accounts, system_account: "SYS" };
    petrel = new Petrel(options, { transport: currentRuntime().tcp });
    await petrel.start();
    sys = await connect({ servers: petrel.clientUrl, reconnect: false, user: "sys", pass: "sys" });
  });
  after(async () => {
    await sys?.close().catch(() => {});
    await petrel?.stop();
  });

  it("another account cannot reach the system services", async () => {
    const a = await connect({ servers: petrel.clientUrl, reconnect: false, user: "a", pass: "a" });
    try {
      await assert.rejects(a.request("$SYS.REQ.SERVER.PING", "", { timeout: 2000 }), /no responders|503/i);
    } finally {
      await a.close();
    }
  });

  it("publishes CONNECT, SERVER.CONNS and DISCONNECT for a client of account A", async () => {
    const events: Array<{ subject: string; body: Json }> = [];
    const sub = sys.subscribe("$SYS.ACCOUNT.A.>", {
      callback: (_e, m) => {
        events.push({ subject: m.subject, body: JSON.parse(td.decode(m.data)) as Json });
      },
    });
    await sys.flush();
    const a = await connect({ servers: petrel.clientUrl, reconnect: false, user: "a", pass: "a", name: "evented" });
    a.publish("x", "hello");
    await a.flush();
    await a.close();
    const deadline = Date.now() + 5000;
    while (!events.some((e) => e.subject.endsWith(".DISCONNECT")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    assert.deepEqual(events.map((e) => e.subject), [
      "$SYS.ACCOUNT.A.SERVER.CONNS",
      "$SYS.ACCOUNT.A.CONNECT",
      "$SYS.ACCOUNT.A.SERVER.CONNS",
      "$SYS.ACCOUNT.A.DISCONNECT",
    ]);
    const connect0 = events[1].body;
    assert.equal(connect0.type, "io.nats.server.advisory.v1.client_connect");
    const client = connect0.client as Json;
    assert.equal(client.acc, "A");
    assert.equal(client.user, "a");
    assert.equal(client.name, "evented");
    assert.equal(client.kind, "Client");
    assert.equal(client.client_type, "nats");
    assert.equal((events[0].body as Json).conns, 1);
    assert.equal((events[2].body as Json).conns, 0);
    const dis = events[3].body;
    assert.equal(dis.type, "io.nats.server.advisory.v1.client_disconnect");
    assert.equal(dis.reason, "Client Closed");
    assert.deepEqual(dis.sent, { msgs: 1, bytes: 5 });
    assert.ok(typeof (dis.client as Json).stop === "string");
  });
});

describe("system account: heartbeats and failed logins (in-process)", () => {
  let petrel: Petrel;
  let sys: NatsConnection;

  before(async () => {
    const accounts = {
      SYS: { users: [{ user: "sys", password: "sys" }], exports: [], imports: [] },
      A: { users: [{ user: "a", password: "a" }], exports: [], imports: [] },
    };
    const options = { ...applyDefaults({ host: "127.0.0.1", port: -1, server_name: "sys-hb" }), accounts, system_account: "SYS" };
    petrel = new Petrel(options, { transport: currentRuntime().tcp, system: { accountConnsIntervalMs: 100 } });
    await petrel.start();
    sys = await connect({ servers: petrel.clientUrl, reconnect: false, user: "sys", pass: "sys" });
  });
  after(async () => {
    await sys?.close().catch(() => {});
    await petrel?.stop();
  });

  it("repeats SERVER.CONNS for an account with connections, and reports a failed login on CLIENT.AUTH.ERR", async () => {
    const beats: Json[] = [];
    const authErrors: Json[] = [];
    const sub = sys.subscribe("$SYS.ACCOUNT.A.SERVER.CONNS", {
      callback: (_e, m) => {
        beats.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    const errSub = sys.subscribe(`$SYS.SERVER.${petrel.server.serverId}.CLIENT.AUTH.ERR`, {
      callback: (_e, m) => {
        authErrors.push(JSON.parse(td.decode(m.data)) as Json);
      },
    });
    await sys.flush();
    const a = await connect({ servers: petrel.clientUrl, reconnect: false, user: "a", pass: "a" });
    try {
      const deadline = Date.now() + 5000;
      while (beats.filter((b) => b.conns === 1).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(beats.filter((b) => b.conns === 1).length >= 3, `heartbeats: ${beats.length}`);
      await assert.rejects(connect({ servers: petrel.clientUrl, reconnect: false, user: "a", pass: "nope", name: "intruder" }));
      while (authErrors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(authErrors[0].reason, "Authentication Failure");
      assert.equal((authErrors[0].client as Json).name, "intruder");
      assert.equal((authErrors[0].client as Json).user, "a");
    } finally {
      sub.unsubscribe();
      errSub.unsubscribe();
      await a.close();
    }
  });
});

describe("system account: what happens while its work is loading (in-process)", () => {
  let server: Server;
  let services: SystemServices;
  let release: () => void = () => {};
  const conns: NatsConnection[] = [];

  before(async () => {
    const accounts = {
      SYS: { users: [{ user: "sys", password: "sys" }], exports: [], imports: [] },
      A: { users: [{ user: "a", password: "a" }], exports: [], imports: [] },
    };
    const options = { ...applyDefaults({ host: "127.0.0.1", port: -1, server_name: "sys-lazy" }), accounts, system_account: "SYS" };
    server = new Server(options, { transport: currentRuntime().tcp });
    const state = createMonitorState(server);
    // The responder and the endpoints load on first use: here only once the test lets them.
    const gate = new Promise<void>((r) => (release = r));
    const monitor = { state, load: () => gate.then(() => createMonitorEndpoints(server, { httpHost: "", httpPort: 0 }, state)) };
    await server.start();
    services = new SystemServices(server, monitor, server.createInternalClient("$SYS services", { account: "SYS" }));
    services.start();
  });
  after(async () => {
    release();
    for (const nc of conns) await nc.close().catch(() => {});
    services?.stop();
    await server?.shutdown();
  });

  it("keeps the events in order, with the numbers of their moment, and answers a request that waited", async () => {
    const sys = await connect({ servers: `nats://127.0.0.1:${server.clientPort}`, reconnect: false, user: "sys", pass: "sys" });
    conns.push(sys);
    const events: Array<{ subject: string; body: Json }> = [];
    let disconnected!: () => void;
    const disconnect = new Promise<void>((r) => (disconnected = r));
    sys.subscribe("$SYS.ACCOUNT.A.>", {
      callback: (_e, m) => {
        events.push({ subject: m.subject, body: JSON.parse(td.decode(m.data)) as Json });
        if (m.subject.endsWith(".DISCONNECT")) disconnected();
      },
    });
    await sys.flush();
    const a1 = await connect({ servers: `nats://127.0.0.1:${server.clientPort}`, reconnect: false, user: "a", pass: "a", name: "a1" });
    const a2 = await connect({ servers: `nats://127.0.0.1:${server.clientPort}`, reconnect: false, user: "a", pass: "a", name: "a2" });
    conns.push(a2);
    await a1.close();
    // Nothing is built before the work is loaded: a request waits too.
    const ping = sys.request("$SYS.REQ.SERVER.PING", "", { timeout: 5000 });
    await sys.flush();
    await waitFor("the server to drop a1", () => server.clients.size <= 2);
    assert.equal(events.length, 0, "no event before the work is loaded");
    release();
    const answer = JSON.parse(td.decode((await ping).data)) as Json;
    assert.equal((answer.server as Json).name, "sys-lazy");
    // The DISCONNECT is the last of the six events: once it is here, the others are too.
    await disconnect;
    const conns1 = events.filter((e) => e.subject === "$SYS.ACCOUNT.A.SERVER.CONNS").map((e) => e.body.conns);
    assert.deepEqual(events.map((e) => e.subject.slice("$SYS.ACCOUNT.A.".length)), ["SERVER.CONNS", "CONNECT", "SERVER.CONNS", "CONNECT", "SERVER.CONNS", "DISCONNECT"]);
    assert.deepEqual(conns1, [1, 2, 1], "each count as it was when its event happened");
    assert.deepEqual(events.filter((e) => e.subject.endsWith("CONNECT")).map((e) => (e.body.client as Json).name), ["a1", "a2", "a1"]);
    // One numbering for every message the services sent: the events, then the answer that waited behind them.
    const seqs = events.map((e) => (e.body.server as Json).seq as number);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), JSON.stringify(seqs));
  });
});
