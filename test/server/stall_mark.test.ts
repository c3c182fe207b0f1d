// A subscriber slower than its publisher paces the publisher once its backlog passes the client stall mark
// (flow.ts, 8 MiB), not half of max_pending (32 MiB by default): what the server holds for one slow reader stays a
// few MiB. The reader here reads in bursts (a quarter of each 20 ms), so it is slow but always draining (never stuck).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";
import { STALL_MARK_MAX } from "../../src/server/flow.ts";

const SIZE = 1024;
const CHUNKS = 96; // 96 x 1024 messages of 1 KiB: 96 MiB, far past the old mark plus the kernel's socket buffers
const MARKER = "MSG s 1 3\r\nend\r\n";

describe("the client stall mark", () => {
  let petrel: Petrel;
  const raws: RawClient[] = [];
  before(async () => {
    petrel = await startPetrel({ args: ["-a", "127.0.0.1", "-p", "-1"] });
  });
  after(async () => {
    for (const r of raws) r.close();
    await petrel.stop();
  });

  it("holds a slow subscriber's backlog near the mark while its publisher is paced", { timeout: 60_000 }, async () => {
    const port = petrel.server.clientPort;
    const { c: sub } = await connectReady(port);
    raws.push(sub);
    await sub.send("SUB s 1\r\nPING\r\n");
    await sub.readUntil("PONG\r\n");
    const conn = [...petrel.server.clients.values()].find((c) => c.subs.size > 0);
    assert.ok(conn !== undefined);
    const base = sub.bytesReceived();
    const { c: pub } = await connectReady(port);
    raws.push(pub);

    let max = 0;
    const sample = setInterval(() => (max = Math.max(max, conn.backlog())), 1);
    let tick = 0;
    const throttle = setInterval(() => (++tick % 4 === 0 ? sub.resume() : sub.pause()), 5);
    try {
      const chunk = `PUB s ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`.repeat(1024);
      const sent: Promise<void>[] = [];
      for (let i = 0; i < CHUNKS; i++) sent.push(pub.send(chunk));
      sent.push(pub.send("PUB s 3\r\nend\r\n"));
      await Promise.all(sent);
      clearInterval(throttle);
      sub.resume();
      await sub.readUntil(MARKER, 50_000);
    } finally {
      clearInterval(sample);
      clearInterval(throttle);
    }
    const frame = `MSG s 1 ${SIZE}\r\n`.length + SIZE + 2;
    assert.equal(sub.bytesReceived() - base, CHUNKS * 1024 * frame + MARKER.length, "every message arrived");
    // The mark plus what a few turns can add before the stall takes hold (64 KiB slices of input, their output).
    assert.ok(max > 0 && max < STALL_MARK_MAX + 4 * 1024 * 1024, `backlog peaked at ${(max / 1048576).toFixed(1)} MiB`);
  });
});
