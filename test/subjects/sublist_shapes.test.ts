// Every sublist match result, and every list in one, has one hidden class on V8 (sublist.ts): the publish path's
// readers of a result (Account.interestIn, the client's #publish, the router) are compiled for the classes they have
// seen, and a result of another class throws that code away (a "wrong map" deopt, seen inside a sync-publish run on
// Deno when a frozen empty result came). Checked with V8's own %HaveSameMap in a Deno child (natives syntax), on
// both runtimes: the property is V8's, the code is shared.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { petrelCommand } from "../helpers/servers.ts";

const SUBLIST = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "subjects", "sublist.ts")).href;

const PROBE = `
const { Sublist } = await import(${JSON.stringify(SUBLIST)});
const sl = new Sublist();
const sub = (subject, queue) => ({ subject, queue, sid: subject });
for (const s of [sub("one"), sub("a.b"), sub("a.*"), sub("q.x", "g"), sub("m.x"), sub("m.*", "g")]) sl.insert(s);
const kinds = { none: sl.match("nobody"), single: sl.match("one"), two: sl.match("a.b"), queue: sl.match("q.x"), mixed: sl.match("m.x") };
const ref = kinds.single;
const out = {};
for (const [k, r] of Object.entries(kinds)) {
  out[k] = [%HaveSameMap(r, ref), %HaveSameMap(r.psubs, ref.psubs), %HaveSameMap(r.qsubs, kinds.queue.qsubs)];
}
console.log(JSON.stringify(out));
`;

describe("sublist match results on V8", () => {
  it("share one hidden class, and so do their lists, empty or not", () => {
    const { cmd } = petrelCommand("deno");
    const r = spawnSync(cmd, ["eval", "--ext=js", "--v8-flags=--allow-natives-syntax", PROBE], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, boolean[]>;
    assert.deepEqual(Object.keys(out), ["none", "single", "two", "queue", "mixed"]);
    for (const [kind, [result, psubs, qsubs]] of Object.entries(out)) {
      assert.equal(result, true, `${kind}: the result's class`);
      assert.equal(psubs, true, `${kind}: psubs' class`);
      assert.equal(qsubs, true, `${kind}: qsubs' class`);
    }
  });
});
