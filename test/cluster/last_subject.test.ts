import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LastSubject } from "../../src/cluster/last_subject.ts";

const enc = new TextEncoder();
/** A frame's subject at [4, 4 + subject.length) of a buffer the reader reuses, as a read buffer is. */
function frame(buf: Uint8Array, subject: string): [number, number] {
  buf.fill(0);
  buf.set(enc.encode(`PUB ${subject} 0`));
  return [4, 4 + subject.length];
}

describe("LastSubject", () => {
  it("a subject seen once is a scratch copy for its frame; one that comes again is kept, and survives the buffer's reuse", () => {
    const buf = new Uint8Array(64);
    const ls = new LastSubject();
    ls.read(buf, ...frame(buf, "_INBOX.a.1"));
    assert.equal(ls.text, "_INBOX.a.1");
    assert.notEqual(ls.bytes.buffer, buf.buffer, "copied out of the read, not a view of it");
    assert.deepEqual([...ls.bytes], [...enc.encode("_INBOX.a.1")]);
    const scratch = ls.bytes;
    ls.read(buf, ...frame(buf, "_INBOX.a.2"));
    assert.equal(ls.text, "_INBOX.a.2");
    assert.equal(ls.bytes, scratch, "a new subject of the same length: the same array, rewritten (no object per reply)");
    assert.deepEqual([...ls.bytes], [...enc.encode("_INBOX.a.2")]);
    // The same subject twice in a row: copied and kept.
    ls.read(buf, ...frame(buf, "_INBOX.a.2"));
    assert.notEqual(ls.bytes.buffer, buf.buffer);
    assert.notEqual(ls.bytes, scratch, "the kept copy is not the scratch array");
    const kept = ls.bytes;
    ls.read(buf, ...frame(buf, "_INBOX.a.2"));
    assert.equal(ls.bytes, kept, "reused, not copied again");
    // Another subject overwrites the buffer: the kept one is intact and still matches its next frame.
    ls.read(buf, ...frame(buf, "x.y"));
    assert.equal(ls.text, "x.y");
    assert.equal(new TextDecoder().decode(kept), "_INBOX.a.2");
    ls.read(buf, ...frame(buf, "_INBOX.a.2"));
    assert.equal(ls.bytes, kept);
    assert.equal(ls.text, "_INBOX.a.2");
    // Equal-length different subjects are told apart.
    ls.read(buf, ...frame(buf, "_INBOX.a.3"));
    assert.equal(ls.text, "_INBOX.a.3");
    assert.deepEqual([...ls.bytes], [...enc.encode("_INBOX.a.3")]);
    assert.equal(new TextDecoder().decode(kept), "_INBOX.a.2", "the scratch array's rewrite leaves the kept copy alone");
  });
});
