// The write deadline bounds how long a write takes to go through, not how long a reader keeps a backlog: a
// subscriber that reads all along while its producer keeps its backlog up (paced through a route, held at a
// backlog of megabytes) is not cut, however long that lasts; one that stops reading still is, write_deadline after
// its last write went through. A paced subscriber was cut write_deadline after its pacing began
// (cluster/backpressure on Bun under load: the stall was timed from its first write while any backlog was left).
// The subscriber's connection goes through a valve (valve.ts): its reader takes, at each write of the server,
// all that was held before it, so its backlog never shrinks and never drains, and every byte goes through.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startValvedServer, type ValvedServer } from "./valve.ts";

const DEADLINE_MS = 300;
const SIZE = 100;
const FRAME = `MSG s 1 ${SIZE}\r\n`.length + SIZE + 2;
const PUB = `PUB s ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`;

describe("server: the write deadline of a subscriber that keeps a backlog", () => {
  let vs: ValvedServer;

  before(async () => {
    vs = await startValvedServer({ write_deadline: DEADLINE_MS });
  });
  after(async () => {
    await vs.stop();
  });

  it("does not cut a reader that reads as fast as it is written to; cuts it once it stops reading", async () => {
    const server = vs.server;
    const { sub, valve, pub } = await vs.subscriberAndPublisher("s");

    // Each write of the server is held, and lets through all that was held before it: a backlog of one frame
    // that neither shrinks nor drains, while everything written earlier reaches the reader.
    valve.open = false;
    valve.afterHold = (bytes) => valve.let(valve.heldBytes - bytes);
    let sent = 0;
    const began = Date.now();
    // Time is what this test is about (a deadline), not what it waits for: each step waits for its message.
    while (Date.now() - began < 3 * DEADLINE_MS) {
      pub.write(PUB);
      sent++;
      await sub.waitForBytes((sent - 1) * FRAME, 10_000).catch(() => undefined);
      if (sub.isClosed()) break;
      assert.equal(valve.heldBytes, FRAME, "one frame held");
    }
    assert.equal(sub.isClosed(), false, `the reader was cut after ${Date.now() - began} ms, having read ${sent - 1} messages`);
    assert.equal(server.stats.slow_consumers, 0);
    assert.ok(sent > 3, "several writes went through while the deadline ran out three times over");

    // It stops reading: cut once write_deadline passed with what it held then not written.
    valve.afterHold = undefined;
    pub.write(PUB);
    await sub.closed;
    assert.equal(server.stats.slow_consumers, 1);
    assert.equal(sub.received().length, (sent - 1) * FRAME, "everything written before reached it");
    assert.equal(pub.isClosed(), false);
  });
});
