import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LARGE_CHUNK, MAX_GATHER, WriteQueue } from "../../transports/write_queue.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

describe("WriteQueue", () => {
  it("gathers small chunks into one buffer and lets their writers reuse them at once", () => {
    const q = new WriteQueue();
    const released: string[] = [];
    q.push(enc.encode("PING\r\n"), (d) => released.push(dec.decode(d)));
    q.push(enc.encode("PONG\r\n"));
    q.push(enc.encode("+OK\r\n"), (d) => released.push(dec.decode(d)));
    assert.equal(q.bytes, 17);
    assert.equal(dec.decode(q.take()), "PING\r\nPONG\r\n+OK\r\n");
    assert.deepEqual(released, ["PING\r\n", "+OK\r\n"]);
    assert.ok(q.isEmpty());
    assert.equal(q.bytes, 0);
  });

  it("keeps no gather buffer until a write gathers (a connection that writes one thing at a time holds none)", () => {
    const q = new WriteQueue();
    assert.equal(q.scratchBytes, 0);
    for (const s of ["INFO {}\r\n", "PONG\r\n"]) {
      q.push(enc.encode(s));
      assert.equal(dec.decode(q.take()), s);
      q.done();
    }
    assert.equal(q.scratchBytes, 0, "lone chunks are written as they are");
    q.push(enc.encode("a"));
    q.push(enc.encode("b"));
    assert.equal(dec.decode(q.take()), "ab");
    assert.equal(q.scratchBytes, 16 * 1024, "the first gather makes it");
  });

  it("writes a large chunk as it is and releases it only when done", () => {
    const q = new WriteQueue();
    const released: Uint8Array[] = [];
    const small = enc.encode("x");
    const big = new Uint8Array(LARGE_CHUNK).fill(7);
    q.push(small);
    q.push(big, (d) => released.push(d));
    q.push(small);
    assert.equal(q.take(), small); // the small chunk before the large one, alone: as it is
    const b = q.take();
    assert.equal(b, big);
    assert.equal(released.length, 0);
    q.done();
    assert.deepEqual(released, [big]);
    q.done(); // at most once
    assert.equal(released.length, 1);
    assert.equal(q.take(), small);
    assert.ok(q.isEmpty());
  });

  it("releases the previous large chunk when the next one is taken, never a cleared one", () => {
    const q = new WriteQueue();
    let n = 0;
    const a = new Uint8Array(LARGE_CHUNK);
    q.push(a, () => n++);
    q.push(new Uint8Array(LARGE_CHUNK), () => n++);
    q.take();
    q.take();
    assert.equal(n, 1);
    q.clear();
    q.done();
    assert.equal(n, 1);
  });

  it("keeps order over a backlog longer than its compaction point", () => {
    const q = new WriteQueue();
    let next = 0;
    let want = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 60; i++) {
        const c = new Uint8Array(LARGE_CHUNK);
        c[0] = next++ & 255;
        q.push(c);
      }
      for (let i = 0; i < 40; i++) assert.equal(q.take()[0], want++ & 255);
    }
    while (!q.isEmpty()) assert.equal(q.take()[0], want++ & 255);
    assert.equal(want, next);
  });

  it("gathers at most MAX_GATHER per write, so its buffer stays that size under a backlog of small chunks", () => {
    const q = new WriteQueue();
    const chunk = 10_000; // small (< LARGE_CHUNK)
    const n = 100; // ~1 MB queued: the old queue gathered it all into a 1 MiB buffer it then kept
    for (let i = 0; i < n; i++) q.push(new Uint8Array(chunk).fill(i));
    const got: number[] = [];
    let batches = 0;
    while (!q.isEmpty()) {
      const b = q.take();
      batches++;
      assert.ok(b.length <= MAX_GATHER, `batch of ${b.length}`);
      assert.ok(b.buffer.byteLength <= MAX_GATHER, `scratch of ${b.buffer.byteLength}`);
      for (let o = 0; o < b.length; o += chunk) got.push(b[o]);
      q.done();
    }
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), "every chunk, in order");
    assert.equal(batches, Math.ceil(n / Math.floor(MAX_GATHER / chunk)));
  });
});
