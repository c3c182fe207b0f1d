import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileStorage } from "../../adapters/storage/file_store.ts";
import { DEFAULT_STORE_GC_MB, storeGcMb, storeGcPacer, storeGcStats } from "../../adapters/storage/store_gc.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const onBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

describe("store_gc: collections paced by bytes written to file stores", () => {
  it("reads PETREL_STORE_GC_MB: default, 0 is off, anything else that is not a size stops start-up naming it", () => {
    assert.equal(storeGcMb(undefined), DEFAULT_STORE_GC_MB);
    assert.equal(storeGcMb(""), DEFAULT_STORE_GC_MB);
    assert.equal(storeGcMb("8"), 8);
    assert.equal(storeGcMb("0"), 0);
    for (const bad of ["-1", "lots", "Infinity"]) {
      assert.throws(() => storeGcMb(bad), /PETREL_STORE_GC_MB/);
    }
    assert.equal(storeGcPacer(0, 0.03, () => {}, (f) => f()), undefined);
  });

  it("collects once per budget written, on a later turn", () => {
    let runs = 0;
    const queued: Array<() => void> = [];
    const p = storeGcPacer(1, 1, () => runs++, (f) => queued.push(f));
    assert.ok(p);
    p.read(600 * 1024);
    assert.equal(queued.length, 0);
    p.read(600 * 1024);
    assert.equal(runs, 0, "never inside the write that crossed the budget");
    queued.splice(0).forEach((f) => f());
    assert.equal(runs, 1);
  });

  it("a file store's write batches drive it (Bun: a collection, Deno: a malloc_trim)", async () => {
    const before = storeGcStats();
    assert.ok(before, `on by default on ${onBun ? "Bun" : "Deno"}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-storegc-"));
    dirs.push(dir);
    const st = new FileStorage(dir, 0);
    try {
      const b = st.openStream("S");
      const data = new Uint8Array(4096);
      // Up to four budgets, a turn after every MiB (it runs on a later turn, and not sooner than the
      // time-share bound after one that other tests in this process may have caused).
      let seq = 0;
      const perMiB = 256;
      for (let mib = 0; mib < 4 * DEFAULT_STORE_GC_MB && storeGcStats()!.runs === before.runs; mib++) {
        for (let i = 0; i < perMiB; i++) b.append({ seq: ++seq, subject: "s", data, time: seq });
        await new Promise((r) => setTimeout(r, 0));
      }
      assert.ok(storeGcStats()!.runs > before.runs, "a collection after a budget of writes");
    } finally {
      st.close();
    }
  });
});
