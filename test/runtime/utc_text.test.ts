/** src/runtime/utc_text.ts writes what Date's toISOString / toUTCString write, byte for byte. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { computeHttpDate as httpDate, computeIsoUtc as isoUtc } from "../../src/runtime/utc_text.ts";

const YEAR_0_MS = new Date("0000-01-01T00:00:00.000Z").getTime();
const YEAR_1000_MS = new Date("1000-01-01T00:00:00.000Z").getTime();
const YEAR_10000_MS = new Date("+010000-01-01T00:00:00.000Z").getTime();

describe("utc_text", () => {
  it("matches Date at the edges: the epoch, leap days, century rules, year and era boundaries", () => {
    const at = [
      0, -1, 1, 999, 1000, YEAR_0_MS, YEAR_0_MS - 1, YEAR_1000_MS, YEAR_1000_MS - 1, YEAR_10000_MS - 1, YEAR_10000_MS,
      Date.parse("2000-02-29T23:59:59.999Z"), Date.parse("1900-02-28T12:00:00Z"), Date.parse("1900-03-01T00:00:00Z"),
      Date.parse("2100-03-01T00:00:00Z"), Date.parse("1600-02-29T00:00:00Z"), Date.parse("2026-12-07T02:58:54.560Z"),
      Date.parse("1969-12-31T23:59:59.999Z"), Date.parse("2024-12-31T23:59:59.999Z"), Date.now(), 1.5, -1.5, 1e15, -1e15,
    ];
    for (const t of at) {
      assert.equal(isoUtc(t), new Date(t).toISOString(), `isoUtc(${t})`);
      assert.equal(httpDate(t), new Date(t).toUTCString(), `httpDate(${t})`);
    }
    assert.throws(() => isoUtc(NaN), RangeError, "an invalid time throws as toISOString does");
    assert.equal(httpDate(NaN), new Date(NaN).toUTCString());
  });

  it("matches Date for any millisecond from year 0 to 9999 (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: YEAR_0_MS, max: YEAR_10000_MS - 1 }), (t) => {
        assert.equal(isoUtc(t), new Date(t).toISOString());
        assert.equal(httpDate(t), new Date(t).toUTCString());
      }),
      { numRuns: 20_000 },
    );
  });
});
