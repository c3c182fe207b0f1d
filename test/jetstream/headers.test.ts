import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  appendHeaderLines,
  appendHeaders,
  encodeHeaders,
  findHeader,
  headerStatus,
  headerValue,
  parseHeaders,
  withoutHeaders,
} from "../../src/protocol/headers.ts";

const dec = new TextDecoder();

describe("headers", () => {
  it("encodes plain and status blocks", () => {
    assert.equal(dec.decode(encodeHeaders([["A", "1"], ["B", "x y"]])), "NATS/1.0\r\nA: 1\r\nB: x y\r\n\r\n");
    assert.equal(dec.decode(encodeHeaders([], 404, "No Messages")), "NATS/1.0 404 No Messages\r\n\r\n");
    assert.equal(dec.decode(encodeHeaders([], 100)), "NATS/1.0 100\r\n\r\n");
  });
  it("parses what it encodes", () => {
    const b = parseHeaders(encodeHeaders([["Nats-Msg-Id", "abc"], ["K", "v1"], ["K", "v2"]], 409, "Consumer Deleted"));
    assert.notEqual(typeof b, "string");
    if (typeof b === "string") return;
    assert.equal(b.code, 409);
    assert.equal(b.description, "Consumer Deleted");
    assert.equal(b.entries.length, 3);
    assert.equal(headerValue(b, "nats-msg-id"), "abc");
  });
  it("rejects malformed blocks", () => {
    assert.equal(typeof parseHeaders(new TextEncoder().encode("HTTP/1.1\r\n\r\n")), "string");
    assert.equal(typeof parseHeaders(new TextEncoder().encode("NATS/1.0\r\nnocolon\r\n\r\n")), "string");
    assert.equal(typeof parseHeaders(new TextEncoder().encode("NATS/1.0 abc\r\n\r\n")), "string");
  });
  it("finds headers on bytes case-insensitively", () => {
    const h = encodeHeaders([["Nats-Expected-Stream", "S"], ["nats-msg-id", " x1 "]]);
    assert.equal(findHeader(h, "Nats-Msg-Id"), "x1");
    assert.equal(findHeader(h, "Nats-Expected-Stream"), "S");
    assert.equal(findHeader(h, "Nats-Expected"), undefined);
    assert.equal(findHeader(h, "Missing"), undefined);
    assert.equal(headerStatus(encodeHeaders([], 503)), 503);
    assert.equal(headerStatus(h), 0);
  });
  it("drops and appends headers", () => {
    const h = encodeHeaders([["A", "1"], ["B", "2"]]);
    assert.equal(dec.decode(withoutHeaders(h, ["a"]) ?? new Uint8Array()), "NATS/1.0\r\nB: 2\r\n\r\n");
    assert.equal(withoutHeaders(h, ["A", "B"]), undefined);
    assert.equal(dec.decode(appendHeaders(undefined, [["C", "3"]])), "NATS/1.0\r\nC: 3\r\n\r\n");
    assert.equal(dec.decode(appendHeaders(h, [["C", "3"]])), "NATS/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    assert.equal(dec.decode(appendHeaderLines(h, [["C", "3"]])), "NATS/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    assert.equal(dec.decode(appendHeaderLines(undefined, [["C", "3"]])), "NATS/1.0\r\nC: 3\r\n\r\n");
  });
});
