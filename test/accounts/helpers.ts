/**
 * Accounts test helpers: the same accounts for Petrel (in-process, options set directly) and nats-server (conf
 * text), and clients that sign in as a user of one account.
 */
import process from "node:process";
import assert from "node:assert/strict";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";
import { applyDefaults, type OptionLayer } from "../../src/config/normalize.ts";
import { Petrel } from "../../src/petrel.ts";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { defaultExtensions } from "../../adapters/extensions.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

/** Two accounts, two users each side: a/b sign in to A/B. */
export const TWO_ACCOUNTS = {
  A: { users: [{ user: "a", password: "pa" }] },
  B: { users: [{ user: "b", password: "pb" }] },
};

/** The same accounts as nats-server conf text. */
export function accountsConf(accounts: Record<string, { users: { user: string; password: string }[] }> = TWO_ACCOUNTS): string {
  const body = Object.entries(accounts).map(([name, a]) =>
    `  ${name}: { users: [ ${a.users.map((u) => `{ user: ${u.user}, password: ${u.password} }`).join(", ")} ] }`
  ).join("\n");
  return `accounts {\n${body}\n}\n`;
}

/** A Petrel broker in this process with `extra` options set after the defaults (accounts, system_account). */
export async function startPetrelWith(layer: OptionLayer, extra: object): Promise<Petrel> {
  const rt = currentRuntime();
  const options = { ...applyDefaults({ host: "127.0.0.1", port: -1, ...layer }), ...extra };
  const petrel = new Petrel(options, {
    transport: rt.tcp,
    serveHttp: (o, f) => rt.serveHttp(o, f),
    logger: silentLogger,
    memory: () => process.memoryUsage().rss,
    extensions: defaultExtensions(options, rt),
  });
  await petrel.start();
  return petrel;
}

export function portOf(url: string): number {
  return Number(new URL(url.replace(/^nats(-route)?:/, "http:")).port);
}

export function connectAs(port: number, user: string, pass: string): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${port}`, user, pass, reconnect: false });
}

/** Receive into a list; resolves `marker` once the subscription got a message with that payload. */
function recorder(nc: NatsConnection, subject: string, queue?: string) {
  const got: string[] = [];
  const sub: Subscription = nc.subscribe(subject, { queue, callback: (_e, m) => void got.push(td.decode(m.data)) });
  return { got, sub };
}

/** Publish probes from `pub` until one of the lists sees one (interest has crossed the route), then clear them. */
async function probeUntil(pub: NatsConnection, subject: string, ...lists: string[][]): Promise<void> {
  await waitFor(`interest in ${subject} across the route`, async () => {
    pub.publish(subject, te.encode("probe"));
    await pub.flush();
    await new Promise((r) => setTimeout(r, 20));
    return lists.some((l) => l.includes("probe"));
  }, 10_000, 0);
  // Probes still in flight land before this marker.
  for (const l of lists) l.length = 0;
}

/**
 * Users a and b of accounts A and B, subscribers on `subPort`, publishers on `pubPort`: each account's
 * messages, queue groups and requests reach its own subscribers only.
 */
export async function twoAccountsAcross(pubPort: number, subPort: number): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    const [subA, subB, pubA, pubB] = await Promise.all([
      connectAs(subPort, "a", "pa"),
      connectAs(subPort, "b", "pb"),
      connectAs(pubPort, "a", "pa"),
      connectAs(pubPort, "b", "pb"),
    ]);
    conns.push(subA, subB, pubA, pubB);
    const ra = recorder(subA, "x.>");
    const rb = recorder(subB, "x.>");
    const qa = [recorder(subA, "jobs", "w"), recorder(subA, "jobs", "w")];
    await subA.flush();
    await subB.flush();
    await probeUntil(pubA, "x.probe", ra.got);
    await probeUntil(pubB, "x.probe", rb.got);
    await probeUntil(pubA, "jobs", qa[0].got, qa[1].got);
    // Messages of A reach A's subscriber only, B's reach B's only; the marker closes each path.
    pubA.publish("x.1", te.encode("a1"));
    pubB.publish("x.1", te.encode("b1"));
    for (let i = 0; i < 10; i++) pubA.publish("jobs", te.encode(`j${i}`));
    pubA.publish("x.end", te.encode("endA"));
    pubB.publish("x.end", te.encode("endB"));
    await pubA.flush();
    await pubB.flush();
    await waitFor("markers", () => ra.got.includes("endA") && rb.got.includes("endB"), 5000, 10);
    const real = (l: string[]) => l.filter((p) => p !== "probe");
    assert.deepEqual(real(ra.got), ["a1", "endA"]);
    assert.deepEqual(real(rb.got), ["b1", "endB"]);
    await waitFor("queue deliveries", () => qa[0].got.length + qa[1].got.length >= 10, 5000, 10);
    const jobs = [...qa[0].got, ...qa[1].got].filter((p) => p.startsWith("j"));
    assert.equal(jobs.length, 10, "each job once");
    // B publishing to the queue subject reaches nobody in A.
    pubB.publish("jobs", te.encode("fromB"));
    pubA.publish("x.end2", te.encode("endA2"));
    await pubB.flush();
    await pubA.flush();
    await waitFor("second marker", () => ra.got.includes("endA2"), 5000, 10);
    assert.ok(![...qa[0].got, ...qa[1].got].includes("fromB"));
    // A request in B is answered in B across the route.
    subB.subscribe("svc", { callback: (_e, m) => void m.respond(te.encode(`re:${td.decode(m.data)}`)) });
    await subB.flush();
    await waitFor("service reachable", async () => {
      try {
        const r = await pubB.request("svc", te.encode("hi"), { timeout: 300 });
        return td.decode(r.data) === "re:hi";
      } catch {
        return false;
      }
    }, 10_000, 0);
    await assert.rejects(pubA.request("svc", te.encode("hi"), { timeout: 300 }), "A has no service");
  } finally {
    await closeAll(conns);
  }
}


/** Accounts with exports and imports: A exports streams and services, B and C import them (also used in a cluster). */
export const IMPORTS_CONF = `accounts {
  A: {
    users: [{user: a, password: pa}]
    exports: [
      {stream: "feed.>"}
      {service: "svc.>"}
      {stream: "private.>", accounts: [C]}
      {service: "one", response_type: singleton}
      {service: "many", response_type: stream}
    ]
  }
  B: {
    users: [{user: b, password: pb}]
    imports: [
      {stream: {account: A, subject: "feed.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
      {service: {account: A, subject: "one"}}
      {service: {account: A, subject: "many"}}
    ]
  }
  C: {
    users: [{user: c, password: pc}]
    imports: [
      {stream: {account: A, subject: "private.>"}, to: "priv.>"}
      {service: {account: A, subject: "svc.*"}}
    ]
  }
}
`;
