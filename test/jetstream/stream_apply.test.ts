// The one door for stream state changes: `apply(entry)` is deterministic (sequence and time come from the
// entry), so two streams fed the same entries hold the same messages, whatever their clocks say.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { isEntry, Stream, type StreamEntry } from "../../src/jetstream/stream.ts";
import { encodeHeaders } from "../../src/protocol/headers.ts";

const enc = new TextEncoder();

function mk(now: () => number, extra: Record<string, unknown> = {}): Stream {
  const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], max_msgs_per_subject: 2, duplicate_window: 120e9, ...extra });
  return new Stream(cfg, new Date(0).toISOString(), new MemoryStorage(), now);
}

function snapshot(s: Stream): Array<[number, string, number, string]> {
  const out: Array<[number, string, number, string]> = [];
  s.index.forEach(0, (seq) => {
    const m = s.load(seq)!;
    out.push([m.seq, m.subject, m.time, new TextDecoder().decode(m.data)]);
  });
  return out;
}

describe("Stream.apply", () => {
  it("replays the same entries to the same state on a stream with another clock", () => {
    let t = 1_000;
    const leader = mk(() => t);
    const log: StreamEntry[] = [];
    for (let i = 0; i < 20; i++) {
      t += 7;
      const hdr = i % 5 === 0 ? encodeHeaders([["Nats-Msg-Id", `id-${i % 10}`]]) : undefined;
      const e = leader.prepare(`s.${i % 3}`, hdr, enc.encode(`m${i}`), t, leader.lastSequence);
      if (!isEntry(e)) continue;
      log.push(e);
      leader.apply(e);
    }
    log.push({ op: "remove", seqs: [log.length] });
    leader.apply(log[log.length - 1]);
    log.push({ op: "purge", req: { filter: "s.1" } });
    leader.apply(log[log.length - 1]);
    const replica = mk(() => 99_999_999);
    for (const e of log) replica.apply(e);
    assert.deepEqual(snapshot(replica), snapshot(leader));
    assert.deepEqual(replica.state(), leader.state());
    // max_msgs_per_subject 2 kept two per subject, s.1 purged.
    assert.deepEqual(snapshot(leader).map((m) => m[1]).sort(), ["s.0", "s.0", "s.2", "s.2"]);
  });

  it("keeps copies of a publish's bytes: the caller may rewrite them once the call returns", () => {
    // A single server's capture hands the stream the router's views of a read buffer, and an internal publisher's
    // bytes may be rewritten for its next message (a PubAck's): what is stored must not change with them.
    const s = mk(() => 9, { subjects: ["s.>", "r.>"], max_msgs_per_subject: -1, allow_rollup_hdrs: true });
    const data = enc.encode("first");
    const hdr = encodeHeaders([["Nats-Msg-Id", "a"]]);
    assert.equal(s.publishSeq("s.a", hdr, data), 1);
    data.set(enc.encode("FIRST"));
    hdr.fill(32);
    const input = new Uint8Array(64);
    input.set(enc.encode("xxsecondyy"));
    assert.equal(s.publishSeq("s.b", undefined, input.subarray(2, 8)), 2);
    input.fill(0);
    const one = s.load(1)!;
    assert.equal(new TextDecoder().decode(one.data), "first");
    assert.equal(new TextDecoder().decode(one.headers), new TextDecoder().decode(encodeHeaders([["Nats-Msg-Id", "a"]])));
    assert.equal(new TextDecoder().decode(s.load(2)!.data), "second");
    // The entry publishSeq reuses carries nothing over: a duplicate is still one, a publish without headers has none.
    assert.deepEqual(s.publishSeq("s.c", encodeHeaders([["Nats-Msg-Id", "a"]]), enc.encode("dup")), { stream: "S", seq: 1, duplicate: true });
    assert.equal(s.publishSeq("s.c", undefined, enc.encode("third")), 3);
    assert.equal(s.load(3)!.headers, undefined);
    // A rollup taken from one publish's headers does not stay for the next.
    assert.equal(s.publishSeq("s.d", encodeHeaders([["Nats-Rollup", "sub"]]), enc.encode("4")), 4);
    assert.equal(s.publishSeq("s.c", undefined, enc.encode("5")), 5);
    assert.deepEqual(snapshot(s).map(([seq, subject, , d]) => `${seq} ${subject} ${d}`), ["1 s.a first", "2 s.b second", "3 s.c third", "4 s.d 4", "5 s.c 5"]);
  });

  it("refuses an entry whose sequence does not follow (sequences only grow)", () => {
    const s = mk(() => 5);
    s.apply({ op: "msg", seq: 1, ts: 5, subject: "s.a", headers: undefined, data: enc.encode("x") });
    assert.throws(
      () => s.apply({ op: "msg", seq: 1, ts: 6, subject: "s.a", headers: undefined, data: enc.encode("y") }),
      /does not follow/,
    );
    assert.equal(s.lastSequence, 1);
  });

  it("prepare changes nothing and answers duplicates and failed preconditions", () => {
    const s = mk(() => 10);
    const h = encodeHeaders([["Nats-Msg-Id", "a"]]);
    const e = s.prepare("s.x", h, enc.encode("1"), 10, 0);
    assert.ok(isEntry(e));
    assert.equal(s.lastSequence, 0);
    s.apply(e);
    assert.deepEqual(s.prepare("s.x", h, enc.encode("1"), 11, 1), { stream: "S", seq: 1, duplicate: true });
    const wrong = s.prepare("s.x", encodeHeaders([["Nats-Expected-Last-Sequence", "7"]]), enc.encode("1"), 11, 1);
    assert.ok(!isEntry(wrong) && "err_code" in wrong && wrong.err_code === 10071);
  });
});
