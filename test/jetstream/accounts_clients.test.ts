// JetStream per account through the official clients, differential: the same accounts (A with limits, B with
// JetStream, C without) on nats-server 2.9.10 and on Petrel, the same client code, the same answers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, JetStreamApiError, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { startAccountsPetrel } from "./server.ts";

const te = new TextEncoder();
const td = new TextDecoder();
type J = Record<string, unknown>;

/** The accounts of the test, as options (Petrel in-process) and as a conf file (nats-server). */
export const ACCOUNTS = {
  A: {
    users: [{ user: "a", password: "a" }],
    exports: [],
    imports: [],
    jetstream: { max_mem: 1_000_000, max_file: 10_000_000, max_streams: 3, max_consumers: 3 },
  },
  B: { users: [{ user: "b", password: "b" }], exports: [], imports: [], jetstream: { max_mem: -1, max_file: -1, max_streams: -1, max_consumers: -1 } },
  C: { users: [{ user: "c", password: "c" }], exports: [], imports: [] },
  SYS: { users: [{ user: "s", password: "s" }], exports: [], imports: [] },
};

export const ACCOUNTS_CONF = `
system_account: SYS
accounts {
  A: { users: [{user: a, password: a}], jetstream: { max_mem: 1000000, max_file: 10000000, max_streams: 3, max_consumers: 3 } }
  B: { users: [{user: b, password: b}], jetstream: enabled }
  C: { users: [{user: c, password: c}] }
  SYS: { users: [{user: s, password: s}] }
}
`;

interface Target {
  url: string;
  monitorUrl?: string;
  stop(): Promise<void>;
}

/** The same conf file for both, each a child process (Petrel as the drop-in it is). */
async function start(kind: "nats-server" | "petrel"): Promise<Target> {
  const s: RunningServer = await startServer(kind, { jetstream: true, monitor: true, conf: ACCOUNTS_CONF });
  return { url: s.url, monitorUrl: s.monitorUrl, stop: () => s.stop() };
}

async function apiErr(p: Promise<unknown>): Promise<J> {
  try {
    await p;
  } catch (e) {
    if (e instanceof JetStreamApiError) {
      const d = e.apiError();
      return { code: d.code, err_code: d.err_code, description: d.description };
    }
    throw e;
  }
  throw new Error("expected an API error");
}

async function raw(nc: NatsConnection, subject: string, body = "", timeout = 2000): Promise<J> {
  const m = await nc.request(subject, te.encode(body), { timeout });
  return JSON.parse(td.decode(m.data)) as J;
}

/** Runs the scenario and returns what both servers must agree on. */
async function scenario(t: Target): Promise<J> {
  const out: J = {};
  const [a, b, c, sys] = await Promise.all(
    ["a", "b", "c", "s"].map((u) => connect({ servers: t.url, user: u, pass: u, reconnect: false })),
  );
  try {
    const jsmA = await jetstreamManager(a);
    const jsmB = await jetstreamManager(b);
    // Same stream name in two accounts, different contents.
    await jsmA.streams.add({ name: "ORDERS", subjects: ["orders.>"], storage: StorageType.Memory });
    await jsmB.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    const jsA = jetstream(a);
    const jsB = jetstream(b);
    await jsA.publish("orders.1", "a1");
    await jsA.publish("orders.2", "a2");
    await jsB.publish("orders.1", "b1");
    out.messages = [(await jsmA.streams.info("ORDERS")).state.messages, (await jsmB.streams.info("ORDERS")).state.messages];
    out.bGet = td.decode((await jsmB.streams.getMessage("ORDERS", { seq: 1 }))?.data);
    // Consumers are the account's own.
    await jsmA.consumers.add("ORDERS", { durable_name: "proc", ack_policy: AckPolicy.Explicit });
    out.bConsumer = await apiErr(jsmB.consumers.info("ORDERS", "proc"));
    const cons = await jsA.consumers.get("ORDERS", "proc");
    const m = await cons.next({ expires: 2000 });
    out.pulled = m ? td.decode(m.data) : null;
    m?.ack();
    // KV buckets of the same name are separate.
    const kvA = await new Kvm(a).create("cfg");
    const kvB = await new Kvm(b).create("cfg");
    await kvA.put("color", "red");
    await kvB.put("color", "blue");
    out.kv = [td.decode((await kvA.get("color"))?.value), td.decode((await kvB.get("color"))?.value)];
    out.kvMissing = await kvB.get("size");
    // Limits of A: 3 streams (ORDERS, KV_cfg, one more), 3 consumers, 1 MB memory, 10 MB file.
    out.bigMem = await apiErr(jsmA.streams.add({ name: "BIG", subjects: ["big"], storage: StorageType.Memory, max_bytes: 2_000_000 }));
    out.bigFile = await apiErr(jsmA.streams.add({ name: "BIG", subjects: ["big"], max_bytes: 20_000_000 }));
    // A stream may not allow more consumers than the account.
    out.wideStream = await apiErr(jsmA.streams.add({ name: "WIDE", subjects: ["wide"], max_consumers: 10 }));
    await jsmA.streams.add({ name: "M", subjects: ["m"], storage: StorageType.Memory });
    out.fourth = await apiErr(jsmA.streams.add({ name: "FOURTH", subjects: ["fourth"] }));
    // max_consumers counts per stream in nats-server 2.9: ORDERS takes two more, M takes three.
    await jsmA.consumers.add("ORDERS", { durable_name: "c2", ack_policy: AckPolicy.Explicit });
    await jsmA.consumers.add("ORDERS", { durable_name: "c3", ack_policy: AckPolicy.Explicit });
    out.fourthConsumer = await apiErr(jsmA.consumers.add("ORDERS", { durable_name: "c4", ack_policy: AckPolicy.Explicit }));
    await jsmA.consumers.add("M", { durable_name: "c4", ack_policy: AckPolicy.Explicit });
    const big = "x".repeat(100 * 1024);
    let refused: J | undefined;
    for (let i = 0; i < 12 && !refused; i++) {
      const r = await raw(a, "m", big);
      if (r.error) refused = { at: i, ...r };
    }
    out.refused = refused;
    const infoA = await jsmA.getAccountInfo();
    out.infoA = { streams: infoA.streams, consumers: infoA.consumers, limits: infoA.limits, tiers: infoA.tiers };
    out.infoAKeys = Object.keys(await raw(a, "$JS.API.INFO")).sort();
    // A request for another account's stream: B has no stream M, whatever A has.
    out.bOtherStream = await apiErr(jsmB.streams.info("M"));
    const infoB = await jsmB.getAccountInfo();
    out.infoB = { streams: infoB.streams, consumers: infoB.consumers, limits: infoB.limits };
    // C has no JetStream.
    out.cInfo = await raw(c, "$JS.API.INFO");
    out.cNames = await raw(c, "$JS.API.STREAM.NAMES");
    out.sysInfo = await raw(sys, "$JS.API.INFO");
    out.cCreate = await raw(c, "$JS.API.STREAM.CREATE.S", JSON.stringify({ name: "S", subjects: ["s"] }));
    try {
      await jetstreamManager(c);
      out.cManager = "opened";
    } catch (e) {
      out.cManager = (e as Error).message;
    }
    // /jsz per account.
    if (t.monitorUrl) {
      const jsz = await (await fetch(`${t.monitorUrl}/jsz?accounts=true&streams=true`)).json() as J;
      const details = (jsz.account_details as J[]).sort((x, y) => String(x.name).localeCompare(String(y.name)));
      out.jsz = {
        accounts: jsz.accounts,
        streams: jsz.streams,
        consumers: jsz.consumers,
        details: details.map((d) => ({
          name: d.name,
          reserved_memory: d.reserved_memory,
          reserved_storage: d.reserved_storage,
          keys: Object.keys(d).sort(),
          streams: (d.stream_detail as J[] | undefined)?.map((s) => s.name).sort(),
        })),
      };
      const one = await (await fetch(`${t.monitorUrl}/jsz?acc=B`)).json() as J;
      out.jszB = (one.account_details as J[]).map((d) => d.name);
    }
  } finally {
    await Promise.all([a, b, c, sys].map((n) => n.close()));
  }
  return out;
}

describe("JetStream per account: Petrel answers as nats-server 2.9.10 does", () => {
  const results = new Map<string, J>();
  const targets = new Map<string, Target>();
  before(async () => {
    for (const kind of ["nats-server", "petrel"] as const) targets.set(kind, await start(kind));
  });
  after(async () => {
    for (const t of targets.values()) await t.stop();
  });

  for (const kind of ["nats-server", "petrel"]) {
    it(`${kind}: isolates accounts, enforces limits, refuses C`, async () => {
      const t = targets.get(kind);
      assert.ok(t);
      const r = await scenario(t);
      results.set(kind, r);
      assert.deepEqual(r.messages, [2, 1]);
      assert.equal(r.bGet, "b1");
      assert.equal((r.bConsumer as J).err_code, 10014);
      assert.equal(r.pulled, "a1");
      assert.deepEqual(r.kv, ["red", "blue"]);
      assert.equal(r.kvMissing, null);
      assert.deepEqual(r.bigMem, { code: 500, err_code: 10028, description: "insufficient memory resources available" });
      assert.deepEqual(r.bigFile, { code: 500, err_code: 10047, description: "insufficient storage resources available" });
      assert.deepEqual(r.fourth, { code: 400, err_code: 10027, description: "maximum number of streams reached" });
      assert.deepEqual(r.fourthConsumer, { code: 400, err_code: 10026, description: "maximum consumers limit reached" });
      assert.equal((r.wideStream as J).err_code, 10026);
      const refused = r.refused as J;
      assert.deepEqual(refused.error, { code: 400, err_code: 10002, description: "resource limits exceeded for account" });
      assert.equal((r.cInfo as J).error && ((r.cInfo as J).error as J).err_code, 10039);
      assert.deepEqual(r.bOtherStream, { code: 404, err_code: 10059, description: "stream not found" });
    });
  }

  it("both servers gave the same answers", () => {
    const ns = results.get("nats-server");
    const pt = results.get("petrel");
    assert.ok(ns && pt, "both scenarios ran");
    assert.deepEqual(pt, ns);
  });
});

describe("JetStream per account: restart", () => {
  it("finds each account's streams again, in nats-server's layout", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-jsacc-"));
    try {
      let s = await startAccountsPetrel({ dir, accounts: ACCOUNTS });
      for (const u of ["a", "b"]) {
        const nc = await connect({ servers: s.url, user: u, pass: u, reconnect: false });
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "KEEP", subjects: ["keep"] });
        await jetstream(nc).publish("keep", `from ${u}`);
        await nc.close();
      }
      await s.stop();
      assert.ok(fs.existsSync(path.join(dir, "jetstream", "A", "streams", "KEEP")));
      assert.ok(fs.existsSync(path.join(dir, "jetstream", "B", "streams", "KEEP")));
      s = await startAccountsPetrel({ dir, accounts: ACCOUNTS });
      try {
        for (const u of ["a", "b"]) {
          const nc = await connect({ servers: s.url, user: u, pass: u, reconnect: false });
          const m = await (await jetstreamManager(nc)).streams.getMessage("KEEP", { seq: 1 });
          assert.equal(td.decode(m?.data), `from ${u}`);
          await nc.close();
        }
      } finally {
        await s.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("JetStream per account: reload", () => {
  const before = `
accounts {
  A: { users: [{user: a, password: a}], jetstream: { max_mem: 1000000, max_file: 10000000, max_streams: 2, max_consumers: 3 } }
  C: { users: [{user: c, password: c}] }
}
`;
  const after = before.replace("max_streams: 2", "max_streams: 5").replace("C: { users: [{user: c, password: c}] }", "C: { users: [{user: c, password: c}], jetstream: enabled }");

  for (const kind of ["nats-server", "petrel"] as const) {
    it(`${kind}: SIGHUP applies new account limits and enables JetStream for an account`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-jsacc-reload-"));
      const conf = path.join(dir, "accounts.conf");
      // JetStream in the file, not as -js: nats-server's reload reads the file alone and would turn it off.
      const js = `jetstream { store_dir: ${JSON.stringify(path.join(dir, "store"))} }\n`;
      fs.writeFileSync(conf, js + before);
      const s = await startServer(kind, { args: ["-c", conf] });
      const [a, c] = await Promise.all(["a", "c"].map((u) => connect({ servers: s.url, user: u, pass: u, reconnect: false })));
      try {
        assert.equal(((await raw(a, "$JS.API.INFO")).limits as J).max_streams, 2);
        assert.equal(((await raw(c, "$JS.API.INFO")).error as J).err_code, 10039);
        fs.writeFileSync(conf, js + after);
        process.kill(s.pid, "SIGHUP");
        // The reload is done when A's limit moved and C answers (bounded). nats-server re-wires the accounts'
        // JetStream during a reload: a request in that window may find no responder, so each try asks anew.
        const info = async (u: string): Promise<J> => {
          // Mid-reload, nats-server may also refuse a connection for a moment (users being swapped).
          const nc = await connect({ servers: s.url, user: u, pass: u, reconnect: false }).catch(() => undefined);
          if (!nc) return {};
          try {
            return await raw(nc, "$JS.API.INFO", "", 500).catch(() => ({}) as J);
          } finally {
            await nc.close();
          }
        };
        let ai: J = {};
        let ci: J = {};
        for (let i = 0; i < 100; i++) {
          [ai, ci] = await Promise.all([info("a"), info("c")]);
          if ((ai.limits as J | undefined)?.max_streams === 5 && ci.limits !== undefined) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal((ai.limits as J | undefined)?.max_streams, 5, `${kind}: ${JSON.stringify(ai)} ${JSON.stringify(ci)}`);
        assert.equal(ci.error, undefined);
        assert.equal((ci.limits as J).max_streams, -1);
      } finally {
        await Promise.all([a.close(), c.close()]);
        await s.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
