import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { goDuration, nanos, rfc3339, uptime } from "../../src/monitor/format.ts";

describe("monitor formats", () => {
  it("goDuration follows Go's time.Duration.String()", () => {
    const cases: [number, string][] = [
      [0, "0s"],
      [-5, "0s"],
      [0.5, "500µs"],
      [1, "1ms"],
      [250, "250ms"],
      [1.5, "1.5ms"],
      [1000, "1s"],
      [1500, "1.5s"],
      [60_000, "1m0s"],
      [61_000, "1m1s"],
      [3_600_000, "1h0m0s"],
      [3_723_500, "1h2m3.5s"],
      [90_000_000, "25h0m0s"],
    ];
    for (const [ms, want] of cases) assert.equal(goDuration(ms), want, String(ms));
  });
  it("uptime uses days and whole seconds", () => {
    const cases: [number, string][] = [
      [0, "0s"],
      [999, "0s"],
      [1000, "1s"],
      [59_999, "59s"],
      [60_000, "1m0s"],
      [3_600_000, "1h0m0s"],
      [86_400_000, "1d0h0m0s"],
      [90_061_000, "1d1h1m1s"],
    ];
    for (const [ms, want] of cases) assert.equal(uptime(ms), want, String(ms));
  });
  it("nanos and rfc3339", () => {
    assert.equal(nanos(1), 1_000_000);
    assert.equal(nanos(2000), 2_000_000_000);
    assert.equal(rfc3339(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), "2024-01-02T03:04:05.006Z");
  });
});
