/**
 * vendor/zod_lite.js (what Deno loads for "zod", through deno.json "imports") is the installed zod, built by
 * vendor/build_zod_lite.ts and left untouched: rebuilding it from node_modules gives the same bytes. After a zod
 * upgrade this fails until `npm run build:zod-lite` is run.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";

const root = join(dirname(new URL(import.meta.url).pathname), "..", "..");
const read = (p: string) => readFileSync(join(root, p), "utf8");

describe("vendor/zod_lite", () => {
  it("names the installed zod version", () => {
    const { version } = JSON.parse(read("node_modules/zod/package.json")) as { version: string };
    assert.match(read("vendor/zod_lite.js"), new RegExp(`^// @ts-self-types="./zod_lite.d.ts"\\n// zod ${version.replaceAll(".", "\\.")},`));
  });

  it("is what the build script makes from the installed zod", () => {
    const dir = mkdtempSync(join(tmpdir(), "zod-lite-"));
    try {
      execFileSync(join(root, "node_modules/.bin/bun"), [join(root, "vendor/build_zod_lite.ts"), dir], { stdio: "pipe" });
      for (const f of ["zod_lite.js", "zod_lite.d.ts"]) {
        assert.equal(readFileSync(join(dir, f), "utf8"), read(`vendor/${f}`), `vendor/${f}: run npm run build:zod-lite`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is the zod Deno loads (English only); Bun loads the installed one", () => {
    const locales = Object.keys(z.locales);
    if ("Deno" in globalThis) assert.deepEqual(locales, ["en"]);
    else assert.ok(locales.length > 10, `${locales.length} locales`);
    const r = z.object({ port: z.number() }).strict().safeParse({ port: "x", extra: 1 });
    assert.equal(r.success, false);
    if (!r.success) assert.deepEqual(r.error.issues.map((i) => i.message), ["Invalid input: expected number, received string", 'Unrecognized key: "extra"']);
  });
});
