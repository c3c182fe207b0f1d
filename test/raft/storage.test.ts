import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import type { RaftStorage } from "../../src/raft/storage.ts";
import type { Entry, Snapshot } from "../../src/raft/types.ts";
import { FileStorage } from "../../adapters/raft/file_storage.ts";
import { openSqliteStorage } from "../../adapters/raft/sqlite.ts";
import type { SqliteStorage } from "../../adapters/raft/sqlite_storage.ts";

const root = mkdtempSync(join(tmpdir(), "petrel-raft-storage-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

interface Kind {
  name: string;
  open(): Promise<{ s: RaftStorage; reopen(): Promise<RaftStorage>; crash(): Promise<RaftStorage> }>;
}

const kinds: Kind[] = [
  {
    name: "memory",
    open() {
      const s = new MemoryStorage();
      return Promise.resolve({
        s,
        reopen: () => Promise.resolve(s),
        crash: () => {
          s.crash();
          return Promise.resolve(s);
        },
      });
    },
  },
  {
    name: "file",
    open() {
      const dir = join(root, `f${++dirs}`);
      let s = new FileStorage(dir);
      return Promise.resolve({
        s,
        reopen: () => {
          s.close();
          s = new FileStorage(dir);
          return Promise.resolve(s);
        },
        crash: () => {
          s.close();
          s = new FileStorage(dir);
          return Promise.resolve(s);
        },
      });
    },
  },
  {
    name: "sqlite",
    async open() {
      const path = join(root, `s${++dirs}.db`);
      let s: SqliteStorage = await openSqliteStorage(path);
      return {
        s,
        reopen: async () => {
          s.close();
          s = await openSqliteStorage(path);
          return s;
        },
        crash: async () => {
          s.abandon();
          s.close();
          s = await openSqliteStorage(path);
          return s;
        },
      };
    },
  },
];

const e = (index: number, term: number, text = `e${index}.${term}`): Entry => ({
  index,
  term,
  kind: "cmd",
  data: new TextEncoder().encode(text),
});
const snap = (index: number, term: number): Snapshot => ({
  meta: { index, term, membership: { voters: ["a", "b", "c"], observers: ["d"] } },
  data: new TextEncoder().encode(`state@${index}`),
});
const summary = (s: RaftStorage) => {
  const st = s.load();
  return {
    hard: st.hard,
    snap: st.snapshot ? [st.snapshot.meta.index, st.snapshot.meta.term, new TextDecoder().decode(st.snapshot.data)] : null,
    entries: st.entries.map((x) => `${x.index}@${x.term}:${new TextDecoder().decode(x.data)}`),
  };
};

for (const kind of kinds) {
  describe(`raft storage conformance: ${kind.name}`, () => {
    test("starts empty", async () => {
      const { s } = await kind.open();
      assert.deepEqual(summary(s), { hard: { term: 0, vote: null }, snap: null, entries: [] });
      s.close();
    });

    test("synced term, vote and entries survive a reopen", async () => {
      const h = await kind.open();
      h.s.setHardState({ term: 3, vote: "b" });
      h.s.append([e(1, 1), e(2, 1), e(3, 3)]);
      h.s.sync();
      const s = await h.reopen();
      assert.deepEqual(summary(s), { hard: { term: 3, vote: "b" }, snap: null, entries: ["1@1:e1.1", "2@1:e2.1", "3@3:e3.3"] });
      s.close();
    });

    test("append over existing entries replaces them from the first new index", async () => {
      const h = await kind.open();
      h.s.append([e(1, 1), e(2, 1), e(3, 1), e(4, 1)]);
      h.s.sync();
      h.s.append([e(3, 2), e(4, 2, "x")]);
      h.s.append([e(4, 3)]);
      h.s.sync();
      const s = await h.reopen();
      assert.deepEqual(summary(s).entries, ["1@1:e1.1", "2@1:e2.1", "3@2:e3.2", "4@3:e4.3"]);
      s.close();
    });

    test("compact keeps later entries; install replaces the log", async () => {
      const h = await kind.open();
      h.s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
      h.s.compact(snap(2, 1));
      h.s.sync();
      let s = await h.reopen();
      assert.deepEqual(summary(s).snap, [2, 1, "state@2"]);
      assert.deepEqual(summary(s).entries, ["3@2:e3.2", "4@2:e4.2"]);
      assert.deepEqual(s.load().snapshot?.meta.membership, { voters: ["a", "b", "c"], observers: ["d"] });
      s.installSnapshot(snap(10, 5));
      s.append([e(11, 5)]);
      s.sync();
      s = await h.reopen();
      assert.deepEqual(summary(s).snap, [10, 5, "state@10"]);
      assert.deepEqual(summary(s).entries, ["11@5:e11.5"]);
      s.close();
    });

    test("a crash loses exactly what was not synced", async () => {
      const h = await kind.open();
      h.s.setHardState({ term: 2, vote: "a" });
      h.s.append([e(1, 1), e(2, 2)]);
      h.s.sync();
      h.s.setHardState({ term: 9, vote: "c" });
      h.s.append([e(2, 9), e(3, 9)]);
      h.s.compact(snap(1, 1));
      const s = await h.crash();
      assert.deepEqual(summary(s), { hard: { term: 2, vote: "a" }, snap: null, entries: ["1@1:e1.1", "2@2:e2.2"] });
      s.close();
    });

    test("conf entries keep their membership", async () => {
      const h = await kind.open();
      const conf: Entry = { index: 1, term: 1, kind: "conf", data: new Uint8Array(0), conf: { voters: ["x", "y"], observers: [] } };
      h.s.append([conf, { index: 2, term: 1, kind: "noop", data: new Uint8Array(0) }]);
      h.s.sync();
      const s = await h.reopen();
      const got = s.load().entries;
      assert.deepEqual(got.map((x) => [x.kind, x.conf]), [["conf", { voters: ["x", "y"], observers: [] }], ["noop", undefined]]);
      s.close();
    });
  });
}

test("file storage: a torn or corrupted tail is detected and cut, earlier records kept", () => {
  const dir = join(root, "torn");
  const s = new FileStorage(dir);
  s.append([e(1, 1), e(2, 1)]);
  s.sync();
  s.append([e(3, 1)]);
  s.sync();
  s.close();
  const path = join(dir, "log");
  const bytes = new Uint8Array(readFileSync(path));
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(path, bytes);
  const r = new FileStorage(dir);
  assert.ok(r.info.discardedBytes > 0);
  assert.deepEqual(r.load().entries.map((x) => x.index), [1, 2]);
  r.append([e(3, 2)]);
  r.sync();
  r.close();
  const again = new FileStorage(dir);
  assert.equal(again.info.discardedBytes, 0);
  assert.deepEqual(again.load().entries.map((x) => `${x.index}@${x.term}`), ["1@1", "2@1", "3@2"]);
  again.close();
});

test("file storage, asyncCompaction: the log keeps its entries until the snapshot file is durable, then the record follows", async () => {
  const dir = join(root, "async");
  const s = new FileStorage(dir, "always", { asyncCompaction: true });
  s.append([e(1, 1), e(2, 1), e(3, 1), e(4, 2)]);
  s.sync();
  s.compact(snap(2, 1));
  s.compact(snap(3, 1)); // asked while the first is written: written next
  // In memory the compaction is done at once (what the node sees) ...
  assert.deepEqual(summary(s).snap, [3, 1, "state@3"]);
  assert.deepEqual(summary(s).entries, ["4@2:e4.2"]);
  s.sync();
  // ... on disk nothing points at a snapshot file yet: a crash now restarts from the whole log.
  cpSync(dir, dir + "-early", { recursive: true });
  const early = new FileStorage(dir + "-early");
  assert.deepEqual(summary(early), { hard: { term: 0, vote: null }, snap: null, entries: ["1@1:e1.1", "2@1:e2.1", "3@1:e3.1", "4@2:e4.2"] });
  early.close();
  await s.whenCompacted();
  s.sync();
  s.close();
  const r = new FileStorage(dir);
  assert.deepEqual(summary(r).snap, [3, 1, "state@3"]);
  assert.deepEqual(summary(r).entries, ["4@2:e4.2"]);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith("snap-")), ["snap-0000000000000003.bin"]);
  r.close();
});

test("file storage keeps no entries in memory: load() reads them back, a rewrite copies the live records", () => {
  const dir = join(root, "rewrite");
  // Any dead record: each sync() after a compaction rewrites the file.
  const s = new FileStorage(dir, "always", { rewriteAfter: 1 });
  const size = () => statSync(join(dir, "log")).size;
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  s.append([e(4, 1), e(5, 1), e(6, 1)]);
  s.append([e(5, 2), e(6, 2, "x")]); // replaces 5 and 6 of the record before
  s.append([e(7, 2), e(8, 2)]);
  s.sync();
  assert.deepEqual(summary(s).entries, ["1@1:e1.1", "2@1:e2.1", "3@1:e3.1", "4@1:e4.1", "5@2:e5.2", "6@2:x", "7@2:e7.2", "8@2:e8.2"]);
  const before = size();
  s.compact(snap(3, 1));
  s.sync(); // rewrite: the record of 4-6 (4 live), the one of 5-6 and the one of 7-8 are copied
  assert.ok(size() < before, `rewritten: ${size()} < ${before}`);
  const live = ["4@1:e4.1", "5@2:e5.2", "6@2:x", "7@2:e7.2", "8@2:e8.2"];
  assert.deepEqual(summary(s).entries, live);
  s.append([e(9, 2)]);
  s.compact(snap(5, 2)); // inside a copied record (4-6 / 5-6): its earlier entries stay dropped after a reopen
  s.sync();
  s.append([e(10, 3)]);
  s.sync();
  assert.deepEqual(summary(s).entries, ["6@2:x", "7@2:e7.2", "8@2:e8.2", "9@2:e9.2", "10@3:e10.3"]);
  s.close();
  const r = new FileStorage(dir);
  assert.deepEqual(summary(r), {
    hard: { term: 0, vote: null },
    snap: [5, 2, "state@5"],
    entries: ["6@2:x", "7@2:e7.2", "8@2:e8.2", "9@2:e9.2", "10@3:e10.3"],
  });
  r.close();
});
