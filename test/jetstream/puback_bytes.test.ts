/**
 * A PubAck's bytes (src/jetstream/engine.ts pubAckBytes): the sequence's digits are written into the bytes directly
 * (no string per PubAck); the JSON must be what JSON.stringify gives, at every digit-count boundary.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pubAckBytes } from "../../src/jetstream/engine.ts";

describe("PubAck bytes", () => {
  it("writes the sequence's digits as JSON does", () => {
    const dec = new TextDecoder();
    const seqs = [1, 9, 10, 11, 99, 100, 999, 1000, 123456789, 2 ** 31, 2 ** 32 + 7, 10 ** 15, 2 ** 53 - 1];
    for (const seq of seqs) {
      for (const stream of ["S", "a-stream_with.long name"]) {
        assert.equal(dec.decode(pubAckBytes({ stream, seq }, stream)), JSON.stringify({ stream, seq }), `${stream} ${seq}`);
      }
    }
    // A domain or a duplicate takes the general path.
    assert.deepEqual(JSON.parse(dec.decode(pubAckBytes({ stream: "S", seq: 5, duplicate: true }, "S"))), { stream: "S", seq: 5, duplicate: true });
  });
});
