// The dashboard with 1,000 connections and 200 streams: the server filters, sorts and pages, so a frame
// carries one page whatever the totals, and it is built well within a tick. Real server, real TCP and HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import type { Tick } from "../../src/dashboard/types.ts";
import { openRaw, type RawConn } from "../../transports/raw_client.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { openSse } from "./sse.ts";

const CONNS = 1000;
const STREAMS = 200;

describe("dashboard at scale", () => {
  let p: Petrel;
  let dir: string;
  let nc: NatsConnection;
  const raws: RawConn[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "petrel-dash-scale-"));
    p = await startPetrel({ args: ["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", dir, "-n", "scale"] });
    for (let b = 0; b < CONNS; b += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        const c = await openRaw(tcpTransport, { host: "127.0.0.1", port: p.server.clientPort });
        await c.waitFor("INFO");
        c.write(`CONNECT {"verbose":false,"name":"client-${b + i}"}\r\nSUB data.${b + i} 1\r\nPING\r\n`);
        await c.waitFor("PONG");
        return c;
      }));
      raws.push(...batch);
    }
    nc = await connect({ servers: p.clientUrl, reconnect: false, timeout: 5000 });
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < STREAMS; i++) {
      await jsm.streams.add({ name: `S${String(i).padStart(3, "0")}`, subjects: [`s${i}.>`], storage: "memory" });
    }
  }, { timeout: 120_000 });

  after(async () => {
    for (const c of raws) c.close();
    await nc?.close().catch(() => {});
    await p?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function firstFrame(query: string): Promise<{ tick: Tick; size: number; ms: number }> {
    const t0 = performance.now();
    const s = await openSse(`${p.monitorUrl}/dashboard/events${query}`);
    try {
      const e = await s.waitFor((x) => x.event === "tick");
      return { tick: JSON.parse(e.data) as Tick, size: e.data.length, ms: performance.now() - t0 };
    } finally {
      await s.close();
    }
  }

  it("pages 1,000 connections on the server: one page per frame, searchable", async () => {
    const { tick, size, ms } = await firstFrame("?tab=connections&sort=name&dir=asc&limit=50");
    const page = tick.connections!;
    assert.equal(page.total, CONNS + 1);
    assert.equal(page.rows.length, 50);
    assert.ok(size < 64 * 1024, `frame of ${size} bytes`);
    assert.ok(ms < 5000, `first frame after ${ms.toFixed(0)} ms`);
    const found = (await firstFrame("?tab=connections&q=client-999")).tick.connections!;
    assert.deepEqual(found.rows.map((r) => r.name), ["client-999"]);
    const last = (await firstFrame("?tab=connections&sort=cid&dir=asc&limit=200&offset=900")).tick.connections!;
    assert.equal(last.rows.length, 101);
  });

  it("pages 200 streams, and the overview stays small", async () => {
    const { tick, size } = await firstFrame("?tab=jetstream&sort=name&dir=desc&limit=25");
    const page = tick.streams!;
    assert.equal(page.total, STREAMS);
    assert.equal(page.rows[0].name, "S199");
    assert.equal(page.rows.length, 25);
    assert.ok(size < 64 * 1024, `frame of ${size} bytes`);
    const overview = await firstFrame("");
    assert.equal(overview.tick.server.connections, CONNS + 1);
    assert.equal(overview.tick.js.streams, STREAMS);
    assert.ok(overview.size < 8 * 1024, `overview frame of ${overview.size} bytes`);
  });
});
