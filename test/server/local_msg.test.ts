import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { LocalMsg } from "../../src/server/local_msg.ts";
import { OutBuffer, SMALL_PAYLOAD } from "../../src/server/outbound.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("LocalMsg (a client's reused message object)", () => {
  it("gives the payload range as a view made once per message, and forgets the input when cleared", () => {
    const m = new LocalMsg();
    const input = enc.encode("PUB a 5\r\nhello\r\nPUB a 3\r\nbye\r\n");
    m.set("a", enc.encode("a"), null, -1, input, 9, 14);
    const v = m.payload;
    assert.equal(dec.decode(v), "hello");
    assert.ok(m.payload === v, "the same view for every consumer of this message");
    m.set("a", enc.encode("a"), null, -1, input, 25, 28);
    assert.equal(dec.decode(m.payload), "bye", "the next message's payload, not the last one's view");
    m.clear();
    assert.equal(m.buf.length, 0);
    assert.equal(m.reply, null);
  });

  it("OutBuffer.msgSmall writes exactly what msg writes for a payload range", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 200 }),
        fc.nat({ max: SMALL_PAYLOAD - 1 }),
        fc.option(fc.constantFrom("_INBOX.x", "r"), { nil: null }),
        fc.integer({ min: -1, max: 20 }),
        (input, at, n, reply, hdr) => {
          const start = Math.min(at, input.length);
          const end = Math.min(start + n, input.length);
          const a = new OutBuffer(64);
          const b = new OutBuffer(64);
          const r = reply === null ? null : enc.encode(reply);
          a.msg(enc.encode("s.x"), enc.encode("12"), r, hdr, input.subarray(start, end));
          b.msgSmall(enc.encode("s.x"), enc.encode("12"), r, hdr, input, start, end);
          assert.deepEqual(b.buf.subarray(0, b.len), a.buf.subarray(0, a.len));
        },
      ),
      { numRuns: 300 },
    );
    assert.throws(() => new OutBuffer().msgSmall(enc.encode("s"), enc.encode("1"), null, -1, new Uint8Array(100), 0, SMALL_PAYLOAD), /invariant/);
  });
});
