import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConnect } from "../../src/server/connect.ts";
import { randomServerId, randomToken } from "../../src/server/ids.ts";

describe("parseConnect", () => {
  it("accepts the fields clients send and keeps unknown ones", () => {
    const c = parseConnect(JSON.stringify({
      verbose: false,
      pedantic: false,
      echo: false,
      headers: true,
      no_responders: true,
      user: "u",
      pass: "p",
      auth_token: "t",
      name: "n",
      lang: "nats.js",
      version: "3.0.0",
      protocol: 1,
      tls_required: false,
      extra_field: 42,
    }));
    assert.ok(c !== undefined);
    assert.equal(c.verbose, false);
    assert.equal(c.headers, true);
    assert.equal(c.protocol, 1);
    assert.equal(c.lang, "nats.js");
    assert.equal((c as Record<string, unknown>).extra_field, 42);
  });
  it("empty object is fine; fields are optional", () => {
    assert.deepEqual(parseConnect("{}"), {});
  });
  it("rejects bad JSON, non-objects and wrongly typed fields", () => {
    assert.equal(parseConnect("{"), undefined);
    assert.equal(parseConnect(""), undefined);
    assert.equal(parseConnect("[]"), undefined);
    assert.equal(parseConnect("42"), undefined);
    assert.equal(parseConnect("null"), undefined);
    assert.equal(parseConnect(`{"verbose":"yes"}`), undefined);
    assert.equal(parseConnect(`{"protocol":"1"}`), undefined);
  });
});

describe("ids", () => {
  it("server ids look like nkey public server keys: 56 base32 chars starting with N", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const id = randomServerId();
      assert.match(id, /^N[A-Z2-7]{55}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 50);
  });
  it("random tokens: requested length, alphanumeric, distinct", () => {
    assert.match(randomToken(), /^[0-9A-Za-z]{22}$/);
    assert.match(randomToken(8), /^[0-9A-Za-z]{8}$/);
    assert.notEqual(randomToken(), randomToken());
  });
});
