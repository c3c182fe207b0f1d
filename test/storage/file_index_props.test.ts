// Property test of the stores' own indexes (the file store's per-block summaries in memory with detail read
// from disk into a bounded cache; the SQLite store's queries): a stream on each, with tiny file segments so
// there are many blocks and the cache evicts, holds the same state and answers every query the same as a
// stream on the in-memory index, through random publishes,
// sequence gaps, deletes, purges, limits, Nats-Msg-Id duplicates and reopens (clean close, and a crash that
// loses the summary).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { Stream } from "../../src/jetstream/stream.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { encodeHeaders } from "../../src/protocol/headers.ts";
import { FileStorage } from "../../adapters/storage/file_store.ts";
import { SqliteStorage } from "../../adapters/storage/sqlite_store.ts";
import { sqliteDriver } from "../../adapters/sqlite/open.ts";
import type { StorageProvider } from "../../src/jetstream/store/types.ts";

const SUBJECTS = ["s.a", "s.b", "s.c.1", "s.c.2", "s.d"];
const FILTERS = ["s.a", "s.c.*", "s.>", "s.*", "s.zz"];

type Op =
  | { k: "pub"; subj: number; hdr: number; len: number }
  | { k: "gap"; by: number; subj: number }
  | { k: "del"; at: number }
  | { k: "purge"; filter: number; keep: number; seq: number }
  | { k: "reopen"; crash: number }
  | { k: "sync" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant("pub" as const), subj: fc.nat(4), hdr: fc.nat(3), len: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("gap" as const), by: fc.integer({ min: 2, max: 3000 }), subj: fc.nat(4) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("del" as const), at: fc.nat(1000) }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("purge" as const), filter: fc.nat(5), keep: fc.nat(3), seq: fc.nat(60) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("reopen" as const), crash: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("sync" as const) }) },
);

const enc = new TextEncoder();

function compare(f: Stream, m: Stream, probe: number): void {
  assert.deepEqual(f.state(), m.state());
  const all = (s: Stream) => {
    const out: Array<[number, string, number, number]> = [];
    s.index.forEach(0, (seq, subj, size, time) => void out.push([seq, subj, size, time]));
    return out;
  };
  const fa = all(f);
  assert.deepEqual(fa, all(m));
  const back = (s: Stream) => {
    const out: number[] = [];
    s.index.forEachBack(probe, (seq) => void out.push(seq));
    return out;
  };
  assert.deepEqual(back(f), back(m));
  assert.deepEqual([...f.index.subjects()].sort(), [...m.index.subjects()].sort());
  const last = m.lastSequence + 2;
  for (const from of [0, 1, probe, probe + 1, last]) {
    assert.equal(f.index.ceil(from), m.index.ceil(from), `ceil ${from}`);
    assert.equal(f.index.countFrom(from), m.index.countFrom(from), `countFrom ${from}`);
    for (const subj of SUBJECTS) {
      assert.equal(f.index.subjectCeil(subj, from), m.index.subjectCeil(subj, from), `subjectCeil ${subj} ${from}`);
      assert.equal(f.index.subjectCountFrom(subj, from), m.index.subjectCountFrom(subj, from), `subjectCountFrom ${subj} ${from}`);
    }
    for (const flt of FILTERS) {
      assert.equal(f.nextMatching(from, [flt]), m.nextMatching(from, [flt]), `nextMatching ${flt} ${from}`);
      assert.equal(f.countFrom(from, [flt]), m.countFrom(from, [flt]), `countFrom ${flt} ${from}`);
    }
  }
  for (const subj of SUBJECTS) {
    assert.equal(f.index.subjectCount(subj), m.index.subjectCount(subj));
    assert.equal(f.index.subjectFirst(subj), m.index.subjectFirst(subj));
    assert.equal(f.index.subjectLast(subj), m.index.subjectLast(subj));
  }
  for (const flt of FILTERS) {
    assert.equal(f.lastBySubject(flt), m.lastBySubject(flt));
    assert.deepEqual(f.lastPerSubject([flt]), m.lastPerSubject([flt]));
  }
  for (let q = Math.max(0, probe - 5); q <= probe + 5; q++) {
    assert.equal(f.has(q), m.has(q), `has ${q}`);
    assert.equal(f.subjectOf(q), m.subjectOf(q));
    assert.equal(f.index.sizeOf(q), m.index.sizeOf(q));
    assert.equal(f.index.timeOf(q), m.index.timeOf(q));
    const a = f.load(q);
    const b = m.load(q);
    assert.deepEqual(a && { ...a, data: [...a.data] }, b && { ...b, data: [...b.data] });
  }
}

const openSqlite = await sqliteDriver();

for (const kind of ["file", "sqlite"] as const) describe(`${kind} store index (property)`, () => {
  it("behaves as the in-memory index through random operations and reopens", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-fidx-"));
    let run = 0;
    try {
      fc.assert(
        fc.property(
          fc.array(op, { minLength: 1, maxLength: 120 }),
          fc.record({ perSubject: fc.constantFrom(0, 0, 3), maxMsgs: fc.constantFrom(0, 0, 40) }),
          fc.nat(200),
          (ops, lim, probe) => {
            const dir = path.join(root, String(run++));
            const cfg = streamConfigSchema.parse({
              name: "S",
              subjects: ["s.>"],
              storage: "file",
              max_msgs_per_subject: lim.perSubject,
              max_msgs: lim.maxMsgs,
              duplicate_window: 1e9,
            });
            let t = 1_000;
            const now = () => t;
            const created = new Date(0).toISOString();
            let storage: StorageProvider | undefined;
            const openFile = () => {
              if (kind === "sqlite") {
                fs.mkdirSync(dir, { recursive: true });
                storage = new SqliteStorage(openSqlite(path.join(dir, "s.sqlite")), 60_000);
              } else storage = new FileStorage(dir, 60_000, "$G", 700);
              return new Stream(cfg, created, storage, now);
            };
            // The SQLite store is one database for every stream: its storage is closed with the stream.
            const closeFile = (s: Stream) => {
              s.close();
              if (kind === "sqlite") storage?.close();
            };
            let f = openFile();
            let ids = 0;
            const idSeq = new Map<number, number>();
            const m = new Stream(cfg, created, new MemoryStorage(), now);
            try {
              for (const o of ops) {
                t += 3;
                if (o.k === "pub") {
                  // Some carry a Nats-Msg-Id; some repeat the newest one still stored (a duplicate, also after a
                  // reopen: the window is rebuilt from stored messages, so a deleted one's id is forgotten).
                  let h: Uint8Array | undefined;
                  if (o.hdr === 1) h = encodeHeaders([["X", "y"]]);
                  else if (o.hdr === 2) h = encodeHeaders([["Nats-Msg-Id", `id-${++ids}`]]);
                  else if (o.hdr === 3 && idSeq.has(ids) && m.has(idSeq.get(ids)!)) {
                    h = encodeHeaders([["Nats-Msg-Id", `id-${ids}`]]);
                  }
                  const data = enc.encode("x".repeat(o.len));
                  const r = m.publish(SUBJECTS[o.subj], h, data);
                  assert.deepEqual(f.publish(SUBJECTS[o.subj], h, data), r);
                  if (o.hdr === 2 && "seq" in r) idSeq.set(ids, r.seq);
                } else if (o.k === "gap") {
                  const e = {
                    op: "msg" as const,
                    seq: m.lastSequence + o.by,
                    ts: t,
                    subject: SUBJECTS[o.subj],
                    headers: undefined,
                    data: enc.encode("g"),
                    restored: true,
                  };
                  assert.deepEqual(f.apply(e), m.apply(e));
                } else if (o.k === "del") {
                  const first = m.firstSequence;
                  const seq = first + (o.at % Math.max(1, m.lastSequence - first + 1));
                  assert.equal(f.deleteMsg(seq), m.deleteMsg(seq));
                } else if (o.k === "purge") {
                  const req = {
                    filter: o.filter < FILTERS.length ? FILTERS[o.filter] : undefined,
                    keep: o.keep > 0 && o.seq % 2 === 0 ? o.keep : undefined,
                    seq: o.seq % 2 === 1 ? m.firstSequence + o.seq : undefined,
                  };
                  assert.equal(f.purge(req), m.purge(req));
                } else if (o.k === "sync") {
                  // The file store writes its summary on every sync: a crash later replays only what follows.
                  storage?.sync();
                } else {
                  if (o.crash > 0 && kind === "file") {
                    // A crash: the segments stay as written, no summary is written at close. Opening starts
                    // from the last summary (of a sync or close) and replays what came after it, or, without
                    // one, rebuilds from the segments.
                    f.flush();
                    if (o.crash === 2) fs.rmSync(path.join(dir, "jetstream", "$G", "streams", "S", "msgs", "index.json"), { force: true });
                    f = openFile();
                  } else {
                    closeFile(f);
                    f = openFile();
                  }
                }
                assert.deepEqual(f.state(), m.state());
              }
              compare(f, m, probe);
              closeFile(f);
              f = openFile();
              compare(f, m, probe);
            } finally {
              closeFile(f);
              m.close();
              fs.rmSync(dir, { recursive: true, force: true });
            }
          },
        ),
        { numRuns: Number(process.env.FILE_INDEX_RUNS ?? (kind === "sqlite" ? 30 : 60)) },
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("file store segments read in chunks", () => {
  it("rebuilds and caches a segment larger than the read chunk, records across chunk boundaries", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-fchunk-"));
    try {
      const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], storage: "file" });
      let t = 1_000;
      const now = () => t;
      const open = () => new Stream(cfg, "x", new FileStorage(dir, 60_000), now);
      const f = open();
      const m = new Stream(cfg, "x", new MemoryStorage(), now);
      // ~1.6 MB in one segment; one message bigger than a chunk.
      for (let i = 1; i <= 3000; i++) {
        t++;
        const len = i === 1500 ? 300_000 : (i * 7919) % 1000;
        const data = enc.encode("y".repeat(len));
        assert.deepEqual(f.publish(SUBJECTS[i % 5], undefined, data), m.publish(SUBJECTS[i % 5], undefined, data));
      }
      for (const seq of [1, 2, 777, 1500, 2999]) f.deleteMsg(seq), m.deleteMsg(seq);
      f.flush();
      // A crash (no summary): rebuilt from the segment, read in chunks.
      const g = open();
      compare(g, m, 1500);
      compare(g, m, 2500);
      g.close();
      f.close();
      m.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("file store index with many subjects", () => {
  it("finds and counts filtered messages far apart and across many subjects as the in-memory index does", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-fmany-"));
    try {
      const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], storage: "file" });
      const now = () => 1;
      const f = new Stream(cfg, "x", new FileStorage(dir, 60_000, "$G", 4096), now);
      const m = new Stream(cfg, "x", new MemoryStorage(), now);
      const pub = (subj: string) => assert.deepEqual(f.publish(subj, undefined, enc.encode(subj)), m.publish(subj, undefined, enc.encode(subj)));
      for (let i = 0; i < 300; i++) pub("s.a.x");
      for (let i = 0; i < 700; i++) pub(`s.m.${i % 40}`);
      pub("s.z.1");
      for (let i = 0; i < 300; i++) pub(`s.m.${i % 40}`);
      pub("s.z.2");
      for (const seq of [5, 6, 701, 400, 1001]) assert.equal(f.deleteMsg(seq), m.deleteMsg(seq));
      const filters = [["s.z.*"], ["s.z.*", "s.q.*"], ["s.m.*"], ["s.m.1", "s.z.>"], ["s.q.*"], ["s.*.3"], [">"]];
      for (const flt of filters) {
        for (const from of [0, 1, 7, 300, 650, 701, 702, 900, 1001, 1002, 1003, 1301, 1302, 1303]) {
          assert.equal(f.nextMatching(from, flt), m.nextMatching(from, flt), `nextMatching ${flt} ${from}`);
          assert.equal(f.countFrom(from, flt), m.countFrom(from, flt), `countFrom ${flt} ${from}`);
        }
      }
      f.close();
      m.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
