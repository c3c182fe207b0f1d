import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isInteger, parseGoDuration, parseListen, schemeLength, toBytes, toDurationMs, urlCredentials } from "../../src/config/units.ts";
import { isYamlFile } from "../../src/config/load.ts";

describe("units", () => {
  it("parses Go durations to milliseconds", () => {
    assert.equal(parseGoDuration("2s"), 2000);
    assert.equal(parseGoDuration("2m"), 120_000);
    assert.equal(parseGoDuration("1h30m"), 5_400_000);
    assert.equal(parseGoDuration("500ms"), 500);
    assert.equal(parseGoDuration("1.5s"), 1500);
    assert.equal(parseGoDuration("250us"), 0.25);
    assert.equal(parseGoDuration("0"), 0);
    assert.equal(parseGoDuration("-1s"), -1000);
    for (const bad of ["", "2", "abc", "2x", "s", "1h 30m"]) assert.equal(parseGoDuration(bad), undefined, bad);
  });

  it("reads numbers as seconds for durations", () => {
    assert.equal(toDurationMs(5), 5000);
    assert.equal(toDurationMs(0.5), 500);
    assert.equal(toDurationMs("10"), 10_000);
    assert.equal(toDurationMs("10s"), 10_000);
    assert.equal(toDurationMs(true), undefined);
  });

  it("converts sizes", () => {
    assert.equal(toBytes(1024), 1024);
    assert.equal(toBytes("1MB"), 1048576);
    assert.equal(toBytes("1K"), 1000);
    assert.equal(toBytes("512"), 512);
    assert.equal(toBytes("abc"), undefined);
    assert.equal(toBytes(1.5), undefined);
  });

  it("parses listen values", () => {
    assert.deepEqual(parseListen("127.0.0.1:4222"), { host: "127.0.0.1", port: 4222 });
    assert.deepEqual(parseListen("0.0.0.0:-1"), { host: "0.0.0.0", port: -1 });
    assert.deepEqual(parseListen(":4222"), { port: 4222 });
    assert.deepEqual(parseListen(4222), { port: 4222 });
    assert.deepEqual(parseListen("4222"), { port: 4222 });
    assert.deepEqual(parseListen("localhost"), { host: "localhost" });
    assert.deepEqual(parseListen("[::1]:4222"), { host: "::1", port: 4222 });
    assert.deepEqual(parseListen("nats://user:pw@10.0.0.1:6222"), { host: "10.0.0.1", port: 6222 });
    assert.equal(parseListen("host:abc"), undefined);
    assert.equal(parseListen("host:70000"), undefined);
    assert.equal(parseListen(""), undefined);
    assert.equal(parseListen(true), undefined);
  });

  it("extracts URL credentials", () => {
    assert.deepEqual(urlCredentials("nats://ruser:T0p%21@127.0.0.1:6222"), { user: "ruser", password: "T0p!" });
    assert.deepEqual(urlCredentials("nats://127.0.0.1:6222"), {});
  });
});

describe("units: the config path's literals are scanned by hand, as the regular expressions they replace", () => {
  // No regular expression on a plain start's config path: on Deno the first one pages in V8's regex compiler for
  // the life of the process (bench/RESULTS.md "rss16"). Each scan must answer exactly as its expression did.
  const chars = fc.constantFrom(..."0123456789-+.:/@aAyYmMlLzZ_ \u212a\u017f\u0130é".split(""));
  const text = fc.oneof(fc.string({ unit: chars, maxLength: 12 }), fc.string({ maxLength: 8 }));
  it("isInteger is /^-?\\d+$/", () => {
    fc.assert(fc.property(text, (s) => isInteger(s) === /^-?\d+$/.test(s)), { numRuns: 3000 });
    for (const s of ["0", "-0", "4222", "-1", "007"]) assert.equal(isInteger(s), true, s);
    for (const s of ["", "-", "--1", "1-", "+1", "1.0", " 1", "1e3", "\u0661"]) assert.equal(isInteger(s), false, s);
  });
  it("schemeLength is the length of /^[a-z][a-z0-9+.-]*:\\/\\//i's match", () => {
    const re = /^[a-z][a-z0-9+.-]*:\/\//i;
    fc.assert(fc.property(text, (s) => schemeLength(s) === (re.exec(s)?.[0].length ?? 0)), { numRuns: 3000 });
    assert.equal(schemeLength("nats-route://h:1"), 13);
    assert.equal(schemeLength("Nats+X.1://"), 11);
    for (const s of ["1nats://", "://", "nats:/", "nats", "n ats://"]) assert.equal(schemeLength(s), 0, s);
  });
  it("isYamlFile is /\\.ya?ml$/i", () => {
    fc.assert(fc.property(text, (s) => isYamlFile(s) === /\.ya?ml$/i.test(s)), { numRuns: 3000 });
    for (const s of ["a.yml", "a.YAML", ".yaml", "x.conf.Yml"]) assert.equal(isYamlFile(s), true, s);
    for (const s of ["a.yaml.conf", "ayml", "a.yal", "yml", "a.y@ml", "a.ya\u212aml"]) assert.equal(isYamlFile(s), false, s);
  });
});
