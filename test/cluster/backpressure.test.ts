// Back-pressure across a route: a subscriber on C that reads slower than a publisher on A publishes is paced,
// not cut. C's route holds its reading while C's client is behind, the route's backlog on A grows, and A holds
// the publisher (TCP slows it), as nats-server paces a fast producer instead of dropping what a route carries.
// Before this, C read the route as fast as it arrived and cut its client as a slow consumer (messages lost).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";
import { LINK_STALL_AT } from "../../src/server/link_output.ts";
import { clientStallMark, LINK_READER_MARK, linkReaderMark } from "../../src/server/flow.ts";
import { monitor, routeUrl, routez, startNode, stopAll, waitForMesh, waitForRemoteInterest } from "./helpers.ts";

const SIZE = 1024;
/** Enough to fill the kernel's socket buffers on both hops and then some (~24 MB). */
const COUNT = 24 * 1024;
/** Bytes of one delivered frame: `MSG bp 1 1024\r\n` + payload + CRLF. */
const FRAME = `MSG bp 1 ${SIZE}\r\n`.length + SIZE + 2;
const MARKER = "MSG bp 1 3\r\nend\r\n";
const MAX_PENDING = 16 * 1024 * 1024;

describe("a route between a fast publisher and a slow subscriber", () => {
  let a: Petrel, c: Petrel;
  const raws: RawClient[] = [];

  before(async () => {
    a = await startNode({ name: "A" });
    // A max_pending below the flood (24 MB): without back-pressure C's client is cut before the flood is through.
    // Not smaller: a stall is capped (750 ms), and a reader starved longer than that by a loaded machine (Deno,
    // full npm test at load 15) was cut with 512 KiB. 16 MiB: a client's own stall mark (8 MiB) is then above the
    // mark at which a link's reader is held (LINK_READER_MARK), so the test tells the two apart.
    c = await startNode({ name: "C", routes: [routeUrl(a)], extra: { max_pending: MAX_PENDING } });
    await waitForMesh([a, c]);
  });
  after(async () => {
    for (const r of raws) r.close();
    await stopAll([a, c]);
  });

  it("paces the publisher through the route instead of cutting the subscriber", async () => {
    const { c: sub } = await connectReady(c.server.clientPort);
    raws.push(sub);
    await sub.send("SUB bp 1\r\nPING\r\n");
    await sub.readUntil("PONG\r\n");
    const base = sub.bytesReceived();
    await waitForRemoteInterest(a, "bp", 1);
    const { c: pub } = await connectReady(a.server.clientPort);
    raws.push(pub);

    sub.pause();
    const frame = `PUB bp ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`;
    const chunk = frame.repeat(1024);
    const sent: Promise<void>[] = [];
    for (let i = 0; i < COUNT / 1024; i++) sent.push(pub.send(chunk));
    sent.push(pub.send("PUB bp 3\r\nend\r\n"));

    // The subscriber is slow by construction, not by the clock: it reads one chunk (<= 64 KiB) now and then (every
    // 50 ms), and only while C holds a backlog for it past the mark where C stops reading the route. It read a
    // chunk every 50 ms whatever its backlog before, and under load the publisher, A and C (one process with this
    // test) pushed less than that: nothing backed up (5 of 6 failed, 3 copies beside a full npm test). Not stuck
    // either while C holds the route: a reader that read nothing during a whole stall (capped at 750 ms) is given
    // up on by design (marked exhausted, then cut at max_pending).
    const held = linkReaderMark(MAX_PENDING);
    const backlogOnC = () => {
      let most = 0;
      for (const x of c.server.clients.values()) most = Math.max(most, x.backlog());
      return most;
    };
    let slow = true;
    const reading = (async () => {
      while (slow && !sub.closed()) {
        if (backlogOnC() > held) await sub.readOneChunk();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Either C cut the subscriber (no back-pressure) or C stopped reading the route and A's side backs up.
    // The subscriber's backlog on C while the route is held: bounded by the link's reader mark plus what one
    // slice of the route's input adds, not by the client's own stall mark.
    let maxPending = 0;
    const outcome = await waitFor("the route to back up or the subscriber to be cut", async () => {
      const varz = await monitor<{ slow_consumers: number }>(c, "/varz");
      if (varz.slow_consumers > 0) return "cut";
      const conns = (await monitor<{ connections: { pending_bytes: number }[] }>(c, "/connz")).connections;
      for (const x of conns) maxPending = Math.max(maxPending, x.pending_bytes);
      const r = (await routez(a)).routes[0] as unknown as { pending_size: number } | undefined;
      // A's route stops taking the publisher's messages at LINK_STALL_AT, once C's subscriber reached the mark
      // at which C stops reading the route.
      return r !== undefined && r.pending_size > LINK_STALL_AT / 2 && maxPending >= LINK_READER_MARK ? "paced" : undefined;
    }, 20_000, 5);
    // Held there: a few more looks while the route stays backed up (at the client's own mark it would go on to 8 MiB).
    for (let i = 0; i < 20 && outcome === "paced"; i++) {
      const conns = (await monitor<{ connections: { pending_bytes: number }[] }>(c, "/connz")).connections;
      for (const x of conns) maxPending = Math.max(maxPending, x.pending_bytes);
      await new Promise((r) => setTimeout(r, 5));
    }
    slow = false;
    sub.resume();
    await reading;
    assert.equal(outcome, "paced", "C cut its slow subscriber instead of holding the route");
    assert.ok(LINK_READER_MARK + 1024 * 1024 < clientStallMark(MAX_PENDING), "the two marks are apart in this test");
    assert.ok(maxPending > 0 && maxPending <= LINK_READER_MARK + 1024 * 1024, `C held the route at its reader mark (the subscriber's backlog peaked at ${maxPending} bytes)`);

    await sub.readUntil(MARKER, 30_000);
    await Promise.all(sent);
    assert.equal(sub.bytesReceived() - base, COUNT * FRAME + MARKER.length, "every message arrived once, before the marker");
    for (const n of [a, c]) assert.equal((await monitor<{ slow_consumers: number }>(n, "/varz")).slow_consumers, 0);
  });
});
