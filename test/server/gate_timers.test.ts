/**
 * The input gate's timers: a publisher held by a subscriber that fell behind is re-checked on a light timer and
 * replayed on the runtime adapter's turn (src/runtime/light_timers.ts), not on the runtime's setTimeout and
 * setImmediate, which on Deno 2.9 load Node's timer layer for the life of the process at their first call
 * (+2-3 MB; a Deno pubsub-1k server paid it at its first stall: bench/RESULTS.md `denomem`, `denotimers2`).
 * A real server in a child process of this runtime traces the runtime timer functions; on Bun they are the
 * runtime's own (its light timers run on them), so there the test shows the stall and its end only.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { onDeno, startTracedServer } from "../helpers/timer_trace.ts";
import { connectReady } from "../helpers/raw.ts";

const SIZE = 1000;
const FRAME = `MSG s 1 ${SIZE}\r\n`.length + SIZE + 2;
/** Past what the kernel's socket buffers of a subscriber that does not read take, and past the 8 MiB stall mark. */
const COUNT = 32 * 1024;
const BATCH = 1024;

describe("the input gate on light timers", () => {
  it("a publisher held by a subscriber that stopped reading goes on once it reads, and nothing calls a runtime timer", async () => {
    const server = await startTracedServer(["-a", "127.0.0.1", "-p", "-1"]);
    const { c: sub } = await connectReady(server.port);
    const { c: pub } = await connectReady(server.port);
    try {
      await sub.send("SUB s 1\r\nSUB mark 2\r\nPING\r\n");
      await sub.readUntil("PONG\r\n");
      await pub.send("PING\r\n");
      await pub.readUntil("PONG\r\n");
      const idle = server.timers();
      sub.pause();
      const batch = `PUB s ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`.repeat(BATCH);
      const sent: Promise<void>[] = [];
      for (let i = 0; i < COUNT / BATCH; i++) sent.push(pub.send(batch));
      sent.push(pub.send("PUB mark 4\r\ndone\r\n"));
      await server.waitLine(/^STALL$/);
      sub.resume();
      await Promise.all(sent);
      await sub.readUntil("MSG mark 2 4\r\ndone\r\n", 60_000);
      assert.equal(sub.bytesReceived() >= COUNT * FRAME, true, `the subscriber got all ${COUNT} messages`);
      await pub.send("PING\r\n");
      await pub.readUntil("PONG\r\n");
      assert.equal(pub.closed() || sub.closed(), false, "both clients are still connected");
      if (onDeno) {
        assert.deepEqual(idle, [], "an idle server called no runtime timer");
        assert.deepEqual(server.timers(), [], "the stall, its re-check and the replay after it called no runtime timer");
      }
    } finally {
      sub.close();
      pub.close();
      await server.stop();
    }
  });
});
