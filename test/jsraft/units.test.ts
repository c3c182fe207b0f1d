// The pure pieces of replicated JetStream: placement, the stream group's command bytes, the meta state, and
// nats-server's start-up errors for a JetStream cluster without a server or cluster name.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { placeReplicas, type PeerInfo } from "../../src/jetstream/cluster/placement.ts";
import { UNHEARD_WAIT_MS, UnheardWaits, voterUnheard } from "../../src/jetstream/cluster/unheard_wait.ts";
import { decodeCmd, encodeCmd } from "../../src/jetstream/cluster/entries.ts";
import { MetaState } from "../../src/jetstream/cluster/meta.ts";
import { streamOf } from "../../src/jetstream/cluster/controller.ts";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { startPetrel } from "../../mod.ts";
import { expectedPeers } from "../../adapters/storage/jetstream_extension.ts";

const peer = (name: string, tags: string[] = [], online = true, cluster = "c1"): PeerInfo => ({ name, cluster, tags, online });

describe("placement", () => {
  const peers = [peer("a", ["ssd"]), peer("b", ["ssd", "east"]), peer("c"), peer("d", [], false), peer("e", [], true, "c2")];
  it("never puts two replicas on one server and skips offline servers", () => {
    const got = placeReplicas("S", peers, { replicas: 4 }, new Map());
    assert.equal(got?.length, 4);
    assert.equal(new Set(got).size, 4);
    assert.ok(!got?.includes("d"));
    assert.equal(placeReplicas("S", peers, { replicas: 5 }, new Map()), null, "only four servers are online");
  });
  it("honours placement cluster and tags", () => {
    assert.deepEqual(placeReplicas("S", peers, { replicas: 1, cluster: "c2" }, new Map()), ["e"]);
    assert.deepEqual(placeReplicas("S", peers, { replicas: 2, tags: ["ssd"] }, new Map())?.sort(), ["a", "b"]);
    assert.deepEqual(placeReplicas("S", peers, { replicas: 1, tags: ["ssd", "east"] }, new Map()), ["b"]);
    assert.equal(placeReplicas("S", peers, { replicas: 1, tags: ["gpu"] }, new Map()), null);
  });
  it("prefers the least loaded servers", () => {
    const load = new Map([["a", 5], ["b", 5]]);
    assert.deepEqual(placeReplicas("S", peers, { replicas: 1, cluster: "c1" }, load), ["c"]);
    assert.equal(placeReplicas("S", peers, { replicas: 2, cluster: "c1" }, load)?.[0], "c");
  });
});

describe("a create waiting for unheard peers", () => {
  it("is tried again when a peer is heard, and a last time (answering) at its bound", () => {
    const w = new UnheardWaits();
    const tries: Array<[string, boolean]> = [];
    w.wait(0, (last) => tries.push(["a", last]));
    w.heard();
    assert.deepEqual(tries, [["a", false]], "retried once a peer is heard");
    assert.equal(w.size, 0);
    w.wait(100, (last) => tries.push(["b", last]));
    w.sweep(100 + UNHEARD_WAIT_MS - 1);
    assert.equal(w.size, 1, "not before its bound");
    w.sweep(100 + UNHEARD_WAIT_MS);
    assert.deepEqual(tries.at(-1), ["b", true]);
    assert.equal(w.size, 0);
  });
});

describe("an unheard meta voter", () => {
  it("is one never heard, or, for a just-elected leader, one last heard before it led and long ago", () => {
    const OFF = 6_000;
    const seen = new Map([["a", 1_000], ["b", 9_000]]);
    const last = (n: string) => seen.get(n);
    assert.equal(voterUnheard(["me", "a", "b", "c"], "me", last, 9_500, 0, OFF), true, "c was never heard");
    // The step-down flake: a leader since 9,000 last heard a at 1,000 (before it led): not offline yet, wait.
    assert.equal(voterUnheard(["me", "a", "b"], "me", last, 9_500, 9_000, OFF), true);
    assert.equal(voterUnheard(["me", "a", "b"], "me", last, 9_500, 0, OFF), false, "not leading: stale is offline");
    assert.equal(voterUnheard(["me", "a", "b"], "me", last, 15_000, 9_000, OFF), false, "led long enough: a is offline");
    seen.set("a", 9_200);
    assert.equal(voterUnheard(["me", "a", "b"], "me", last, 9_500, 9_000, OFF), false, "heard since it leads");
  });
});

describe("stream group commands", () => {
  it("round-trip messages (binary) and the rest (JSON)", () => {
    const hdr = new TextEncoder().encode("NATS/1.0\r\nA: b\r\n\r\n");
    const msg = { op: "msg" as const, seq: 42, ts: 1_700_000_000_123, subject: "a.b", headers: hdr, data: new Uint8Array([1, 2, 3]), mirrored: false };
    assert.deepEqual(decodeCmd(encodeCmd(msg)), msg);
    const bare = { ...msg, headers: undefined };
    assert.deepEqual(decodeCmd(encodeCmd(bare)), bare);
    const purge = { op: "purge" as const, req: { filter: "a.*", upTo: 9 } };
    assert.deepEqual(decodeCmd(encodeCmd(purge)), purge);
    assert.ok(decodeCmd(new Uint8Array([9, 9])) instanceof Error);
    assert.ok(decodeCmd(encodeCmd(msg).subarray(0, 22)) instanceof Error);
    // The last subject decoded is reused only for the same bytes (same length, another subject; then UTF-8).
    for (const subject of ["a.b", "a.b", "a.c", "a.bc", "a.b", "ü.b", "ü.b", "a.b"]) {
      const got = decodeCmd(encodeCmd({ ...msg, subject }));
      assert.ok(!(got instanceof Error) && got.op === "msg");
      assert.equal(got.subject, subject);
    }
  });

  it("keep the byte layout (big-endian numbers) and carry any subject, long or not ASCII", () => {
    const msg = { op: "msg" as const, seq: 2 ** 40 + 3, ts: 1_700_000_000_123.5, subject: "prix.€.東京", headers: undefined, data: new Uint8Array(300_000), mirrored: true };
    const bytes = encodeCmd(msg);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(v.getFloat64(2), msg.seq);
    assert.equal(v.getFloat64(10), msg.ts);
    assert.equal(v.getUint16(18), new TextEncoder().encode(msg.subject).length);
    assert.deepEqual(decodeCmd(bytes), msg);
    const long = { ...msg, subject: "x".repeat(100) + ".y", headers: new Uint8Array(70_000).fill(65), restored: true };
    assert.deepEqual(decodeCmd(encodeCmd(long)), long);
  });
});

describe("meta state", () => {
  it("applies assignments deterministically and snapshots them", () => {
    const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s"] });
    const a = { name: "S", config: cfg, created: "t", peers: ["x", "y", "z"], group: "S-1", ts: 1 };
    const m = new MetaState();
    assert.equal(m.apply({ op: "stream", a }).kind, "added");
    assert.equal(m.apply({ op: "stream", a }).kind, "none", "an assignment is applied once");
    assert.deepEqual(m.load(), new Map([["x", 1], ["y", 1], ["z", 1]]));
    const copy = new MetaState();
    copy.restore(m.encode());
    assert.deepEqual([...copy.streams], [...m.streams]);
    assert.equal(m.apply({ op: "delete", name: "S", ts: 2 }).kind, "removed");
    assert.equal(m.streams.size, 0);
  });
  it("keeps the servers SERVER.REMOVE took out in the replicated state and its snapshots", () => {
    const m = new MetaState();
    m.apply({ op: "removeServer", server: "gone", ts: 1 });
    const copy = new MetaState();
    copy.restore(m.encode());
    assert.deepEqual([...copy.removedServers], ["gone"]);
    // A snapshot from before (a bare list of assignments) still restores.
    const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s"] });
    copy.restore(new TextEncoder().encode(JSON.stringify([{ name: "S", config: cfg, created: "t", peers: ["x"], group: "g", ts: 1 }])));
    assert.equal(copy.streams.size, 1);
    assert.equal(copy.removedServers.size, 0);
  });
  it("knows which stream an API subject is about", () => {
    const op = (s: string) => s.split(".").slice(2);
    assert.equal(streamOf(op("$JS.API.STREAM.INFO.S")), "S");
    assert.equal(streamOf(op("$JS.API.STREAM.MSG.GET.S")), "S");
    assert.equal(streamOf(op("$JS.API.STREAM.LEADER.STEPDOWN.S")), "S");
    assert.equal(streamOf(op("$JS.API.CONSUMER.CREATE.S.c.f")), "S");
    assert.equal(streamOf(op("$JS.API.CONSUMER.DURABLE.CREATE.S.c")), "S");
    assert.equal(streamOf(op("$JS.API.CONSUMER.MSG.NEXT.S.c")), "S");
    assert.equal(streamOf(op("$JS.API.DIRECT.GET.S")), "S");
    assert.equal(streamOf(op("$JS.API.STREAM.NAMES")), undefined);
  });
  it("counts the servers the routes name", () => {
    assert.equal(expectedPeers(["nats://127.0.0.1:1", "nats://127.0.0.1:2", "nats://127.0.0.1:3"], 2), 3);
    assert.equal(expectedPeers(["nats://h1:6222", "nats://h2:6222"], 6222), 3);
    assert.equal(expectedPeers([], -1), 1);
  });
});

describe("JetStream cluster start-up", () => {
  for (const [what, opts, error] of [
    ["server_name", { cluster: { name: "c", host: "127.0.0.1", port: -1 } }, "jetstream cluster requires `server_name` to be set"],
    ["cluster.name", { server_name: "x", cluster: { host: "127.0.0.1", port: -1 } }, "jetstream cluster requires `cluster.name` to be set"],
  ] as const) {
    it(`refuses to start without ${what}, as nats-server does`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "petrel-jsraft-start-"));
      try {
        await assert.rejects(
          startPetrel({ options: { host: "127.0.0.1", port: -1, jetstream: { enabled: true, store_dir: dir }, ...opts } }),
          (e: Error) => e.message.includes(error),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
