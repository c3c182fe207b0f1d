import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Args,
  argString,
  bytesToString,
  OP,
  type OpCode,
  type ParseError,
  Parser,
  type ParserMode,
  parseSize,
} from "../../src/protocol/parser.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Event {
  op: OpCode | "error";
  args: string[];
  payload?: string;
  hdr?: number;
  error?: ParseError["kind"];
}

/** A parser whose handler copies everything it is given (views are valid only during the callback). */
function recorder(mode: ParserMode, limits = { maxControlLine: 4096, maxPayload: 1 << 20 }): { parser: Parser; events: Event[] } {
  const events: Event[] = [];
  const argsOf = (a: Args) => Array.from({ length: a.count }, (_, i) => argString(a, i));
  const parser = new Parser(mode, {
    onControl(op, args) {
      events.push({ op, args: argsOf(args) });
    },
    onMessage(op, args, payload, hdr) {
      events.push({ op, args: argsOf(args), payload: dec.decode(payload), hdr });
    },
    onError(err) {
      events.push({ op: "error", args: [], error: err.kind });
    },
  }, limits);
  return { parser, events };
}

function parse(mode: ParserMode, input: string | string[], limits?: { maxControlLine: number; maxPayload: number }): Event[] {
  const { parser, events } = recorder(mode, limits);
  for (const part of typeof input === "string" ? [input] : input) parser.feed(enc.encode(part));
  return events;
}

function lastError(events: Event[]): string | undefined {
  const e = events.at(-1);
  return e?.op === "error" ? e.error : undefined;
}

describe("parser: operations", () => {
  it("parses control ops case-insensitively with tabs and multiple spaces", () => {
    const ev = parse("client", "ping\r\nPONG\r\nsub  foo\tq  1\r\nUNSUB 1 5\r\nUnSub 2\r\n");
    assert.deepEqual(ev, [
      { op: OP.PING, args: [] },
      { op: OP.PONG, args: [] },
      { op: OP.SUB, args: ["foo", "q", "1"] },
      { op: OP.UNSUB, args: ["1", "5"] },
      { op: OP.UNSUB, args: ["2"] },
    ]);
  });
  it("hands CONNECT/INFO JSON over as one argument, spaces included", () => {
    const json = `{"verbose": false, "name": "a b"}`;
    const ev = parse("client", `CONNECT ${json}\r\nINFO {"x": 1}\r\n`);
    assert.deepEqual(ev, [{ op: OP.CONNECT, args: [json] }, { op: OP.INFO, args: [`{"x": 1}`] }]);
  });
  it("PUB with and without reply, HPUB with header block, zero-length and CRLF-containing payloads", () => {
    const hdr = "NATS/1.0\r\nA: b\r\n\r\n";
    const ev = parse(
      "client",
      `PUB a 5\r\nhello\r\nPUB a r 0\r\n\r\nPUB a 4\r\n\r\n\r\n\r\nHPUB a r ${hdr.length} ${hdr.length + 2}\r\n${hdr}hi\r\n`,
    );
    assert.deepEqual(ev, [
      { op: OP.PUB, args: ["a", "5"], payload: "hello", hdr: -1 },
      { op: OP.PUB, args: ["a", "r", "0"], payload: "", hdr: -1 },
      { op: OP.PUB, args: ["a", "4"], payload: "\r\n\r\n", hdr: -1 },
      { op: OP.HPUB, args: ["a", "r", String(hdr.length), String(hdr.length + 2)], payload: `${hdr}hi`, hdr: hdr.length },
    ]);
  });
  it("accepts bare LF line endings", () => {
    assert.deepEqual(parse("client", "PING\nPUB a 1\nx\r\n"), [
      { op: OP.PING, args: [] },
      { op: OP.PUB, args: ["a", "1"], payload: "x", hdr: -1 },
    ]);
  });
  it("route mode: RMSG, RS+, RS-, and HMSG with headers", () => {
    const ev = parse("route", "RS+ $G foo q 1\r\nRS- $G foo\r\nRMSG $G foo r 2\r\nhi\r\nHMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nok\r\n");
    assert.deepEqual(ev, [
      { op: OP.RSPLUS, args: ["$G", "foo", "q", "1"] },
      { op: OP.RSMINUS, args: ["$G", "foo"] },
      { op: OP.RMSG, args: ["$G", "foo", "r", "2"], payload: "hi", hdr: -1 },
      { op: OP.HMSG, args: ["$G", "foo", "12", "14"], payload: "NATS/1.0\r\n\r\nok", hdr: 12 },
    ]);
  });
  it("route mode: gateway account interest A+ / A-", () => {
    assert.deepEqual(parse("route", "A+ ACC\r\na- $G\r\n"), [
      { op: OP.APLUS, args: ["ACC"] },
      { op: OP.AMINUS, args: ["$G"] },
    ]);
    assert.equal(lastError(parse("client", "A+ ACC\r\n")), "unknown_op");
  });
  it("client mode rejects route and server-to-client ops", () => {
    for (const line of ["RMSG $G foo 2\r\nhi\r\n", "RS+ $G foo\r\n", "LS+ foo\r\n", "MSG foo 1 2\r\nhi\r\n", "HMSG foo 1 12 12\r\n"]) {
      assert.equal(lastError(parse("client", line)), "unknown_op", line);
    }
    assert.equal(lastError(parse("client", "-ERR 'x'\r\n")), "bad_args");
    assert.equal(lastError(parse("leaf", "RS+ $G foo\r\n")), "unknown_op");
    assert.equal(parse("leaf", "LS+ foo\r\n")[0].op, OP.LSPLUS);
  });
  it("setMode switches the accepted ops", () => {
    const { parser, events } = recorder("client");
    parser.setMode("route");
    assert.equal(parser.mode, "route");
    parser.feed(enc.encode("RS+ $G a\r\n"));
    assert.equal(events[0].op, OP.RSPLUS);
  });
});

describe("parser: errors and limits", () => {
  const small = { maxControlLine: 64, maxPayload: 16 };
  it("unknown op, empty line", () => {
    assert.equal(lastError(parse("client", "FOO bar\r\n")), "unknown_op");
    assert.equal(lastError(parse("client", "PUBX a 1\r\n")), "unknown_op");
    assert.equal(lastError(parse("client", "\r\n")), "unknown_op");
  });
  it("control line over max_control_line, whole or split across feeds", () => {
    const long = `PUB ${"a".repeat(100)} 1\r\nx\r\n`;
    assert.deepEqual(parse("client", long, small), [{ op: "error", args: [], error: "max_control_line" }]);
    const parts = [long.slice(0, 30), long.slice(30, 70), long.slice(70, 90)];
    assert.deepEqual(parse("client", parts, small), [{ op: "error", args: [], error: "max_control_line" }]);
    // Without any LF at all the parser must still give up once the line is too long.
    assert.equal(lastError(parse("client", ["SUB ", "x".repeat(200)], small)), "max_control_line");
    // At the limit is fine.
    const atLimit = `SUB ${"b".repeat(64 - 6)} 1`;
    assert.equal(atLimit.length, 64);
    assert.deepEqual(parse("client", `${atLimit}\r\n`, small), [{ op: OP.SUB, args: ["b".repeat(58), "1"] }]);
  });
  it("payload over max_payload", () => {
    assert.equal(lastError(parse("client", "PUB a 17\r\n", small)), "max_payload");
    assert.equal(lastError(parse("client", "HPUB a 12 17\r\n", small)), "max_payload");
    assert.deepEqual(parse("client", `PUB a 16\r\n${"x".repeat(16)}\r\n`, small)[0].payload, "x".repeat(16));
  });
  it("negative, garbage and inconsistent sizes are bad_args", () => {
    for (
      const line of [
        "PUB a -1\r\n",
        "PUB a x\r\n",
        "PUB a 1x\r\n",
        "PUB a\r\n",
        "PUB a b c 1\r\n",
        "HPUB a 5 4\r\n",
        "HPUB a -1 4\r\n",
        "HPUB a 4\r\n",
        "HPUB a x 4\r\n",
        "PUB a 99999999999999999999\r\n",
      ]
    ) {
      assert.equal(lastError(parse("client", line)), "bad_args", line);
    }
  });
  it("payload not followed by CRLF is unknown_op (fast path and split path)", () => {
    assert.equal(lastError(parse("client", "PUB a 2\r\nhello\r\n")), "unknown_op");
    assert.equal(lastError(parse("client", ["PUB a 2\r\nhe", "llo\r\n"])), "unknown_op");
  });
  it("after an error the parser ignores further input", () => {
    const { parser, events } = recorder("client");
    parser.feed(enc.encode("BOGUS\r\n"));
    parser.feed(enc.encode("PING\r\n"));
    assert.equal(events.length, 1);
    assert.equal(events[0].op, "error");
  });
  it("parseSize", () => {
    const b = (s: string) => enc.encode(s);
    assert.equal(parseSize(b("0"), 0, 1), 0);
    assert.equal(parseSize(b("1234"), 0, 4), 1234);
    assert.equal(parseSize(b("x12y"), 1, 3), 12);
    assert.equal(parseSize(b(""), 0, 0), -1);
    assert.equal(parseSize(b("-1"), 0, 2), -1);
    assert.equal(parseSize(b("+1"), 0, 2), -1);
    assert.equal(parseSize(b("1".repeat(16)), 0, 16), -1);
  });
});

describe("parser: size digits are bounded like nats-server (parseSize max 9 digits)", () => {
  it("rejects 10+ digit sizes instead of trying to allocate them", () => {
    assert.equal(parseSize(enc.encode("999999999"), 0, 9), 999999999);
    assert.equal(parseSize(enc.encode("1234567890"), 0, 10), -1);
  });
  it("a route RMSG announcing a huge payload does not throw out of feed", () => {
    const { parser, events } = recorder("route");
    assert.doesNotThrow(() => parser.feed(enc.encode("RMSG $G foo 99999999999\r\nabc")));
    assert.deepEqual(events, [{ op: "error", args: [], error: "bad_args" }]);
  });
});

// Observed on nats-server 2.9.10 with max_control_line 64: the limit applies to the arguments (the line after
// the op name), to CONNECT as well, and only on client connections.
describe("parser: max_control_line parity with nats-server", () => {
  const small = { maxControlLine: 64, maxPayload: 16 };
  it("arguments of exactly max_control_line bytes are accepted, one more is not", () => {
    const ok = `SUB ${"a".repeat(62)} 1\r\n`; // args "aaa...a 1" = 64 bytes
    assert.deepEqual(parse("client", ok, small), [{ op: OP.SUB, args: ["a".repeat(62), "1"] }]);
    const over = `SUB ${"a".repeat(63)} 1\r\n`;
    assert.equal(lastError(parse("client", over, small)), "max_control_line");
    // The same for a PUB whole in one read (its one-pass path) and split.
    const pub = `PUB ${"a".repeat(62)} 1\r\nx\r\n`;
    assert.deepEqual(parse("client", pub, small), [{ op: OP.PUB, args: ["a".repeat(62), "1"], payload: "x", hdr: -1 }]);
    assert.equal(lastError(parse("client", `PUB ${"a".repeat(63)} 1\r\nx\r\n`, small)), "max_control_line");
    assert.equal(lastError(parse("client", [`PUB ${"a".repeat(40)}`, `${"a".repeat(23)} 1\r\nx\r\n`], small)), "max_control_line");
  });
  it("client CONNECT over max_control_line is refused, whole or split", () => {
    const json = JSON.stringify({ verbose: false, name: "n".repeat(100) });
    assert.equal(lastError(parse("client", `CONNECT ${json}\r\n`, small)), "max_control_line");
    assert.equal(lastError(parse("client", [`CONNECT ${json.slice(0, 50)}`, `${json.slice(50)}\r\n`], small)), "max_control_line");
  });
  it("route connections are not bound by max_control_line (long INFO, long subjects)", () => {
    const info = JSON.stringify({ connect_urls: Array.from({ length: 10 }, (_, i) => `10.0.0.${i}:4222`) });
    const subj = "s".repeat(100);
    assert.deepEqual(parse("route", [`INFO ${info}\r\nRS+ $G ${subj}\r\n`], small), [
      { op: OP.INFO, args: [info] },
      { op: OP.RSPLUS, args: ["$G", subj] },
    ]);
  });
});

describe("bytesToString", () => {
  const enc = new TextEncoder();
  it("decodes ASCII, UTF-8, empty and long subjects, the same on every call (cached or not)", () => {
    const cases = ["", "a", "_INBOX.nb1234_5678.17", "ünïcödé.sübject", "x".repeat(64), "y".repeat(65), "日本.語"];
    for (let round = 0; round < 3; round++) {
      for (const c of cases) {
        const b = enc.encode(`PUB ${c} 0`);
        assert.equal(bytesToString(b, 4, 4 + enc.encode(c).length), c);
      }
    }
    // Same bytes at another place in another buffer: still the same string.
    const b = enc.encode("--_INBOX.nb1234_5678.17--");
    assert.equal(bytesToString(b, 2, b.length - 2), "_INBOX.nb1234_5678.17");
  });
});
