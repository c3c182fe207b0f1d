// A subscriber that stopped reading long enough for its publisher's stall to run out (the consumer is then marked
// exhausted and stalls nobody) and then reads again, slower than the publisher publishes, is paced again, not fed
// at the publisher's full speed until max_pending cuts it. Seen as cluster/backpressure failing on a loaded host:
// the subscriber, paused while the test polled, was marked exhausted, then cut after it resumed.
// The server's side of the subscriber's connection goes through a valve the test opens a little at a time
// (valve.ts).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../helpers/servers.ts";
import { startValvedServer, type ValvedServer } from "./valve.ts";

const MAX_PENDING = 256 * 1024;
const SIZE = 1000;
const FRAME = `MSG s 1 ${SIZE}\r\n`.length + SIZE + 2;
const pubs = (n: number) => `PUB s ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`.repeat(n);

describe("server: a subscriber that reads again after a stall ran out", () => {
  let vs: ValvedServer;

  before(async () => {
    vs = await startValvedServer({ max_pending: MAX_PENDING });
  });
  after(async () => {
    await vs.stop();
  });

  it("is paced again once it reads, and gets everything", async () => {
    const server = vs.server;
    const { sub, valve, pub } = await vs.subscriberAndPublisher("s");

    // The reader stops; 7/8 of max_pending arrives in one write, parsed 64 KiB a turn: the slice that takes the
    // backlog past half of max_pending stalls the publisher, the last slice is held until the stall's cap passes
    // with nothing written, then comes through (the consumer is stuck: it stalls nobody now).
    valve.open = false;
    const first = Math.floor((MAX_PENDING * 7) / 8 / FRAME);
    const in0 = server.stats.in_msgs;
    pub.write(pubs(first));
    await waitFor("the stall to run out", () => server.stats.in_msgs - in0 === first, 10_000, 5);

    // It reads again (64 KiB, not a whole drain), then 16 KiB per turn of the event loop, while 4x max_pending
    // more comes at once.
    valve.open = true;
    valve.let(64 * 1024);
    const second = Math.floor((4 * MAX_PENDING) / FRAME);
    pub.write(pubs(second));
    const want = (first + second) * FRAME;
    while (sub.received().length < want && !sub.isClosed()) {
      valve.let(16 * 1024);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.equal(server.stats.slow_consumers, 0, "the subscriber was cut as a slow consumer");
    assert.equal(sub.received().length, want);
  });
});
