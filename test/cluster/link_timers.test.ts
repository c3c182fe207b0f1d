/**
 * What links and JetStream clustering time: a route's handshake and authentication deadlines, a gateway's
 * reply-tracking sweep, a leafnode's handshake and PINGs, and the JetStream cluster's group tick are light timers
 * (src/runtime/light_timers.ts): on Deno 2.9 the first runtime setTimeout or setInterval loads Node's timer layer
 * for the life of the process (+2-3 MB; every cluster member paid it at its first route, every clustered JetStream
 * server at its start: bench/RESULTS.md `denotimers2`). Real servers in child processes of this runtime trace the
 * runtime timer functions; on Bun those are the runtime's own (its light timers run on them), so there the tests
 * show the links and the replicated stream working on light timers only.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onDeno, startTracedServer, type TracedServer } from "../helpers/timer_trace.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";
import { waitFor } from "../helpers/servers.ts";

const dir = mkdtempSync(join(tmpdir(), "petrel-link-timers-"));
const servers: TracedServer[] = [];
const clients: RawClient[] = [];

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

let confs = 0;
async function start(conf: string): Promise<TracedServer> {
  const path = join(dir, `s${confs++}.conf`);
  writeFileSync(path, conf);
  const s = await startTracedServer(["-c", path]);
  servers.push(s);
  return s;
}

async function client(s: TracedServer): Promise<RawClient> {
  const { c } = await connectReady(s.port);
  clients.push(c);
  return c;
}

/** host:port of the first URL of that kind. */
const addr = (s: TracedServer, kind: string) => (s.ports[kind]?.[0] ?? assert.fail(`no ${kind} port`)).replace(/^\w+:\/\//, "");

/** Resolves once a message published at `from` on `subject` reaches a subscriber at `to`. */
async function flows(from: TracedServer, to: TracedServer, subject: string): Promise<void> {
  const sub = await client(to);
  await sub.send(`SUB ${subject} 1\r\nPING\r\n`);
  await sub.readUntil("PONG\r\n");
  const pub = await client(from);
  await waitFor(`${subject} to flow`, async () => {
    await pub.send(`PUB ${subject} 1\r\nx\r\nPING\r\n`);
    await pub.readUntil("PONG\r\n");
    return sub.text().includes(`MSG ${subject} 1 1\r\n`);
  }, 30_000, 50);
}

const noTimers = (what: string, all: TracedServer[]) => {
  if (!onDeno) return;
  for (const s of all) assert.deepEqual(s.timers(), [], `${what}: no runtime timer called`);
};

describe("links and JetStream clustering on light timers", () => {
  it("routes with cluster authorization, a gateway and a leafnode carry messages; nothing calls a runtime timer", async () => {
    const auth = "authorization { user: ru, password: rp }";
    const hub = await start(
      `listen: 127.0.0.1:-1\ncluster { name: c, listen: 127.0.0.1:-1, ${auth} }\n` +
        `gateway { name: g, listen: 127.0.0.1:-1 }\nleafnodes { listen: 127.0.0.1:-1 }\n`,
    );
    const peer = await start(`listen: 127.0.0.1:-1\ncluster { name: c, listen: 127.0.0.1:-1, ${auth}, routes: ["nats-route://ru:rp@${addr(hub, "cluster")}"] }\n`);
    const leaf = await start(`listen: 127.0.0.1:-1\nleafnodes { remotes: [ { url: "nats://${addr(hub, "leafnode")}" } ] }\n`);
    const other = await start(`listen: 127.0.0.1:-1\ngateway { name: h, listen: 127.0.0.1:-1, gateways: [ { name: g, url: "nats://${addr(hub, "gateway")}" } ] }\n`);
    await flows(hub, peer, "over.route");
    await flows(hub, leaf, "over.leaf");
    await flows(hub, other, "over.gateway");
    noTimers("routes, leafnode and gateway", [hub, peer, leaf, other]);
  });

  it("a JetStream cluster of three elects, replicates a stream and acknowledges; nothing calls a runtime timer", async () => {
    const js = (i: number, routes: string) =>
      `server_name: j${i}\nlisten: 127.0.0.1:-1\njetstream { store_dir: ${JSON.stringify(join(dir, `js${i}`))} }\n` +
      `cluster { name: j, listen: 127.0.0.1:-1${routes} }\n`;
    const first = await start(js(1, ""));
    const seed = `, routes: ["nats-route://${addr(first, "cluster")}"]`;
    const rest = await Promise.all([start(js(2, seed)), start(js(3, seed))]);
    const c = await client(first);
    await c.send("SUB _INBOX.t.> 1\r\nPING\r\n");
    await c.readUntil("PONG\r\n");
    const body = JSON.stringify({ name: "S", subjects: ["s"], num_replicas: 3, storage: "memory" });
    let n = 0;
    await waitFor("the R3 stream to be created", async () => {
      const reply = `_INBOX.t.${++n}`;
      await c.send(`PUB $JS.API.STREAM.CREATE.S ${reply} ${body.length}\r\n${body}\r\n`);
      const got = await c.readUntil(new RegExp(`MSG ${reply.replaceAll(".", "\\.")} 1 \\d+\\r\\n[^\\r]*\\r\\n`), 10_000);
      return got.includes('"config"') && !got.includes('"error"');
    }, 60_000, 250);
    await c.send("PUB s _INBOX.t.ack 5\r\nhello\r\n");
    const ack = await c.readUntil(/MSG _INBOX\.t\.ack 1 \d+\r\n[^\r]*\r\n/, 20_000);
    assert.match(ack, /"stream":"S"/);
    assert.match(ack, /"seq":1/);
    noTimers("a clustered JetStream", [first, ...rest]);
  });
});
