import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ScratchBytes, SMALL_MAX, smallBytes, smallCopy, smallUtf8, useSlabs } from "../../src/server/small_bytes.ts";
import { OutBuffer } from "../../src/server/outbound.ts";

const enc = new TextEncoder();

describe("small_bytes", () => {
  // The slab path (the Deno runtime's choice) on both runtimes; other test files keep the default.
  before(() => useSlabs(true));
  after(() => useSlabs(false));
  it("hands out zero-filled views that never overlap, across slab boundaries", () => {
    const held: Uint8Array[] = [];
    // Over 64 KiB in total: several slabs. Each view is filled with its own byte; none may change another.
    for (let i = 0; i < 600; i++) {
      const n = 1 + ((i * 37) % 300);
      const b = smallBytes(n);
      assert.equal(b.length, n);
      assert.ok(b.every((x) => x === 0), "zero-filled");
      b.fill(i % 251);
      held.push(b);
    }
    held.forEach((b, i) => assert.ok(b.every((x) => x === i % 251), `view ${i} intact`));
  });

  it("copies like slice, and gives large arrays their own memory", () => {
    const src = Uint8Array.from({ length: SMALL_MAX + 10 }, (_, i) => i & 255);
    assert.deepEqual(smallCopy(src, 3, 50), src.slice(3, 50));
    assert.deepEqual(smallCopy(src, 0, 200), src.slice(0, 200));
    assert.deepEqual(smallCopy(src, 5, 5), new Uint8Array(0));
    const big = smallCopy(src, 0, src.length);
    assert.deepEqual(big, src);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, src.length);
  });

  it("property: smallUtf8 encodes as TextEncoder does (ASCII, UTF-8, surrogates)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.array(fc.integer({ min: 0, max: 0xffff })).map((a) => String.fromCharCode(...a))), (s) => {
        assert.deepEqual(smallUtf8(s), enc.encode(s));
      }),
      { numRuns: 200 },
    );
  });

  it("ScratchBytes: one array per length, rewritten by the next call; long ranges and non-ASCII text get their own", () => {
    const sb = new ScratchBytes();
    const line = enc.encode("PUB _INBOX.a.1 _INBOX.b.2 5");
    const a = sb.copy(line, 4, 14);
    assert.deepEqual(a, enc.encode("_INBOX.a.1"));
    assert.notEqual(a.buffer, line.buffer, "a copy, not a view of the line");
    const b = sb.copy(line, 15, 25);
    assert.equal(b, a, "the same length: the same array, no allocation");
    assert.deepEqual(b, enc.encode("_INBOX.b.2"));
    assert.notEqual(sb.copy(line, 0, 3), a, "another length: another array");
    assert.equal(sb.utf8("_INBOX.c.3"), a, "text of that length goes into the same array");
    assert.deepEqual(a, enc.encode("_INBOX.c.3"));
    const long = "x".repeat(65);
    const l1 = sb.utf8(long);
    assert.deepEqual(l1, enc.encode(long));
    assert.notEqual(sb.copy(enc.encode(long), 0, 65), l1, "over 64 bytes: an array of its own each time");
    const accented = sb.utf8("_INBOX.é.3");
    assert.deepEqual(accented, enc.encode("_INBOX.é.3"));
    assert.notEqual(accented, sb.copy(line, 4, 14), "not ASCII: encoded into an array of its own, not the kept one");
  });

  it("ScratchBytes: a size limit of its own; beyond it `copy` copies and `lend` lends a view", () => {
    const sb = new ScratchBytes(256);
    assert.equal(sb.max, 256);
    const buf = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 255);
    const kept = sb.lend(buf, 10, 266);
    assert.deepEqual(kept, buf.slice(10, 266));
    assert.notEqual(kept.buffer, buf.buffer, "256 bytes: copied into the kept array");
    assert.equal(sb.copy(buf, 300, 556), kept, "the same length: the same array");
    const view = sb.lend(buf, 10, 267);
    assert.equal(view.buffer, buf.buffer, "257 bytes: a view of the source");
    assert.deepEqual(view, buf.subarray(10, 267));
    const own = sb.copy(buf, 10, 267);
    assert.notEqual(own.buffer, buf.buffer, "copy past the limit: an array of its own");
    assert.notEqual(sb.copy(buf, 10, 267), own);
    assert.deepEqual(own, buf.slice(10, 267));
  });

  it("property: ScratchBytes copies like slice, byte by byte or four at a time, from one source or many", () => {
    const sources = [0, 1, 2].map((s) => Uint8Array.from({ length: 600 }, (_, i) => (i * 31 + s * 17) & 255));
    for (const wordCopy of [false, true]) {
      const sb = new ScratchBytes(256, { wordCopy });
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 599 }), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 20 }), (calls) => {
          for (const [which, start, len] of calls) {
            const src = sources[which];
            const end = Math.min(src.length, start + len);
            assert.deepEqual(sb.lend(src, start, end), src.slice(start, end));
            assert.deepEqual(sb.copy(src, start, end), src.slice(start, end));
          }
        }),
        { numRuns: 300 },
      );
    }
    // A view of a larger buffer (byteOffset not 0) copies right four bytes at a time too.
    const big = Uint8Array.from({ length: 2048 }, (_, i) => i & 255);
    const inner = big.subarray(101, 1101);
    const sb = new ScratchBytes(256, { wordCopy: true });
    for (const [a, b] of [[3, 200], [5, 203], [0, 256], [997, 1000]]) assert.deepEqual(sb.lend(inner, a, b), inner.slice(a, b));
  });

  it("without slabs: plain arrays of their own", () => {
    useSlabs(false);
    try {
      const b = smallBytes(10);
      assert.equal(b.byteOffset, 0);
      assert.equal(b.buffer.byteLength, 10);
      assert.deepEqual(smallUtf8("a.b"), enc.encode("a.b"));
      assert.equal(smallCopy(Uint8Array.of(1, 2, 3), 1, 3).buffer.byteLength, 2);
    } finally {
      useSlabs(true);
    }
  });

  it("OutBuffer: a small flush from slab memory is not taken back as a spare, a view of the buffer in use still throws", () => {
    const o = new OutBuffer(32 * 1024);
    o.bytes(enc.encode("PING\r\n"));
    const small = o.lend();
    assert.equal(new TextDecoder().decode(small), "PING\r\n");
    o.release(small); // ignored: a copy
    o.bytes(enc.encode("PONG\r\n"));
    assert.equal(new TextDecoder().decode(o.lend()), "PONG\r\n");
    assert.equal(new TextDecoder().decode(small), "PING\r\n", "the first flush's bytes are intact");
    // A view of the buffer in use the size of a lent batch (>= 8 KiB) is not taken back.
    assert.throws(() => o.release(o.buf.subarray(0, 9000)), /not a lent buffer/);
  });
});
