// A large read is parsed one 64 KiB slice per turn of the event loop, and what each slice produced is flushed
// before the next is parsed (nats-server flushes after each read of at most 64 KiB): a subscriber gets the first
// messages of a 512 KiB write while the rest is still unparsed, not after the whole write (Bun reads up to 512 KiB
// at once; the gateway burst harness showed the first of ~6000 messages waiting for the last). Receivers whose
// transport writes at once (Duplex.writeNow, Bun's TCP) hand their output over a batch at a time in the middle of
// the turn instead, so a read whose messages all go to such receivers is parsed whole (client.ts EAGER_FLUSH).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { frames, type Harness, startServer, sync } from "./harness.ts";
import { EAGER_FLUSH } from "../../src/server/client.ts";

describe("server: a large read, slice by slice", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(async () => {
    await h.stop();
  });

  it("delivers the first slice's messages before parsing the rest of a 512 KiB write, and all of them in order", async () => {
    const sub = await h.client();
    sub.write("SUB burst 1\r\n");
    await sync(sub);
    const pub = await h.client();
    await sync(pub);
    sub.clear();
    const size = 64;
    const one = (i: number) => `PUB burst ${size}\r\n${String(i).padStart(size, "0")}\r\n`;
    const total = Math.ceil((512 * 1024) / one(0).length);
    const before = h.server.stats.in_msgs;
    // One write: the memory transport hands it to the server as one read.
    pub.write(Array.from({ length: total }, (_, i) => one(i)).join(""));
    await sub.waitForBytes(1);
    const parsed = h.server.stats.in_msgs - before;
    assert.ok(parsed > 0 && parsed < total / 4, `the first output left after ${parsed} of ${total} messages were parsed`);
    await sub.waitFor((t) => t.endsWith(`${String(total - 1).padStart(size, "0")}\r\n`), 10_000);
    const got = frames(sub.text());
    assert.equal(got.length, total);
    got.forEach((f, i) => assert.equal(Number(f.payload), i));
  });
  it("parses a 512 KiB write nobody listens to in one go (no turn per slice when a slice produced no output)", async () => {
    const pub = await h.client();
    await sync(pub);
    const size = 1000;
    const one = `PUB nobody.listens ${size}\r\n${"x".repeat(size)}\r\n`;
    const total = Math.ceil((512 * 1024) / one.length);
    const before = h.server.stats.in_msgs;
    pub.write(one.repeat(total));
    // The memory transport delivers in a microtask: watch from microtasks, which run before any turn of the event
    // loop, for the first change (a timer now and then in case the transport chose one).
    let seen = before;
    for (let i = 0; seen === before; i++) {
      await (i % 1000 === 999 ? new Promise((r) => setTimeout(r, 0)) : Promise.resolve());
      seen = h.server.stats.in_msgs;
    }
    assert.equal(seen - before, total, "all of the read parsed before the event loop turned");
    await sync(pub);
  });
});

describe("server: a large read to receivers that write at once (Duplex.writeNow, as Bun's TCP)", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({}, { writeNow: true });
  });
  after(async () => {
    await h.stop();
  });

  it("parses a 512 KiB write whole in one turn, each receiver handing its output over a batch at a time", async () => {
    const subs = [await h.client(), await h.client()];
    for (const s of subs) {
      s.write("SUB burst 1\r\n");
      await sync(s);
      s.clear();
    }
    const pub = await h.client();
    await sync(pub);
    const size = 64;
    const one = (i: number) => `PUB burst ${size}\r\n${String(i).padStart(size, "0")}\r\n`;
    const total = Math.ceil((512 * 1024) / one(0).length);
    const before = h.server.stats.in_msgs;
    const receivers = [...h.server.clients.values()].filter((c) => c.subs.size > 0);
    assert.equal(receivers.length, 2);
    let kept = 0;
    pub.write(Array.from({ length: total }, (_, i) => one(i)).join(""));
    // Watched from microtasks, which run before any turn of the event loop (as in the test above): the whole
    // write is parsed before the loop turns, and no receiver's output buffer ever holds more than a batch or so.
    let seen = before;
    for (let i = 0; seen - before < total; i++) {
      await Promise.resolve();
      seen = h.server.stats.in_msgs;
      if (i === 999) assert.fail(`the event loop turned after ${seen - before} of ${total} messages were parsed`);
      for (const r of receivers) kept = Math.max(kept, r.out.len);
    }
    assert.ok(kept < EAGER_FLUSH + 256, `a receiver held ${kept} bytes of output (batch ${EAGER_FLUSH})`);
    for (const r of receivers) assert.ok(r.out.keptBytes <= 128 * 1024, `a receiver keeps ${r.out.keptBytes} bytes of output buffer`);
    for (const s of subs) {
      await s.waitFor((t) => t.endsWith(`${String(total - 1).padStart(size, "0")}\r\n`), 10_000);
      const got = frames(s.text());
      assert.equal(got.length, total);
      got.forEach((f, i) => assert.equal(Number(f.payload), i));
    }
  });
});
