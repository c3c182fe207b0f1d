// Arbitrary bodies on every API subject: always an answer (or silence where nats-server is silent), never a
// crash, nothing half-stored, and the engine keeps serving.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { api, pub, startEngine } from "./helpers.ts";

const SUBJECTS = [
  "$JS.API.INFO",
  "$JS.API.STREAM.CREATE.F",
  "$JS.API.STREAM.UPDATE.F",
  "$JS.API.STREAM.INFO.F",
  "$JS.API.STREAM.NAMES",
  "$JS.API.STREAM.LIST",
  "$JS.API.STREAM.PURGE.F",
  "$JS.API.STREAM.MSG.GET.F",
  "$JS.API.STREAM.MSG.DELETE.F",
  "$JS.API.CONSUMER.CREATE.F",
  "$JS.API.CONSUMER.CREATE.F.c",
  "$JS.API.CONSUMER.DURABLE.CREATE.F.c",
  "$JS.API.CONSUMER.INFO.F.c",
  "$JS.API.CONSUMER.NAMES.F",
  "$JS.API.CONSUMER.LIST.F",
];

const body = fc.oneof(
  fc.string(),
  fc.json(),
  fc.record({
    name: fc.oneof(fc.constant("F"), fc.string()),
    subjects: fc.oneof(fc.array(fc.string()), fc.constant(["f.>"]), fc.integer()),
    max_msgs: fc.oneof(fc.integer(), fc.double(), fc.string()),
    max_bytes: fc.oneof(fc.integer(), fc.constant(1e300)),
    retention: fc.oneof(fc.constant("workqueue"), fc.string()),
    storage: fc.oneof(fc.constant("memory"), fc.constant("file"), fc.boolean()),
    num_replicas: fc.integer({ min: -2, max: 7 }),
  }, { requiredKeys: [] }),
  fc.record({
    stream_name: fc.oneof(fc.constant("F"), fc.string()),
    config: fc.record({
      durable_name: fc.oneof(fc.constant("c"), fc.string()),
      ack_policy: fc.oneof(fc.constant("explicit"), fc.string()),
      deliver_policy: fc.string(),
      filter_subject: fc.string(),
      max_waiting: fc.integer(),
      backoff: fc.array(fc.integer()),
    }, { requiredKeys: [] }),
  }, { requiredKeys: [] }),
  fc.record({ seq: fc.oneof(fc.integer(), fc.string()), last_by_subj: fc.string(), keep: fc.integer() }, { requiredKeys: [] }),
);

describe("bad input", () => {
  it("answers arbitrary requests with well-formed responses and keeps serving", async () => {
    const { bus, js } = startEngine();
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...SUBJECTS), body, async (subject, b) => {
          const r = await api(bus, subject, typeof b === "string" ? b : JSON.stringify(b));
          assert.equal(typeof r.type, "string");
          if (r.error !== undefined) {
            const e = r.error as Record<string, unknown>;
            assert.equal(typeof e.code, "number");
            assert.equal(typeof e.err_code, "number");
            assert.equal(typeof e.description, "string");
          }
        }),
        { numRuns: 300 },
      );
      // Still serving, and whatever was created is consistent.
      const info = await api(bus, "$JS.API.INFO");
      assert.equal(info.type, "io.nats.jetstream.api.v1.account_info_response");
      await api(bus, "$JS.API.STREAM.DELETE.F");
      assert.equal((await api(bus, "$JS.API.STREAM.CREATE.F", { name: "F", subjects: ["f.>"] })).error, undefined);
      assert.equal((await pub(bus, "f.x", "ok")).seq, 1);
    } finally {
      js.stop();
    }
  });
});
