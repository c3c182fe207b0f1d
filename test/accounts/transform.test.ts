// Import subject transforms: wildcards in order, $n / {{wildcard(n)}}, ">" for the rest, prefixes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileTransform, prefixTransform } from "../../src/accounts/transform.ts";
import { exportFor } from "../../src/accounts/imports.ts";

describe("import transforms", () => {
  it("maps wildcards in order, by number, and the rest", () => {
    assert.equal(compileTransform("a.*.b.*", "x.*.*")("a.1.b.2"), "x.1.2");
    assert.equal(compileTransform("a.*.b.*", "x.$2.{{wildcard(1)}}")("a.1.b.2"), "x.2.1");
    assert.equal(compileTransform("feed.>", "in.>")("feed.a.b"), "in.a.b");
    assert.equal(compileTransform("svc.echo", "svc.echo")("svc.echo"), "svc.echo");
    assert.equal(compileTransform("echo", "svc.echo")("echo"), "svc.echo");
    assert.equal(prefixTransform("fromA")("feed.x"), "fromA.feed.x");
  });

  it("refuses a destination naming a wildcard the source lacks", () => {
    assert.throws(() => compileTransform("a.*", "x.$2"), /invariant/);
    assert.throws(() => compileTransform("a.*", "x.>"), /invariant/);
  });

  it("finds the export that allows an import, public or listing the importer", () => {
    const exports = [{ stream: "feed.>" }, { service: "svc.*", accounts: ["B"] }];
    assert.equal(exportFor(exports, "stream", "feed.a", "C"), exports[0]);
    assert.equal(exportFor(exports, "service", "svc.x", "B"), exports[1]);
    assert.equal(exportFor(exports, "service", "svc.x", "C"), undefined);
    assert.equal(exportFor(exports, "stream", "svc.x", "B"), undefined);
  });
});
