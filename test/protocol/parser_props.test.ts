import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Args, argString, OP, type OpCode, type ParseError, Parser, type ParserMode } from "../../src/protocol/parser.ts";

const enc = new TextEncoder();

interface Event {
  op: OpCode | "error";
  args: string[];
  payload?: number[];
  hdr?: number;
  error?: ParseError["kind"];
}

function recorder(mode: ParserMode, limits = { maxControlLine: 4096, maxPayload: 1 << 20 }): { parser: Parser; events: Event[] } {
  const events: Event[] = [];
  const argsOf = (a: Args) => Array.from({ length: a.count }, (_, i) => argString(a, i));
  const parser = new Parser(mode, {
    onControl(op, args) {
      events.push({ op, args: argsOf(args) });
    },
    onMessage(op, args, payload, hdr) {
      // Copy now: the view is only valid during the callback.
      events.push({ op, args: argsOf(args), payload: Array.from(payload), hdr });
    },
    onError(err) {
      events.push({ op: "error", args: [], error: err.kind });
    },
  }, limits);
  return { parser, events };
}

/** Split `bytes` at the given cut points (sorted, deduplicated, clamped). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pts = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...pts, bytes.length]) {
    // Fresh copies, so the parser cannot rely on earlier chunks staying intact.
    out.push(bytes.slice(prev, p));
    prev = p;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

// ---- valid frame generators ----

const token = fc.stringMatching(/^[A-Za-z0-9_$-]{1,8}$/);
const subject = fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join("."));
const sid = fc.integer({ min: 1, max: 100000 }).map(String);
const payloadBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.constantFrom(enc.encode("\r\n"), enc.encode("a\r\nb"), enc.encode("PUB x 1\r\n"), new Uint8Array(0)),
);
const headerBlock = fc
  .array(fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,8}$/), fc.stringMatching(/^[ -~]{0,12}$/)), { maxLength: 3 })
  .map((kv) => enc.encode(`NATS/1.0\r\n${kv.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`));

interface Frame {
  bytes: Uint8Array;
  expect: Event;
}

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(subject, fc.option(subject, { nil: undefined }), payloadBytes).map(([s, r, p]): Frame => {
    const args = r === undefined ? [s, String(p.length)] : [s, r, String(p.length)];
    return {
      bytes: concat([enc.encode(`PUB ${args.join(" ")}\r\n`), p, enc.encode("\r\n")]),
      expect: { op: OP.PUB, args, payload: Array.from(p), hdr: -1 },
    };
  }),
  fc.tuple(subject, fc.option(subject, { nil: undefined }), headerBlock, payloadBytes).map(([s, r, h, p]): Frame => {
    const total = h.length + p.length;
    const args = r === undefined ? [s, String(h.length), String(total)] : [s, r, String(h.length), String(total)];
    const body = concat([h, p]);
    return {
      bytes: concat([enc.encode(`HPUB ${args.join(" ")}\r\n`), body, enc.encode("\r\n")]),
      expect: { op: OP.HPUB, args, payload: Array.from(body), hdr: h.length },
    };
  }),
  fc.tuple(subject, fc.option(token, { nil: undefined }), sid).map(([s, q, i]): Frame => {
    const args = q === undefined ? [s, i] : [s, q, i];
    return { bytes: enc.encode(`SUB ${args.join(" ")}\r\n`), expect: { op: OP.SUB, args } };
  }),
  fc.tuple(sid, fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined })).map(([i, m]): Frame => {
    const args = m === undefined ? [i] : [i, String(m)];
    return { bytes: enc.encode(`UNSUB ${args.join(" ")}\r\n`), expect: { op: OP.UNSUB, args } };
  }),
  fc.constantFrom<Frame>(
    { bytes: enc.encode("PING\r\n"), expect: { op: OP.PING, args: [] } },
    { bytes: enc.encode("PONG\r\n"), expect: { op: OP.PONG, args: [] } },
  ),
  fc.record({ verbose: fc.boolean(), name: fc.stringMatching(/^[ -~]{0,20}$/), headers: fc.boolean() }).map((o): Frame => {
    const json = JSON.stringify(o);
    return { bytes: enc.encode(`CONNECT ${json}\r\n`), expect: { op: OP.CONNECT, args: [json] } };
  }),
);

const routeFrameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(subject, fc.option(subject, { nil: undefined }), payloadBytes).map(([s, r, p]): Frame => {
    const args = r === undefined ? ["$G", s, String(p.length)] : ["$G", s, r, String(p.length)];
    return {
      bytes: concat([enc.encode(`RMSG ${args.join(" ")}\r\n`), p, enc.encode("\r\n")]),
      expect: { op: OP.RMSG, args, payload: Array.from(p), hdr: -1 },
    };
  }),
  fc.tuple(subject, headerBlock, payloadBytes).map(([s, h, p]): Frame => {
    const body = concat([h, p]);
    const args = ["$G", s, String(h.length), String(body.length)];
    return {
      bytes: concat([enc.encode(`HMSG ${args.join(" ")}\r\n`), body, enc.encode("\r\n")]),
      expect: { op: OP.HMSG, args, payload: Array.from(body), hdr: h.length },
    };
  }),
  fc.tuple(subject, fc.option(token, { nil: undefined })).map(([s, q]): Frame => {
    const args = q === undefined ? ["$G", s] : ["$G", s, q, "1"];
    return { bytes: enc.encode(`RS+ ${args.join(" ")}\r\n`), expect: { op: OP.RSPLUS, args } };
  }),
  subject.map((s): Frame => ({ bytes: enc.encode(`RS- $G ${s}\r\n`), expect: { op: OP.RSMINUS, args: ["$G", s] } })),
  fc.constantFrom<Frame>({ bytes: enc.encode("PING\r\n"), expect: { op: OP.PING, args: [] } }),
);

const MODES: ParserMode[] = ["client", "route", "leaf"];

describe("parser properties", () => {
  it("valid frames round-trip identically for any chunking", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const all = concat(frames.map((f) => f.bytes));
        const whole = recorder("client");
        whole.parser.feed(all);
        assert.deepEqual(whole.events, frames.map((f) => f.expect));
        const split = recorder("client");
        for (const c of chunk(all, cuts)) split.parser.feed(c);
        assert.deepEqual(split.events, whole.events);
      }),
      { numRuns: 400 },
    );
  });

  it("route frames (RMSG, HMSG, RS+, RS-) round-trip for any chunking in route mode", () => {
    fc.assert(
      fc.property(fc.array(routeFrameArb, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const all = concat(frames.map((f) => f.bytes));
        const r = recorder("route");
        for (const c of chunk(all, cuts)) r.parser.feed(c);
        assert.deepEqual(r.events, frames.map((f) => f.expect));
      }),
      { numRuns: 200 },
    );
  });

  it("byte-at-a-time feeding gives the same result", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), (frames) => {
        const all = concat(frames.map((f) => f.bytes));
        const r = recorder("client");
        for (let i = 0; i < all.length; i++) r.parser.feed(all.slice(i, i + 1));
        assert.deepEqual(r.events, frames.map((f) => f.expect));
      }),
      { numRuns: 100 },
    );
  });

  it("arbitrary bytes at arbitrary split points never throw; errors arrive once, via onError, and end parsing", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...MODES),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (mode, bytes, cuts) => {
          const r = recorder(mode, { maxControlLine: 128, maxPayload: 64 });
          for (const c of chunk(bytes, cuts)) r.parser.feed(c);
          const errors = r.events.filter((e) => e.op === "error");
          assert.ok(errors.length <= 1);
          if (errors.length === 1) assert.equal(r.events.at(-1)?.op, "error");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("protocol-shaped garbage never throws either", () => {
    const piece = fc.constantFrom(
      "PUB ", "HPUB ", "SUB ", "UNSUB ", "MSG ", "HMSG ", "RMSG ", "LMSG ", "RS+ ", "LS- ", "CONNECT ", "INFO ",
      "PING", "PONG", "+OK", "-ERR ", " ", "\t", "\r\n", "\n", "\r", "a", "b.c", "*", ">", "0", "1", "5", "12",
      "-1", "65", "999999", "{}", "NATS/1.0\r\n\r\n", "x".repeat(40),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...MODES),
        fc.array(piece, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (mode, pieces, cuts) => {
          const r = recorder(mode, { maxControlLine: 128, maxPayload: 64 });
          for (const c of chunk(enc.encode(pieces.join("")), cuts)) r.parser.feed(c);
          assert.ok(r.events.filter((e) => e.op === "error").length <= 1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("PUB-shaped input gives the same events whole (one-pass PUB path) as byte by byte (general path)", () => {
    const piece = fc.constantFrom(
      "PUB ", "PUB ", "pub ", "PUB\t", "PUBX ", "P", "PU", " ", "  ", "\t", "\r\n", "\n", "\r", "a", "b.c", "r", "0", "1",
      "3", "5", "12", "-1", "65", "0000000003", "abc", "x".repeat(40), "\r\nPUB a 3\r\nabc\r\n",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const bytes = enc.encode(pieces.join(""));
        const whole = recorder("client", { maxControlLine: 4096, maxPayload: 40 });
        whole.parser.feed(bytes.slice());
        const split = recorder("client", { maxControlLine: 4096, maxPayload: 40 });
        for (let i = 0; i < bytes.length; i++) split.parser.feed(bytes.slice(i, i + 1));
        assert.deepEqual(whole.events, split.events);
      }),
      { numRuns: 1000 },
    );
  });

  it("RMSG-shaped input on a route gives the same events whole (one-pass path) as byte by byte (general path)", () => {
    const piece = fc.constantFrom(
      "RMSG ", "RMSG ", "rmsg ", "RMSG\t", "RMSGX ", "R", "RM", " ", "  ", "\t", "\r\n", "\n", "\r", "$G ", "acc", "a", "b.c",
      "r", "+", "|", "q", "0", "1", "3", "5", "12", "-1", "0000000003", "abc", "x".repeat(40), "\r\nRMSG $G a 3\r\nabc\r\n",
      "RMSG $G a + r q 3\r\nabc\r\n", "RMSG $G a | q 1\r\nx\r\n",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const bytes = enc.encode(pieces.join(""));
        const whole = recorder("route");
        whole.parser.feed(bytes.slice());
        const split = recorder("route");
        for (let i = 0; i < bytes.length; i++) split.parser.feed(bytes.slice(i, i + 1));
        assert.deepEqual(whole.events, split.events);
      }),
      { numRuns: 1000 },
    );
  });

  it("a control line over the limit is max_control_line however it is split", () => {
    fc.assert(
      fc.property(fc.integer({ min: 130, max: 400 }), fc.array(fc.nat(), { maxLength: 8 }), (len, cuts) => {
        const line = enc.encode(`SUB ${"s".repeat(len)} 1\r\n`);
        const r = recorder("client", { maxControlLine: 128, maxPayload: 64 });
        for (const c of chunk(line, cuts)) r.parser.feed(c);
        assert.deepEqual(r.events, [{ op: "error", args: [], error: "max_control_line" }]);
      }),
      { numRuns: 200 },
    );
  });
});
