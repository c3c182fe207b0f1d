// The ack subject of one consumer (src/jetstream/ack_route.ts): the stream sequence read after the known
// `$JS.ACK.<stream>.<consumer>.` prefix, and what is not an ack of nats-server's form.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ackInterest, ackSeqAfter } from "../../src/jetstream/ack_route.ts";

describe("ack route", () => {
  const prefix = "$JS.ACK.S.C.".length;
  it("reads the stream sequence of nats-server's 9-token ack subject", () => {
    assert.equal(ackInterest("S", "C"), "$JS.ACK.S.C.*.*.*.*.*");
    assert.equal(ackSeqAfter("$JS.ACK.S.C.1.42.7.1733500000000000000.3", prefix), 42);
    assert.equal(ackSeqAfter("$JS.ACK.S.C.2.9007199254740991.1.1.0", prefix), 9007199254740991);
  });
  it("refuses other shapes and sequences", () => {
    for (const s of ["$JS.ACK.S.C.1", "$JS.ACK.S.C.1.42", "$JS.ACK.S.C.1.42.7.1", "$JS.ACK.S.C.1.42.7.1.3.9", "$JS.ACK.S.C.1.x.7.1.3", "$JS.ACK.S.C.1.0.7.1.3", "$JS.ACK.S.C.1.-4.7.1.3", "$JS.ACK.S.C.1..7.1.3"]) {
      assert.ok(Number.isNaN(ackSeqAfter(s, prefix)), s);
    }
  });
});
