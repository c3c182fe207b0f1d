import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseGoDuration, parseListen, toBytes, toDurationMs, urlCredentials } from "../../src/config/units.ts";

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
