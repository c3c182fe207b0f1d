import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WireConn, type WireHooks, type WireOptions } from "../../src/server/wire_conn.ts";
import type { Duplex } from "../../src/transport/types.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

const td = new TextDecoder();
const tick = () => new Promise<void>((r) => queueMicrotask(r));

interface FakeDuplex extends Duplex {
  writes: string[];
  closes: number;
}

function fakeDuplex(): FakeDuplex {
  const d: FakeDuplex = {
    info: { kind: "memory", remoteHost: "10.0.0.1", remotePort: 4244, localHost: "127.0.0.1", localPort: 6222 },
    writes: [],
    closes: 0,
    write(data: Uint8Array): boolean {
      d.writes.push(td.decode(data));
      return true;
    },
    bufferedAmount: () => 0,
    close(): void {
      d.closes++;
    },
  };
  return d;
}

function setup(opts: Partial<WireOptions> = {}, hooks: Partial<WireHooks> = {}) {
  const duplex = fakeDuplex();
  const ended: string[] = [];
  const events: string[] = [];
  const wire = new WireConn(duplex, { cid: 7, tag: "rid", pingInterval: 0, pingMax: 2, ...opts }, {
    teardown: (r) => ended.push(r),
    beforeWrite: () => events.push("beforeWrite"),
    afterFlush: () => events.push("afterFlush"),
    ...hooks,
  });
  return { duplex, wire, ended, events };
}

describe("wire connection plumbing", () => {
  it("coalesces writes into one flush per microtask", async () => {
    const { duplex, wire, events } = setup();
    wire.send("INFO {}\r\n");
    wire.ping();
    wire.send("RS+ $G foo\r\n");
    assert.deepEqual(duplex.writes, [], "nothing written synchronously");
    await tick();
    assert.deepEqual(duplex.writes, ["INFO {}\r\nPONG\r\nRS+ $G foo\r\n"]);
    assert.deepEqual(events, ["beforeWrite", "afterFlush"]);
    wire.flush();
    assert.equal(duplex.writes.length, 1, "an empty buffer writes nothing");
  });

  it("closeWithError writes -ERR with what is pending, ends once, closes the transport", () => {
    const { duplex, wire, ended } = setup();
    wire.send("INFO {}\r\n");
    wire.closeWithError("Authorization Violation", "Auth Failure");
    assert.deepEqual(duplex.writes, ["INFO {}\r\n-ERR 'Authorization Violation'\r\n"]);
    assert.equal(wire.state, "closed");
    assert.equal(wire.closeReason, "Auth Failure");
    assert.deepEqual(ended, ["Auth Failure"]);
    assert.equal(duplex.closes, 1);
    wire.close("again");
    wire.closed("Route Closed");
    assert.deepEqual(ended, ["Auth Failure"], "teardown runs once");
    assert.equal(duplex.closes, 1);
  });

  it("a flush queued before close writes nothing after it", async () => {
    const { duplex, wire } = setup();
    wire.send("A\r\n");
    wire.close("Client Closed");
    wire.out.text("late\r\n");
    await tick();
    assert.deepEqual(duplex.writes, ["A\r\n"]);
  });

  it("drop discards pending output; a transport close uses the default reason", () => {
    const a = setup();
    a.wire.send("MSG\r\n");
    a.wire.drop("Slow Consumer");
    assert.deepEqual(a.duplex.writes, []);
    assert.equal(a.duplex.closes, 1);
    assert.deepEqual(a.ended, ["Slow Consumer"]);
    const b = setup();
    b.wire.closed("Gateway Closed");
    assert.equal(b.wire.closeReason, "Gateway Closed");
    assert.equal(b.duplex.closes, 0, "the transport is already gone");
  });

  it("closes a connection still in handshake when the deadline passes, not an active one", () => {
    const clock = new ManualClock();
    const a = setup({ clock });
    a.wire.startTimers(20, "Route Handshake Timeout");
    const b = setup({ clock });
    b.wire.startTimers(20, "Route Handshake Timeout");
    b.wire.activate();
    clock.advance(19);
    assert.deepEqual(a.ended, [], "not before the deadline");
    clock.advance(1);
    assert.deepEqual(a.ended, ["Route Handshake Timeout"]);
    assert.equal(b.wire.state, "active");
    b.wire.close("done");
  });

  it("pings on its interval and closes a stale connection with -ERR", async () => {
    const clock = new ManualClock();
    const { duplex, wire, ended } = setup({ pingInterval: 15, pingMax: 1, clock });
    wire.startTimers(5000, "Route Handshake Timeout");
    wire.activate();
    clock.advance(15);
    await tick(); // the PING is flushed once per microtask
    assert.deepEqual(duplex.writes, ["PING\r\n"]);
    assert.deepEqual(ended, []);
    clock.advance(15);
    await tick();
    assert.deepEqual(ended, ["Stale Connection"]);
    assert.deepEqual(duplex.writes, ["PING\r\n", "-ERR 'Stale Connection'\r\n"]);
  });

  it("labels log lines with the peer address and tagged id", () => {
    const { wire } = setup();
    assert.equal(wire.label(), "10.0.0.1:4244 - rid:7");
  });
});
