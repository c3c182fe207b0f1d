// The fixed-port helper: ports outside the kernel's ephemeral range, never handed to two test processes at once.
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ephemeralRange, FIXED_PORT_RANGE, freePort } from "./ports.ts";

it("picks fixed ports outside the kernel's ephemeral range, reserved for this process", async () => {
  const eph = ephemeralRange();
  const ports = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    assert.ok(p >= FIXED_PORT_RANGE.low && p <= FIXED_PORT_RANGE.high, `port ${p}`);
    if (eph) assert.ok(p < eph.low || p > eph.high, `port ${p} is in the ephemeral range ${eph.low}-${eph.high}`);
    assert.equal(readFileSync(join(tmpdir(), "petrel-test-ports", String(p)), "utf8"), String(process.pid));
    ports.add(p);
  }
  assert.equal(ports.size, 50, "a port handed out twice");
});
