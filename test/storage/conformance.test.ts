import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openStorage } from "../../adapters/storage/index.ts";
import { FileStorage } from "../../adapters/storage/file_store.ts";
import type { StorageKind, StoredMsg } from "../../src/jetstream/store/types.ts";
import { waitFor } from "../helpers/servers.ts";

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-store-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const enc = new TextEncoder();
function msg(seq: number, subject = "foo", data = "hello " + seq, hdr?: string): StoredMsg {
  return { seq, subject, data: enc.encode(data), headers: hdr ? enc.encode(hdr) : undefined, time: 1_700_000_000_000 + seq };
}

for (const kind of ["memory", "file", "sqlite"] as StorageKind[]) {
  describe(`storage conformance: ${kind}`, () => {
    it("appends, loads, removes and scans messages", async () => {
      const st = await openStorage({ kind, storeDir: tmpDir() });
      try {
        const b = st.openStream("S");
        for (let i = 1; i <= 10; i++) b.append(msg(i, i % 2 ? "a.b" : "c", "x".repeat(i), i === 3 ? "NATS/1.0\r\nK: v\r\n\r\n" : undefined));
        const m3 = b.load(3);
        assert.ok(m3);
        assert.equal(m3.subject, "a.b");
        assert.equal(new TextDecoder().decode(m3.data), "xxx");
        assert.equal(new TextDecoder().decode(m3.headers), "NATS/1.0\r\nK: v\r\n\r\n");
        assert.equal(m3.time, 1_700_000_000_003);
        assert.equal(b.load(4)?.headers, undefined);
        assert.equal(b.load(11), undefined);
        b.remove([1, 2, 5]);
        assert.equal(b.load(2), undefined);
        const scan = b.scan();
        assert.deepEqual(scan.map((m) => m.seq), [3, 4, 6, 7, 8, 9, 10]);
        assert.equal(scan[0].size, 3 + 18 + 3 + 16);
        assert.equal(scan[1].subject, "c");
        assert.equal(scan[1].size, 1 + 4 + 16);
      } finally {
        st.close();
      }
    });

    it("keeps metadata records", async () => {
      const st = await openStorage({ kind, storeDir: tmpDir() });
      try {
        st.putMeta("S", "config", '{"name":"S"}');
        st.putMeta("S", "c.one", "1");
        st.putMeta("S", "c.two", "2");
        st.putMeta("T", "c.x", "3");
        assert.equal(st.getMeta("S", "config"), '{"name":"S"}');
        assert.deepEqual(st.listMeta("S", "c."), [["c.one", "1"], ["c.two", "2"]]);
        st.deleteMeta("S", "c.one");
        assert.deepEqual(st.listMeta("S", "c."), [["c.two", "2"]]);
        assert.deepEqual(st.streamNames(), ["S"]);
        st.openStream("S").append(msg(1));
        st.dropStream("S");
        assert.deepEqual(st.streamNames(), []);
        assert.equal(st.getMeta("S", "config"), undefined);
        assert.equal(st.openStream("S").load(1), undefined);
      } finally {
        st.close();
      }
    });

    if (kind !== "memory") {
      it("survives a reopen", async () => {
        const dir = tmpDir();
        let st = await openStorage({ kind, storeDir: dir, sync: "always" });
        const b = st.openStream("ORDERS.v1");
        for (let i = 1; i <= 100; i++) b.append(msg(i, "orders." + (i % 3)));
        b.remove([1, 50, 100]);
        st.putMeta("ORDERS.v1", "config", "{}");
        st.close();
        st = await openStorage({ kind, storeDir: dir });
        try {
          assert.deepEqual(st.streamNames(), ["ORDERS.v1"]);
          const b2 = st.openStream("ORDERS.v1");
          const seqs = b2.scan().map((m) => m.seq);
          assert.equal(seqs.length, 97);
          assert.equal(seqs[0], 2);
          assert.equal(seqs.at(-1), 99);
          assert.equal(b2.load(50), undefined);
          assert.equal(b2.load(51)?.subject, "orders.0");
          b2.append(msg(101));
          assert.equal(b2.load(101)?.seq, 101);
        } finally {
          st.close();
        }
      });
    }
  });
}

describe("file store specifics", () => {
  it("cuts a torn record at the tail", async () => {
    const dir = tmpDir();
    let st = await openStorage({ kind: "file", storeDir: dir });
    const b = st.openStream("S");
    for (let i = 1; i <= 5; i++) b.append(msg(i));
    st.close();
    const msgs = path.join(dir, "jetstream", "$G", "streams", "S", "msgs");
    const seg = path.join(msgs, fs.readdirSync(msgs)[0]);
    fs.appendFileSync(seg, new Uint8Array([200, 0, 0, 0, 1, 2, 3]));
    st = await openStorage({ kind: "file", storeDir: dir });
    try {
      const b2 = st.openStream("S");
      assert.deepEqual(b2.scan().map((m) => m.seq), [1, 2, 3, 4, 5]);
      b2.append(msg(6));
      assert.equal(b2.load(6)?.seq, 6);
    } finally {
      st.close();
    }
  });

  it("sync_interval: the background sync leaves a summary a crashed store reopens from", async () => {
    const dir = tmpDir();
    const st = await openStorage({ kind: "file", storeDir: dir, sync: 10 });
    const msgs = path.join(dir, "jetstream", "$G", "streams", "S", "msgs");
    try {
      const b = st.openStream("S");
      for (let i = 1; i <= 5; i++) b.append(msg(i));
      // The timer's sync: flush now, fsync off the event loop, then the summary.
      await waitFor("the summary of the background sync", () => fs.existsSync(path.join(msgs, "index.json")), 5000, 5);
      for (let i = 6; i <= 8; i++) b.append(msg(i));
      b.flush();
      // A copy taken now is the store as a kill -9 would leave it: the summary, then records written after it.
      const crashed = tmpDir();
      fs.cpSync(path.join(dir, "jetstream"), path.join(crashed, "jetstream"), { recursive: true });
      const st2 = await openStorage({ kind: "file", storeDir: crashed });
      try {
        assert.deepEqual(st2.openStream("S").scan().map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
      } finally {
        st2.close();
      }
    } finally {
      st.close();
    }
  });

  it("loads in file order read ahead, and never from bytes a segment rewrite moved", async () => {
    const st = new FileStorage(tmpDir(), 0, "$G", 8 * 1024); // segments of ~100 of these messages
    try {
      const b = st.openStream("S");
      for (let i = 1; i <= 400; i++) b.append(msg(i, `s.${i % 7}`, `payload ${i} ` + "z".repeat(i % 50)));
      const check = (seq: number) => {
        const m = b.load(seq);
        assert.equal(m?.seq, seq);
        assert.equal(m?.subject, `s.${seq % 7}`);
        assert.equal(new TextDecoder().decode(m?.data), `payload ${seq} ` + "z".repeat(seq % 50));
      };
      for (let q = 1; q <= 400; q++) check(q); // a consumer walking the stream
      for (const q of [17, 3, 399, 200, 201, 5]) check(q); // random gets
      for (let q = 1; q <= 40; q++) check(q); // a window over the first segment...
      b.remove(Array.from({ length: 80 }, (_, i) => i + 1)); // ...whose rewrite moves what is left in it
      for (let q = 81; q <= 400; q++) check(q);
      assert.equal(b.load(40), undefined);
    } finally {
      st.close();
    }
  });

  it("builds a block's detail at its first read, the block being written too, and keeps it current", () => {
    // Nothing reads while these are appended: no block holds per-message detail until the loads below.
    const st = new FileStorage(tmpDir(), 0, "$G", 8 * 1024);
    try {
      const b = st.openStream("S");
      const body = (i: number) => `m${i} ` + "q".repeat(i % 40);
      const check = (seq: number) => {
        const m = b.load(seq);
        assert.equal(m?.seq, seq);
        assert.equal(m?.subject, `t.${seq % 3}`);
        assert.equal(new TextDecoder().decode(m?.data), body(seq));
      };
      for (let i = 1; i <= 250; i++) b.append(msg(i, `t.${i % 3}`, body(i)));
      check(250); // the block being written, its last record still in the write batch
      for (let i = 251; i <= 280; i++) b.append(msg(i, `t.${i % 3}`, body(i)));
      for (let q = 251; q <= 280; q++) check(q); // appended after its detail was built
      check(1);
      check(130);
      b.remove([279]);
      assert.equal(b.load(279), undefined);
      check(280);
      // A record larger than the write batch, then small ones again.
      const big = "B".repeat(300 * 1024);
      b.append({ seq: 281, subject: "t.big", data: enc.encode(big), time: 1 });
      for (let i = 282; i <= 290; i++) b.append(msg(i, `t.${i % 3}`, body(i)));
      assert.equal(new TextDecoder().decode(b.load(281)?.data), big);
      for (let q = 282; q <= 290; q++) check(q);
    } finally {
      st.close();
    }
  });

  it("compacts segments when old messages are deleted", async () => {
    const dir = tmpDir();
    const st = await openStorage({ kind: "file", storeDir: dir });
    const b = st.openStream("S");
    const big = "y".repeat(64 * 1024);
    for (let i = 1; i <= 300; i++) b.append(msg(i, "s", big)); // ~19MB, 3 segments
    const msgs = path.join(dir, "jetstream", "$G", "streams", "S", "msgs");
    const before = fs.readdirSync(msgs).length;
    assert.ok(before >= 3);
    b.remove(Array.from({ length: 250 }, (_, i) => i + 1));
    const size = fs.readdirSync(msgs).reduce((n, f) => n + fs.statSync(path.join(msgs, f)).size, 0);
    assert.ok(size < 60 * 64 * 1024, `store still ${size} bytes`);
    st.close();
    const st2 = await openStorage({ kind: "file", storeDir: dir });
    try {
      const seqs = st2.openStream("S").scan().map((m) => m.seq);
      assert.equal(seqs.length, 50);
      assert.equal(seqs[0], 251);
      assert.equal(st2.openStream("S").load(300)?.data.length, big.length);
    } finally {
      st2.close();
    }
  });
});
