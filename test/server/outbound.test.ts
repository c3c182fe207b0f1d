import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { OutBuffer, writeInt } from "../../src/server/outbound.ts";
import { BufferPool } from "../../src/server/buffer_pool.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("writeInt", () => {
  it("writes 0..large numbers as decimal digits", () => {
    for (const n of [0, 1, 9, 10, 11, 99, 100, 1234, 65536, 1048576, 999999999, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER]) {
      const b = new Uint8Array(32);
      const end = writeInt(b, 3, n);
      assert.equal(dec.decode(b.subarray(3, end)), String(n));
    }
  });
  it("property: matches String(n) at any offset", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat({ max: 8 }), (n, off) => {
        const b = new Uint8Array(32);
        const end = writeInt(b, off, n);
        assert.equal(dec.decode(b.subarray(off, end)), String(n));
        assert.equal(end - off, String(n).length);
      }),
      { numRuns: 300 },
    );
  });
});

describe("OutBuffer", () => {
  it("MSG with and without reply", () => {
    const o = new OutBuffer(16);
    o.msg(enc.encode("foo.bar"), enc.encode("7"), null, -1, enc.encode("hello"));
    o.msg(enc.encode("foo"), enc.encode("12"), enc.encode("_INBOX.1"), -1, new Uint8Array(0));
    o.msg(enc.encode("foo"), enc.encode("1"), new Uint8Array(0), -1, enc.encode("x"));
    assert.equal(dec.decode(o.take()), "MSG foo.bar 7 5\r\nhello\r\nMSG foo 12 _INBOX.1 0\r\n\r\nMSG foo 1 1\r\nx\r\n");
    assert.equal(o.len, 0);
  });
  it("HMSG carries header and total sizes", () => {
    const o = new OutBuffer(8);
    const hdr = "NATS/1.0\r\nA: b\r\n\r\n";
    o.msg(enc.encode("s"), enc.encode("3"), enc.encode("r"), hdr.length, enc.encode(`${hdr}body`));
    assert.equal(dec.decode(o.take()), `HMSG s 3 r ${hdr.length} ${hdr.length + 4}\r\n${hdr}body\r\n`);
  });
  it("grows for large frames and many appends, keeping earlier bytes", () => {
    const o = new OutBuffer(4);
    const big = new Uint8Array(100_000).fill(97);
    o.text("PING\r\n");
    o.msg(enc.encode("big"), enc.encode("1"), null, -1, big);
    o.bytes(enc.encode("+OK\r\n"));
    const out = dec.decode(o.take());
    assert.ok(out.startsWith("PING\r\nMSG big 1 100000\r\naaaa"));
    assert.ok(out.endsWith("aaaa\r\n+OK\r\n"));
    assert.equal(out.length, 6 + "MSG big 1 100000\r\n".length + 100_000 + 2 + 5);
  });
  it("take() returns a copy independent of later writes", () => {
    const o = new OutBuffer(64);
    o.text("abc");
    const first = o.take();
    o.text("xyz");
    assert.equal(dec.decode(first), "abc");
    assert.equal(dec.decode(o.take()), "xyz");
  });
  it("lend() hands a large batch over without copying and reuses it once released", () => {
    const o = new OutBuffer(16 * 1024);
    o.bytes(new Uint8Array(9000).fill(1));
    const first = o.lend();
    assert.equal(first.length, 9000);
    assert.equal(o.len, 0);
    // Writing on does not touch the lent bytes.
    o.bytes(new Uint8Array(9000).fill(2));
    assert.ok(first.every((b) => b === 1));
    o.release(first);
    const second = o.lend();
    assert.ok(second.every((b) => b === 2));
    assert.notEqual(second.buffer, first.buffer);
    // The next batch is written into the memory released before.
    o.bytes(new Uint8Array(9000).fill(3));
    assert.equal(o.buf.buffer, first.buffer);
    assert.ok(second.every((b) => b === 2));
    // A view of the buffer in use is never taken back (a lent batch is at least LEND_MIN, 8 KiB, long).
    assert.throws(() => o.release(o.buf.subarray(0, 9000)), /not a lent buffer/);
    // A small batch is a copy (take), never lent: releasing it is a no-op that leaves the buffer alone.
    o.release(o.buf.subarray(0, 10));
    assert.equal(o.len, 9000);
    assert.ok(o.buf.subarray(0, 9000).every((b) => b === 3));
  });
  it("buffers released beyond a connection's spare serve the next flush of another connection", () => {
    // An odd size of its own, so that no other test's buffers are in the process-wide pool for it; batches too
    // large for two to share one buffer.
    const size = 48 * 1024;
    const a = new OutBuffer(size);
    const b = new OutBuffer(size);
    a.bytes(new Uint8Array(30000).fill(1));
    const lent1 = a.lend();
    a.bytes(new Uint8Array(30000).fill(2));
    const lent2 = a.lend(); // a write still in flight: a fresh buffer
    assert.notEqual(lent2.buffer, lent1.buffer);
    a.release(lent1); // a's spare
    a.release(lent2); // to the pool
    assert.throws(() => a.release(lent2), /not a lent buffer|released twice/);
    b.bytes(new Uint8Array(30000).fill(3));
    const lentB = b.lend();
    assert.equal(b.buf.buffer, lent2.buffer, "b's next batch goes into the pooled buffer");
    assert.ok(lentB.every((x) => x === 3));
    b.bytes(new Uint8Array(9000).fill(4));
    assert.ok(lentB.every((x) => x === 3), "the lent batch is not written over");
  });
  it("packs lent batches into one buffer and writes it from its start again once all of them came back", () => {
    const o = new OutBuffer(64 * 1024);
    o.bytes(new Uint8Array(9000).fill(1));
    const l1 = o.lend();
    o.bytes(new Uint8Array(9000).fill(2));
    const l2 = o.lend();
    assert.equal(l2.buffer, l1.buffer, "the second batch follows the first in the same memory");
    assert.equal(l2.byteOffset, 9000);
    o.bytes(new Uint8Array(9000).fill(3));
    assert.ok(l1.every((x) => x === 1) && l2.every((x) => x === 2), "lent batches are never written over");
    const l3 = o.lend();
    o.release(l1);
    o.release(l2);
    assert.notEqual(o.buf.byteOffset, 0, "a batch of this memory is still out: the writer goes on after it");
    o.release(l3);
    assert.equal(o.buf.byteOffset, 0, "all back, nothing pending: from the start again");
    assert.equal(o.buf.length, 64 * 1024);
    assert.throws(() => o.release(l3), /not a lent buffer/, "released twice");
  });
  it("a batch that outgrows the rest of a buffer moves to a fresh one without touching the lent part", () => {
    const o = new OutBuffer(64 * 1024);
    o.bytes(new Uint8Array(20000).fill(1));
    const l1 = o.lend();
    o.bytes(new Uint8Array(30000).fill(2));
    o.bytes(new Uint8Array(20000).fill(3)); // past the rest of l1's buffer
    assert.notEqual(o.buf.buffer, l1.buffer);
    assert.equal(l1.buffer.byteLength, 64 * 1024, "memory with a lent batch is not freed");
    assert.ok(l1.every((x) => x === 1));
    assert.equal(o.len, 50000);
    assert.ok(o.buf.subarray(0, 30000).every((x) => x === 2) && o.buf.subarray(30000, 50000).every((x) => x === 3));
    const l2 = o.lend();
    o.release(l1);
    assert.equal(l1.buffer.byteLength, 64 * 1024, "back as the spare, not freed");
    o.release(l2);
  });
  it("BufferPool keeps at most its limit in bytes and refuses a buffer given twice", () => {
    const pool = new BufferPool(64 * 1024);
    const x = new ArrayBuffer(32 * 1024);
    pool.give(x);
    assert.throws(() => pool.give(x), /released twice/);
    pool.give(new ArrayBuffer(32 * 1024));
    const extra = new ArrayBuffer(32 * 1024);
    pool.give(extra); // past the limit: freed at once
    assert.equal(extra.byteLength, 0, "a buffer the pool has no room for is freed (detached), not left to a collection");
    assert.equal(pool.bytes, 64 * 1024);
    assert.equal(pool.take(16 * 1024), undefined, "sizes are exact");
    assert.equal(pool.take(32 * 1024)?.byteLength, 32 * 1024);
    assert.equal(pool.bytes, 32 * 1024);
  });
  it("a buffer grown to 1 MiB by a burst is given back once the output drained; a steady 128 KiB buffer is kept", () => {
    const o = new OutBuffer(4096);
    // A burst: a turn writes ~700 KiB before its flush (one lent batch in a 1 MiB buffer), then another while the
    // first is still being written (a second 1 MiB buffer).
    o.bytes(new Uint8Array(700 * 1024).fill(1));
    const b1 = o.lend();
    assert.equal(b1.buffer.byteLength, 1024 * 1024);
    o.bytes(new Uint8Array(700 * 1024).fill(2));
    const b2 = o.lend();
    assert.ok(b2.buffer !== b1.buffer, "a second buffer while the first batch is being written");
    // A small batch after it (in a third buffer: the rest of the second is too small to pack it).
    o.bytes(new Uint8Array(20 * 1024).fill(3));
    const b3 = o.lend();
    const mems = [b1.buffer, b2.buffer, b3.buffer];
    o.release(b1);
    assert.equal(mems[0].byteLength, 1024 * 1024, "kept as the spare while the burst is being written");
    o.release(b2);
    o.release(b3);
    assert.deepEqual(mems.map((m) => m.byteLength), [0, 0, 0], "all written: every grown buffer is freed (detached) at once");
    assert.ok(o.keptBytes <= 256 * 1024, `keeps ${o.keptBytes} bytes after the burst`);
    // Writing goes on as before, in a small buffer.
    o.bytes(new Uint8Array(9000).fill(4));
    const b4 = o.lend();
    assert.ok(b4.every((x) => x === 4));
    o.release(b4);
    // A steady load's buffer (64-70 KiB batches in 128 KiB) stays.
    const s = new OutBuffer(128 * 1024);
    s.bytes(new Uint8Array(70 * 1024).fill(5));
    const l = s.lend();
    const steady = l.buffer;
    s.release(l);
    assert.equal(steady.byteLength, 128 * 1024);
    assert.equal(s.keptBytes, 256 * 1024, "a steady load's buffers stay (the current one and its spare)");
  });
  it("BufferPool frees the buffers that sat untaken through a whole interval; what a flush took in it stays pooled", () => {
    const due: Array<() => void> = [];
    const pool = new BufferPool(4 * 1024 * 1024, (_ms, fn) => {
      due.push(fn);
      return { cancel() {} };
    });
    assert.equal(due.length, 0, "an empty pool has no timer");
    const a = new ArrayBuffer(128 * 1024);
    const b = new ArrayBuffer(128 * 1024);
    const c = new ArrayBuffer(64 * 1024);
    pool.give(a);
    pool.give(b);
    pool.give(c);
    assert.equal(due.length, 1, "one timer for the pool, armed by the first give");
    due.shift()!();
    assert.equal(pool.bytes, 320 * 1024, "given in this interval: kept until the next trim");
    // A steady load: a flush takes one 128 KiB buffer and gives one back in each interval; nothing takes c.
    const t1 = pool.take(128 * 1024)!;
    pool.give(t1.buffer as ArrayBuffer);
    assert.equal(due.length, 1);
    due.shift()!();
    assert.equal(c.byteLength, 0, "the 64 KiB buffer sat untaken the whole interval: freed (detached)");
    assert.equal(a.byteLength, 0, "of the two 128 KiB buffers, the one no take reached is freed");
    assert.equal(b.byteLength, 128 * 1024, "the one the flush took and gave back stays");
    assert.equal(pool.bytes, 128 * 1024);
    assert.equal(pool.take(64 * 1024), undefined);
    // Nothing more taken: the last buffer goes at the next trim, and an empty pool arms no timer.
    due.shift()!();
    assert.equal(b.byteLength, 0);
    assert.equal(pool.bytes, 0);
    assert.equal(due.length, 0, "an emptied pool leaves no timer behind");
    const d = new ArrayBuffer(32 * 1024);
    pool.give(d);
    assert.equal(due.length, 1, "the next give arms it again");
    assert.equal(pool.take(32 * 1024)?.byteLength, 32 * 1024);
  });
  it("BufferPool does not keep buffers larger than a steady load's (a burst's, never taken again)", () => {
    const pool = new BufferPool(4 * 1024 * 1024);
    const big = new ArrayBuffer(1024 * 1024);
    pool.give(big);
    assert.equal(big.byteLength, 0, "freed at once");
    assert.equal(pool.bytes, 0);
    pool.give(new ArrayBuffer(256 * 1024));
    assert.equal(pool.bytes, 256 * 1024);
  });
  it("frees the buffer it outgrew (never lent) and keeps what was written", () => {
    const o = new OutBuffer(1024);
    const first = o.buf.buffer;
    o.bytes(new Uint8Array(1000).fill(7));
    o.bytes(new Uint8Array(100).fill(8));
    assert.equal(first.byteLength, 0, "the outgrown buffer is freed at once");
    assert.equal(o.len, 1100);
    assert.ok(o.buf.subarray(0, 1000).every((x) => x === 7) && o.buf.subarray(1000, 1100).every((x) => x === 8));
  });
  it("lend() copies a small batch (no second buffer for a quiet connection)", () => {
    const o = new OutBuffer(1024);
    o.text("PING\r\n");
    const out = o.lend();
    assert.notEqual(out.buffer, o.buf.buffer);
    assert.equal(dec.decode(out), "PING\r\n");
  });
  it("property: a stream of frames renders exactly like the string form", () => {
    const frame = fc.record({
      subject: fc.stringMatching(/^[a-z.]{1,20}$/),
      sid: fc.nat({ max: 1e9 }).map(String),
      reply: fc.option(fc.stringMatching(/^[A-Z_.0-9]{1,20}$/), { nil: null }),
      hdr: fc.option(fc.stringMatching(/^[ -~]{0,30}$/), { nil: null }),
      body: fc.stringMatching(/^[ -~\r\n]{0,200}$/),
    });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (frames, initial) => {
        const o = new OutBuffer(initial);
        let want = "";
        for (const f of frames) {
          const payload = (f.hdr ?? "") + f.body;
          const h = f.hdr === null ? -1 : f.hdr.length;
          o.msg(enc.encode(f.subject), enc.encode(f.sid), f.reply === null ? null : enc.encode(f.reply), h, enc.encode(payload));
          const r = f.reply === null ? "" : `${f.reply} `;
          want += h >= 0
            ? `HMSG ${f.subject} ${f.sid} ${r}${h} ${payload.length}\r\n${payload}\r\n`
            : `MSG ${f.subject} ${f.sid} ${r}${payload.length}\r\n${payload}\r\n`;
        }
        assert.equal(dec.decode(o.take()), want);
      }),
      { numRuns: 200 },
    );
  });
});
