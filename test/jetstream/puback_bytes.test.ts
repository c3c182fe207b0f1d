/**
 * A PubAck's bytes (src/jetstream/engine.ts pubAckBytes): the sequence's digits are written into the bytes directly
 * (no string per PubAck); the JSON must be what JSON.stringify gives, at every digit-count boundary.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { publishAck, pubAckBytes } from "../../src/jetstream/engine.ts";

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

  it("publishAck: the same JSON from bytes rewritten in place, and a PubAck published during another's delivery gets its own", () => {
    const dec = new TextDecoder();
    const seen: Array<[string, string]> = [];
    const bus = { publish: (reply: string, payload: Uint8Array) => void seen.push([reply, dec.decode(payload)]) };
    const seqs = [1, 9, 10, 11, 99, 100, 999, 1000, 123456789, 2 ** 31, 10 ** 15, 2 ** 53 - 1, 7, 12];
    for (const seq of seqs) {
      for (const stream of ["S", "a-stream_with.long name"]) publishAck(bus, `r.${seq}`, stream, seq);
    }
    const want = seqs.flatMap((seq) => ["S", "a-stream_with.long name"].map((stream) => [`r.${seq}`, JSON.stringify({ stream, seq })]));
    assert.deepEqual(seen, want);
    // A delivery that publishes another PubAck of the same stream and digit count before it is done with its own
    // bytes (a flush inside a delivery): the outer bytes must not change under it.
    let outer: Uint8Array | undefined;
    let inner: Uint8Array | undefined;
    const nesting = {
      publish: (reply: string, payload: Uint8Array) => {
        if (reply === "outer") {
          outer = payload;
          publishAck(nesting, "inner", "S", 42);
          assert.equal(dec.decode(outer), JSON.stringify({ stream: "S", seq: 41 }), "outer bytes intact after the nested ack");
        } else inner = payload;
      },
    };
    publishAck(nesting, "outer", "S", 41);
    assert.equal(dec.decode(inner!), JSON.stringify({ stream: "S", seq: 42 }));
    assert.notEqual(inner, outer);
  });
});
