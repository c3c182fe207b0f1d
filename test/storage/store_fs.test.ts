import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dirName, joinPath, storeFs, tmpDir } from "../../adapters/storage/store_fs.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("store_fs: the storage layer's file calls without node:fs on Deno", () => {
  it("joins and splits paths as node:path does", () => {
    const segs = ["", ".", "..", "/", "a", "b/", "/c", "d//e", "./f", "../g", "h/..", "i/./j", "/..", "k/../..", "//", "l/"];
    for (const a of segs) {
      for (const b of segs) {
        for (const c of ["", "x", "../y", "z/"]) assert.equal(joinPath(a, b, c), path.join(a, b, c), JSON.stringify([a, b, c]));
      }
      assert.equal(dirName(a), path.dirname(a), JSON.stringify(a));
    }
    for (const p of ["/a/b", "/a/b/", "a/b//", "///a", "//a//b//", "streams/S/meta/x.json"]) assert.equal(dirName(p), path.dirname(p));
    assert.equal(tmpDir(), os.tmpdir());
  });

  it("reads at offsets, appends, truncates, syncs and lists as node:fs does", async () => {
    const sfs = storeFs();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-storefs-"));
    dirs.push(dir);
    const f = joinPath(dir, "sub", "a.blk");
    sfs.mkdirSync(dirName(f), { recursive: true });
    const fd = sfs.openSync(f, "a+");
    const data = new TextEncoder().encode("0123456789");
    assert.equal(sfs.writeSync(fd, data, 2, 5), 5); // "23456"
    assert.equal(sfs.writeSync(fd, data), 10);
    const buf = new Uint8Array(8);
    assert.equal(sfs.readSync(fd, buf, 1, 6, 3), 6, "a read at an offset, into an offset");
    assert.equal(new TextDecoder().decode(buf.subarray(1, 7)), "560123");
    assert.equal(sfs.writeSync(fd, data, 0, 1), 1, "appends after a read moved the position");
    assert.equal(sfs.fstatSync(fd).size, 16);
    assert.equal(sfs.readSync(fd, buf, 0, 8, 12), 4, "short at the end of the file");
    assert.equal(new TextDecoder().decode(buf.subarray(0, 4)), "7890");
    sfs.fsyncSync(fd);
    await new Promise<void>((resolve, reject) => sfs.fsync(fd, (err) => (err ? reject(err) : resolve())));
    sfs.closeSync(fd);
    assert.equal(fs.readFileSync(f, "utf8"), "2345601234567890");
    sfs.truncateSync(f, 4);
    assert.equal(sfs.statSync(f).size, 4);
    assert.ok(sfs.statSync(dirName(f)).isDirectory());
    sfs.writeFileSync(f + ".tmp", "meta");
    sfs.renameSync(f + ".tmp", joinPath(dir, "sub", "m.json"));
    assert.equal(sfs.readFileSync(joinPath(dir, "sub", "m.json"), "utf8"), "meta");
    assert.deepEqual(sfs.readdirSync(joinPath(dir, "sub")).sort(), ["a.blk", "m.json"]);
    assert.equal(sfs.existsSync(joinPath(dir, "nope")), false);
    assert.throws(() => sfs.readFileSync(joinPath(dir, "nope"), "utf8"), (e: { code?: string }) => e.code === "ENOENT");
    sfs.rmSync(joinPath(dir, "nope"), { force: true });
    sfs.rmSync(joinPath(dir, "sub"), { recursive: true, force: true });
    assert.equal(sfs.existsSync(joinPath(dir, "sub")), false);
    // A handle closed meanwhile (a segment rewritten under a background sync): the callback gets the error.
    const err = await new Promise<Error | null>((resolve) => sfs.fsync(fd, resolve));
    assert.ok(err !== null);
  });

  it("writes a buffer's range as it is at each call, the same range again or another buffer's", () => {
    const sfs = storeFs();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-storefs-"));
    dirs.push(dir);
    const f = joinPath(dir, "b.blk");
    const fd = sfs.openSync(f, "a+");
    const a = new TextEncoder().encode("abcdef");
    const b = new TextEncoder().encode("uvwxyz");
    assert.equal(sfs.writeSync(fd, a, 1, 3), 3); // "bcd"
    a.set(new TextEncoder().encode("BCD"), 1);
    assert.equal(sfs.writeSync(fd, a, 1, 3), 3, "the same range, rewritten in place"); // "BCD"
    assert.equal(sfs.writeSync(fd, b, 1, 3), 3, "the same range of another buffer"); // "vwx"
    assert.equal(sfs.writeSync(fd, a, 2, 3), 3, "another offset"); // "CDe"
    assert.equal(sfs.writeSync(fd, a, 2, 2), 2, "another length"); // "CD"
    assert.equal(sfs.writeSync(fd, a, 0, 6), 6, "the whole buffer"); // "aBCDef"
    const big = new Uint8Array(600 * 1024).fill(0x2e);
    big.set(new TextEncoder().encode("pq"), 3);
    assert.equal(sfs.writeSync(fd, big, 2, 3), 3, "a large buffer's range"); // ".pq"
    big[3] = 0x50;
    assert.equal(sfs.writeSync(fd, big, 2, 3), 3, "again, rewritten"); // ".Pq"
    sfs.closeSync(fd);
    assert.equal(fs.readFileSync(f, "utf8"), "bcdBCDvwxCDeCDaBCDef.pq.Pq");
  });
});
