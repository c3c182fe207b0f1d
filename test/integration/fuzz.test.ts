// Hostile input end to end: many connections send seeded random mixes of valid frames, broken frames and
// garbage, split at random points. The server must stay up and keep serving a well-behaved client.
import { it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { connect } from "@nats-io/transport-node";
import { forEachServer, startServer } from "../helpers/servers.ts";
import { connectRaw, type RawClient } from "../helpers/raw.ts";

const frame = fc.oneof(
  fc.constantFrom("PING\r\n", "PONG\r\n", "SUB a.b 1\r\n", "SUB a.* q 2\r\n", "UNSUB 1\r\n", "UNSUB 2 5\r\n"),
  fc.tuple(fc.constantFrom("a.b", "a.c", "x", "a..b", "*", ">"), fc.string({ maxLength: 40 })).map(([s, p]) => {
    const body = new TextEncoder().encode(p);
    return `PUB ${s} ${body.length}\r\n${p}\r\n`;
  }),
  fc.constantFrom(
    "PUB a.b -1\r\n",
    "PUB a.b 5\r\nabc\r\n",
    "HPUB a.b 20 10\r\n0123456789\r\n",
    "CONNECT {bad json\r\n",
    'CONNECT {"verbose":true,"pedantic":true,"headers":true}\r\n',
    "MSG a 1 1\r\nx\r\n",
    "\r\n",
    "SUB\r\n",
    "PUB " + "x".repeat(5000) + " 1\r\nx\r\n",
  ),
  fc.string({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => String.fromCharCode(...b)),
);

const session = fc.record({
  frames: fc.array(frame, { minLength: 1, maxLength: 30 }),
  cuts: fc.array(fc.nat(), { maxLength: 8 }),
});

forEachServer(["petrel"], (kind) => {
  it("random hostile sessions never take the server down or disturb a good client", { timeout: 60_000 }, async () => {
    const server = await startServer(kind);
    const good = await connect({ servers: server.url });
    try {
      const received = good.subscribe("health.check")[Symbol.asyncIterator]();
      const samples = fc.sample(session, { numRuns: 60, seed: 20261123 });
      for (let round = 0; round < samples.length; round += 20) {
        const batch = samples.slice(round, round + 20);
        const clients: RawClient[] = [];
        await Promise.all(batch.map(async (s) => {
          const c = await connectRaw(server.port);
          clients.push(c);
          const text = s.frames.join("");
          const bytes = Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
          const cuts = [...new Set(s.cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
          let prev = 0;
          for (const cut of [...cuts, bytes.length]) {
            if (c.closed()) break;
            await c.send(bytes.subarray(prev, cut)).catch(() => {});
            prev = cut;
          }
        }));
        await new Promise((r) => setTimeout(r, 100));
        for (const c of clients) c.close();
        good.publish("health.check", `round ${round}`);
        const m = await received.next();
        assert.equal(m.done, false);
        assert.equal(new TextDecoder().decode(m.value.data), `round ${round}`);
      }
      const r = await good.rtt();
      assert.ok(r >= 0);
    } finally {
      await good.close();
      await server.stop();
    }
  });
});
