// Differential: the system account's requests, events and the account monitoring endpoints give the same JSON
// field names (and the same errors) on nats-server 2.9.10 and Petrel, with the same configuration file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { closeAll, connectTo, td } from "../helpers/nats.ts";
import { monitorJson, type RunningServer, type ServerKind, startServer, testTargets } from "../helpers/servers.ts";

type Json = Record<string, unknown>;

const CONF = `server_name: diff
server_tags: ["az:1", "ssd"]
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  A: { users: [{ user: a, password: a }] }
  B: { users: [{ user: b, password: b }] }
}
system_account: SYS
`;

/**
 * The field names of a JSON value, recursively (arrays by their first element). Lists nats-server fills with
 * its own internal entries are left out by the caller.
 */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? [] : [shape(v[0])];
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = shape((v as Json)[k]);
    return out;
  }
  return v === null ? null : typeof v;
}

/**
 * Every answer to one request that arrives within `maxWait` (all of them: a second answer is a difference too).
 * The probes of a scenario are asked at once, each with its own inbox, so the window can be wide enough for a
 * loaded host (an answer that took over 300 ms counted as none) and still cost one window per scenario.
 */
async function requestAll(nc: NatsConnection, subject: string, body = "", maxWait = 2000): Promise<Json[]> {
  const out: Json[] = [];
  const it = await nc.requestMany(subject, body, { maxWait });
  for await (const m of it) out.push(JSON.parse(td.decode(m.data)) as Json);
  return out;
}

/** `requestAll` for each [subject, body] at once, keyed `${subject} ${body}`. */
async function requestEach(nc: NatsConnection, probes: ReadonlyArray<readonly [string, string]>): Promise<Record<string, Json[]>> {
  const answers = await Promise.all(probes.map(([subject, body]) => requestAll(nc, subject, body)));
  return Object.fromEntries(probes.map(([subject, body], i) => [`${subject} ${body}`, answers[i]]));
}

interface Observed {
  requests: Record<string, Json[]>;
  /** Asked by a user of account A (nats-server's system imports in every account). */
  fromA: Record<string, Json[]>;
  http: Record<string, Json>;
  events: Record<string, Json>;
}

const PROBES: Array<[string, string]> = [
  ["$SYS.REQ.SERVER.PING", ""],
  ["$SYS.REQ.SERVER.PING.STATSZ", ""],
  ["$SYS.REQ.SERVER.PING.VARZ", ""],
  ["$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ acc: "A", subscriptions_detail: true })],
  ["$SYS.REQ.SERVER.PING.SUBSZ", JSON.stringify({ subscriptions: true, account: "A", test: "a.sub" })],
  ["$SYS.REQ.SERVER.PING.ROUTEZ", ""],
  ["$SYS.REQ.SERVER.PING.GATEWAYZ", ""],
  ["$SYS.REQ.SERVER.PING.LEAFZ", ""],
  ["$SYS.REQ.SERVER.PING.JSZ", ""],
  ["$SYS.REQ.SERVER.PING.HEALTHZ", ""],
  ["$SYS.REQ.SERVER.PING.ACCOUNTZ", ""],
  ["$SYS.REQ.SERVER.PING.ACCOUNTZ", JSON.stringify({ account: "NOPE" })],
  ["$SYS.REQ.SERVER.PING.CONNZ", "{bad"],
  ["$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ sort: "bogus" })],
  ["$SYS.REQ.SERVER.PING", JSON.stringify({ server_name: "nomatch" })],
  ["$SYS.REQ.SERVER.PING", JSON.stringify({ server_name: "dif", host: "127" })],
  ["$SYS.REQ.SERVER.PING.STATSZ", JSON.stringify({ cluster: "none" })],
  ["$SYS.REQ.SERVER.PING.STATSZ", JSON.stringify({ tags: ["SSD", "az:1"] })],
  ["$SYS.REQ.SERVER.PING.STATSZ", JSON.stringify({ tags: ["ssd", "hdd"] })],
  ["$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ subscriptions: true, auth: true, sort: "msgs_from", limit: 1 })],
  ["$SYS.REQ.SERVER.PING.CONNZ", JSON.stringify({ state: 1, auth: true })],
  ["$SYS.REQ.SERVER.PING.SUBSZ", JSON.stringify({ subscriptions: true, offset: 1, limit: 1 })],
  ["$SYS.REQ.SERVER.PING.ACCOUNTZ", JSON.stringify({ account: "A" })],
  ["$SYS.REQ.SERVER.PING.LEAFZ", JSON.stringify({ subscriptions: true })],
  ["$SYS.REQ.SERVER.PING.HEALTHZ", JSON.stringify({ "js-enabled": true })],
  ["$SYS.REQ.SERVER.PING.VARZ", JSON.stringify([1])],
  ["$SYS.REQ.ACCOUNT.A.CONNZ", ""],
  ["$SYS.REQ.ACCOUNT.A.SUBSZ", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.SUBSZ", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.LEAFZ", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.STATZ", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.CONNS", ""],
  ["$SYS.REQ.ACCOUNT.A.INFO", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.CONNZ", ""],
  ["$SYS.REQ.ACCOUNT.A.LEAFZ", ""],
  ["$SYS.REQ.ACCOUNT.A.JSZ", ""],
  ["$SYS.REQ.ACCOUNT.NOPE.INFO", ""],
  ["$SYS.REQ.ACCOUNT.A.CONNS", ""],
  ["$SYS.REQ.ACCOUNT.B.CONNS", ""],
  ["$SYS.REQ.ACCOUNT.A.STATZ", ""],
  ["$SYS.REQ.ACCOUNT.B.STATZ", ""],
  ["$SYS.REQ.ACCOUNT.B.STATZ", JSON.stringify({ include_unused: true })],
];

const FROM_A = ["$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.STATZ"];

const HTTP = ["/connz?state=closed&auth=1", "/connz?state=closed&sort=stop", "/connz?sort=stop", "/connz?state=bogus", "/accountz", "/accountz?acc=B", "/accstatz", "/accstatz?unused=1", "/connz?acc=A", "/connz?acc=NOPE", "/connz?acc=A&auth=1", "/subsz?acc=A&subs=1", "/subsz?acc=NOPE"];

interface Scenario {
  conf: string;
  jetstream?: boolean;
  probes: Array<[string, string]>;
  http: string[];
}

const BASIC: Scenario = { conf: CONF, probes: PROBES, http: HTTP };

const JS_CONF = `server_name: diffjs
jetstream { domain: hub }
accounts {
  SYS: { users: [{ user: sys, password: sys }] }
  A: { users: [{ user: a, password: a }], jetstream: enabled }
  B: { users: [{ user: b, password: b }] }
}
system_account: SYS
`;

const JETSTREAM: Scenario = {
  conf: JS_CONF,
  jetstream: true,
  probes: [
    ["$SYS.REQ.SERVER.PING", ""],
    ["$SYS.REQ.SERVER.PING", JSON.stringify({ domain: "hub" })],
    ["$SYS.REQ.SERVER.PING", JSON.stringify({ domain: "elsewhere" })],
    ["$SYS.REQ.SERVER.PING.VARZ", ""],
    ["$SYS.REQ.ACCOUNT.A.JSZ", ""],
    ["$SYS.REQ.ACCOUNT.B.JSZ", ""],
    ["$SYS.REQ.SERVER.PING.JSZ", JSON.stringify({ accounts: true })],
    ["$SYS.REQ.ACCOUNT.A.INFO", ""],
  ],
  http: ["/jsz?acc=A", "/jsz?accounts=true", "/accountz?acc=A"],
};

async function observe(kind: ServerKind, sc: Scenario = BASIC): Promise<Observed> {
  const server: RunningServer = await startServer(kind, { monitor: true, conf: sc.conf, jetstream: sc.jetstream });
  const conns: NatsConnection[] = [];
  try {
    const sys = await connectTo(server, { user: "sys", pass: "sys" });
    conns.push(sys);
    const events: Record<string, Json> = {};
    sys.subscribe("$SYS.ACCOUNT.A.>", {
      callback: (_e, m) => {
        events[m.subject] = JSON.parse(td.decode(m.data)) as Json;
      },
    });
    sys.subscribe("$SYS.SERVER.*.CLIENT.AUTH.ERR", {
      callback: (_e, m) => {
        events["$SYS.SERVER.<id>.CLIENT.AUTH.ERR"] = JSON.parse(td.decode(m.data)) as Json;
      },
    });
    await sys.flush();
    await assert.rejects(connectTo(server, { user: "a", pass: "wrong", name: "intruder" }));
    const a = await connectTo(server, { user: "a", pass: "a", name: "diff-a" });
    conns.push(a);
    a.subscribe("a.sub");
    a.publish("a.sub", "x");
    await a.flush();
    const fromABody = JSON.stringify({ acc: "B" });
    const [requests, fromAByKey] = await Promise.all([
      requestEach(sys, sc.probes),
      requestEach(a, FROM_A.map((subject) => [subject, fromABody] as const)),
    ]);
    const fromA: Record<string, Json[]> = Object.fromEntries(FROM_A.map((subject) => [subject, fromAByKey[`${subject} ${fromABody}`]]));
    const http: Record<string, Json> = {};
    for (const path of sc.http) {
      const res = await fetch(server.monitorUrl + path);
      const text = await res.text();
      http[path] = { status: res.status, body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
    }
    const missing = await fetch(`${server.monitorUrl}/accountz?acc=NOPE`);
    http["/accountz?acc=NOPE"] = { status: missing.status, body: (await missing.text()).trim() };
    await a.close();
    const deadline = Date.now() + 3000;
    while ((events["$SYS.ACCOUNT.A.DISCONNECT"] === undefined || events["$SYS.SERVER.<id>.CLIENT.AUTH.ERR"] === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return { requests, fromA, http, events };
  } finally {
    await closeAll(conns);
    await server.stop();
  }
}


const both = testTargets().length === 2;

const SUPERSET = new Set(["$SYS.REQ.SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.ROUTEZ"]);

/** Every field of `want` (recursively) is in `got`, with the same kind of value. */
function assertHasFields(got: unknown, want: unknown, where: string): void {
  if (want === null || typeof want !== "object" || Array.isArray(want)) {
    assert.deepEqual(got, want, where);
    return;
  }
  assert.ok(got !== null && typeof got === "object", where);
  for (const [k, v] of Object.entries(want)) assertHasFields((got as Json)[k], v, `${where}.${k}`);
}

/** The round-trip time is only reported once measured (Go's omitempty); nats-server measures it at connect. */
function withoutRtt(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) if (k !== "rtt") out[k] = withoutRtt(x);
  return out;
}

describe("system account: field names as nats-server 2.9.10", { skip: both ? false : "needs both targets" }, () => {
  let ref: Observed;
  let ours: Observed;
  before(async () => {
    [ref, ours] = await Promise.all([observe("nats-server"), observe("petrel")]);
  });
  after(() => {});

  for (const [subject, body] of PROBES) {
    const key = `${subject} ${body}`;
    it(`${subject} ${body}: same answers, same fields`, () => {
      const r = ref.requests[key];
      const o = ours.requests[key];
      assert.equal(o.length, r.length, "number of answers");
      // Subscription lists: nats-server counts its own system-import subscriptions in every account.
      const norm = (x: Json[]) => x.map((m) => shape(m));
      if (SUPERSET.has(subject)) {
        // /varz and /routez belong to other areas and carry some extra fields: every one of nats-server's must be there.
        for (let i = 0; i < r.length; i++) assertHasFields(norm(o)[i], norm(r)[i], subject);
      } else {
        assert.deepEqual(norm(o), norm(r));
      }
      for (let i = 0; i < r.length; i++) {
        const err = r[i].error as Json | undefined;
        if (err === undefined) continue;
        // A malformed body's text is Go's JSON decoder's own; the code must match.
        if (err.code === 400) assert.equal((o[i].error as Json).code, 400);
        else assert.deepEqual(o[i].error, err);
      }
    });
  }

  for (const path of [...HTTP, "/accountz?acc=NOPE"]) {
    it(`GET ${path}: same status and fields`, () => {
      const r = ref.http[path] as { status: number; body: unknown };
      const o = ours.http[path] as { status: number; body: unknown };
      assert.equal(o.status, r.status);
      if (typeof r.body === "string") assert.equal(o.body, r.body);
      else assert.deepEqual(shape(o.body), shape(r.body));
    });
  }

  for (const subject of FROM_A) {
    it(`${subject} asked from account A answers about A only`, () => {
      assert.deepEqual(ours.fromA[subject].map(shape), ref.fromA[subject].map(shape));
      const conns = (x: Json[]) => x.map((m) => (m.data as Json).num_connections ?? ((m.data as Json).account_statz as Json[]).map((e) => e.acc));
      assert.deepEqual(conns(ours.fromA[subject]), conns(ref.fromA[subject]));
    });
  }

  it("a failed login is reported on CLIENT.AUTH.ERR with what it claimed", () => {
    const r = ref.events["$SYS.SERVER.<id>.CLIENT.AUTH.ERR"];
    const o = ours.events["$SYS.SERVER.<id>.CLIENT.AUTH.ERR"];
    assert.equal(o.reason, r.reason);
    for (const k of ["acc", "user", "name"]) assert.equal((o.client as Json)[k], (r.client as Json)[k], k);
  });

  it("connect, disconnect, auth error and account-connections events have the same fields", () => {
    assert.deepEqual(Object.keys(ours.events).sort(), Object.keys(ref.events).sort());
    for (const subject of Object.keys(ref.events)) {
      assert.deepEqual(shape(withoutRtt(ours.events[subject])), shape(withoutRtt(ref.events[subject])), subject);
    }
  });
});

describe("system account with JetStream: field names as nats-server 2.9.10", { skip: both ? false : "needs both targets" }, () => {
  let ref: Observed;
  let ours: Observed;
  before(async () => {
    [ref, ours] = await Promise.all([observe("nats-server", JETSTREAM), observe("petrel", JETSTREAM)]);
  });

  for (const [subject, body] of JETSTREAM.probes) {
    const key = `${subject} ${body}`;
    it(`${subject} ${body}: same answers, same fields, same errors`, () => {
      const norm = (x: Json[]) => x.map((m) => shape(m));
      if (SUPERSET.has(subject)) {
        assert.equal(ours.requests[key].length, ref.requests[key].length);
        ref.requests[key].forEach((r, i) => assertHasFields(norm(ours.requests[key])[i], norm([r])[0], subject));
      } else {
        assert.deepEqual(norm(ours.requests[key]), norm(ref.requests[key]));
      }
      ref.requests[key].forEach((r, i) => {
        if (r.error !== undefined) assert.deepEqual(ours.requests[key][i].error, r.error);
      });
    });
  }

  for (const path of JETSTREAM.http) {
    it(`GET ${path}: same status and fields`, () => {
      const r = ref.http[path] as { status: number; body: unknown };
      const o = ours.http[path] as { status: number; body: unknown };
      assert.equal(o.status, r.status);
      assert.deepEqual(shape(o.body), shape(r.body));
    });
  }
});
