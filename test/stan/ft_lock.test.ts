// The fault-tolerance state machine (src/stan/ft.ts) on an injected clock, and the store lock file
// (adapters/storage/store_lock.ts): a standby activates only after missed heartbeats and only with the lock,
// an active heartbeats and refreshes, two standbys racing for a stale lock cannot both get it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startFaultTolerance } from "../../src/stan/ft.ts";
import { storeLock } from "../../adapters/storage/store_lock.ts";

function harness(lockFree: () => boolean) {
  const clock = new ManualClock(0);
  const handlers: Array<(p: Uint8Array) => void> = [];
  const sent: string[] = [];
  let activations = 0;
  const ft = startFaultTolerance({
    subject: "_STAN.ft.c.g",
    id: "me",
    clock,
    interval: 1_000,
    missedAfter: 3_000,
    subscribe: (_s, h) => {
      handlers.push(h);
      return () => handlers.splice(handlers.indexOf(h), 1);
    },
    publish: (_s, p) => void sent.push(new TextDecoder().decode(p)),
    tryLock: lockFree,
    refreshLock: () => true,
    releaseLock: () => {},
    activate: () => {
      activations++;
      return Promise.resolve();
    },
    deactivate: () => Promise.resolve(),
    log: () => {},
  });
  const heartbeat = (from: string) => handlers.forEach((h) => h(new TextEncoder().encode(from)));
  return { clock, ft, sent, heartbeat, activations: () => activations };
}

describe("STAN fault tolerance: the standby state machine", () => {
  it("stays standby while another server heartbeats, and activates once they stop and the lock is free", async () => {
    const h = harness(() => true);
    for (let t = 0; t < 10; t++) {
      h.heartbeat("other");
      h.clock.advance(1_000);
    }
    assert.equal(h.ft.state, "standby");
    assert.equal(h.activations(), 0);
    h.clock.advance(3_500);
    await Promise.resolve();
    assert.equal(h.ft.state, "active");
    assert.equal(h.activations(), 1);
    h.clock.advance(2_000);
    assert.ok(h.sent.filter((s) => s === "me").length >= 2, "the active heartbeats with its id");
    h.heartbeat("me");
    assert.equal(h.ft.state, "active");
    h.ft.stop();
  });

  it("does not activate without the lock", () => {
    const h = harness(() => false);
    h.clock.advance(20_000);
    assert.equal(h.ft.state, "standby");
    assert.equal(h.activations(), 0);
    h.ft.stop();
  });
});

describe("STAN fault tolerance: the store lock file", () => {
  it("is exclusive, refreshed by its owner, and a stale one goes to exactly one claimant", () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-ftlock-"));
    try {
      const a = storeLock(dir, "a", 3_000);
      const b = storeLock(dir, "b", 3_000);
      const c = storeLock(dir, "c", 3_000);
      assert.equal(a.tryLock(), true);
      assert.equal(b.tryLock(), false, "held and fresh");
      assert.equal(a.refresh(), true);
      assert.equal(b.refresh(), false, "not b's lock");
      // `a` died: its lock file ages past the stale limit.
      const old = new Date(Date.now() - 10_000);
      utimesSync(join(dir, "ft.lck"), old, old);
      assert.equal(b.tryLock(), true);
      assert.equal(c.tryLock(), false, "b's fresh lock");
      assert.equal(a.refresh(), false, "a lost it");
      b.release();
      assert.equal(c.tryLock(), true, "released");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
