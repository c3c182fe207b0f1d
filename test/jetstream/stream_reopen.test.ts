// A stream reopened on its file store rebuilds the same index (counts, bytes, subjects, times) from the
// segments, without a list of every message, and its dedupe window from the messages that have headers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { Stream } from "../../src/jetstream/stream.ts";
import { encodeHeaders } from "../../src/protocol/headers.ts";
import { FileStorage } from "../../adapters/storage/file_store.ts";

const enc = new TextEncoder();

describe("Stream reopened on a file store", () => {
  it("holds the same state and still knows the Nats-Msg-Ids of its dedupe window", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-reopen-"));
    try {
      const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], storage: "file", duplicate_window: 120e9 });
      let t = 1_000_000;
      const now = () => t;
      const a = new Stream(cfg, new Date(0).toISOString(), new FileStorage(dir, 60_000), now);
      for (let i = 1; i <= 5_000; i++) {
        t++;
        const h = i % 1000 === 0 ? encodeHeaders([["Nats-Msg-Id", `id-${i}`]]) : undefined;
        const r = a.publish(`s.${i % 7}`, h, enc.encode(`m${i}`));
        assert.ok("seq" in r && r.seq === i);
      }
      // Holes and a removed front, so the index is not one dense run.
      a.deleteMsg(1);
      a.deleteMsg(2500);
      a.purge({ filter: "s.3" });
      const before = a.state();
      const subjects = [...a.index.subjects()].sort();
      a.close();

      const b = new Stream(cfg, new Date(0).toISOString(), new FileStorage(dir, 60_000), now);
      assert.deepEqual(b.state(), before);
      assert.deepEqual([...b.index.subjects()].sort(), subjects);
      assert.equal(b.count, before.messages);
      assert.equal(b.subjectOf(2), "s.2");
      assert.equal(b.index.timeOf(2), 1_000_002);
      assert.equal(b.has(2500), false);
      assert.equal(b.load(4999)?.subject, "s.1");
      // A duplicate of a Msg-Id stored before the restart is still answered as one.
      const dup = b.publish("s.1", encodeHeaders([["Nats-Msg-Id", "id-5000"]]), enc.encode("again"));
      assert.deepEqual(dup, { stream: "S", seq: 5000, duplicate: true });
      const fresh = b.publish("s.1", encodeHeaders([["Nats-Msg-Id", "id-new"]]), enc.encode("new"));
      assert.deepEqual(fresh, { stream: "S", seq: 5001 });
      b.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
