import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  isLiteral,
  isValidPublishSubject,
  isValidQueueName,
  isValidSubject,
  subjectIsSubsetOf,
  subjectMatches,
  subjectsIntersect,
} from "../../src/subjects/subject.ts";

/** Reference matcher written independently of the module under test. */
function bruteMatches(subject: string, pattern: string): boolean {
  const s = subject.split(".");
  const p = pattern.split(".");
  const go = (i: number, j: number): boolean => {
    if (j === p.length) return i === s.length;
    if (p[j] === ">") return i < s.length;
    if (i === s.length) return false;
    return (p[j] === "*" || p[j] === s[i]) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

const TOKENS = ["a", "b", "z"];
/** Every literal subject over TOKENS with 1..4 tokens: long enough to witness any pattern of <= 3 tokens. */
const LITERALS: string[] = (() => {
  const out: string[] = [];
  let layer = [""];
  for (let n = 1; n <= 4; n++) {
    layer = layer.flatMap((pre) => TOKENS.map((t) => (pre === "" ? t : `${pre}.${t}`)));
    out.push(...layer);
  }
  return out;
})();

const patternArb = fc
  .array(fc.constantFrom("a", "b", "*"), { minLength: 0, maxLength: 3 })
  .chain((toks) =>
    fc.boolean().map((fwc) => {
      const all = fwc || toks.length === 0 ? [...toks, ">"] : toks;
      return all.join(".");
    })
  );

describe("subject validation", () => {
  it("accepts and rejects subscription subjects as nats-server does", () => {
    for (const s of ["a", "a.b", "*", ">", "a.*", "a.>", "*.*.>", "a.*.c", "foo.*bar", "a>b.c", "$JS.API.>", "_INBOX.x"]) {
      assert.equal(isValidSubject(s), true, s);
    }
    for (const s of ["", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\r\n", ">.a", "a.>.b", "a.>.>", " a"]) {
      assert.equal(isValidSubject(s), false, JSON.stringify(s));
    }
  });
  it("publish subjects exclude wildcard tokens only", () => {
    assert.equal(isValidPublishSubject("a.b"), true);
    assert.equal(isValidPublishSubject("a.*b"), true);
    assert.equal(isValidPublishSubject("a>.b"), true);
    assert.equal(isValidPublishSubject("a.*"), false);
    assert.equal(isValidPublishSubject(">"), false);
    assert.equal(isValidPublishSubject("*.b"), false);
    assert.equal(isValidPublishSubject("a..b"), false);
    assert.equal(isLiteral("a.b.c"), true);
    assert.equal(isLiteral("a.*.c"), false);
    assert.equal(isLiteral("a.>"), false);
    assert.equal(isLiteral("*"), false);
  });
  it("queue names: non-empty, no white space", () => {
    assert.equal(isValidQueueName("q"), true);
    assert.equal(isValidQueueName("q.*"), true);
    assert.equal(isValidQueueName(""), false);
    assert.equal(isValidQueueName("a b"), false);
    assert.equal(isValidQueueName("a\tb"), false);
  });
});

describe("subjectMatches / subjectsIntersect / subjectIsSubsetOf", () => {
  it("table", () => {
    const cases: [string, string, boolean][] = [
      ["a", "a", true],
      ["a", "b", false],
      ["a.b", "a.*", true],
      ["a", "a.*", false],
      ["a", "a.>", false],
      ["a.b.c", "a.>", true],
      ["a.b.c", "a.*", false],
      ["a.b.c", ">", true],
      ["a.b.c", "*.*.*", true],
      ["a.b", "*.*.*", false],
      ["a.b", "a.b.c", false],
    ];
    for (const [s, p, want] of cases) assert.equal(subjectMatches(s, p), want, `${s} ~ ${p}`);
    assert.equal(subjectsIntersect("a.*", "*.b"), true);
    assert.equal(subjectsIntersect("a.>", "a"), false);
    assert.equal(subjectsIntersect("a.b.>", "a.*"), false);
    assert.equal(subjectsIntersect(">", "x.y.z"), true);
    assert.equal(subjectsIntersect("a.b", "a.c"), false);
    assert.equal(subjectIsSubsetOf("a.b", "a.*"), true);
    assert.equal(subjectIsSubsetOf("a.*", "a.>"), true);
    assert.equal(subjectIsSubsetOf("a.>", "a.*"), false);
    assert.equal(subjectIsSubsetOf("a.*", "a.b"), false);
    assert.equal(subjectIsSubsetOf("a.>", ">"), true);
    assert.equal(subjectIsSubsetOf(">", "*.>"), false);
  });

  it("agree with brute force over every literal subject (property)", () => {
    fc.assert(
      fc.property(patternArb, patternArb, (p, q) => {
        const mp = LITERALS.filter((l) => bruteMatches(l, p));
        const mq = new Set(LITERALS.filter((l) => bruteMatches(l, q)));
        for (const l of LITERALS) assert.equal(subjectMatches(l, p), bruteMatches(l, p), `${l} ~ ${p}`);
        assert.equal(subjectsIntersect(p, q), mp.some((l) => mq.has(l)), `intersect(${p}, ${q})`);
        assert.equal(subjectsIntersect(p, q), subjectsIntersect(q, p));
        assert.equal(subjectIsSubsetOf(p, q), mp.every((l) => mq.has(l)), `subset(${p}, ${q})`);
        assert.equal(subjectIsSubsetOf(p, p), true);
      }),
      { numRuns: 300 },
    );
  });
});
