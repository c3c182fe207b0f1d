import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { boundsWindow, MAX_RTT_US, ReceiveWindow, type SockOpts, type SockOptsSource } from "../../transports/recv_window_bun.ts";

/** libc's socket options as a script: the RTT estimates the kernel gives, in order, and what was set. */
function fakeSource(rtts: Array<number | undefined>, available = true) {
  const set: Array<[number, number]> = [];
  let loaded = false;
  let loads = 0;
  const opts: SockOpts = {
    rttUs: () => rtts.shift(),
    setRcvBuf: (fd, n) => {
      set.push([fd, n]);
      return true;
    },
  };
  const source: SockOptsSource = {
    current: () => (loaded ? (available ? opts : undefined) : null),
    load: () => {
      loads++;
      loaded = true;
      return Promise.resolve();
    },
  };
  return { source, set, loads: () => loads };
}

const settle = () => new Promise<void>((r) => setTimeout(r, 0));

describe("receive window bound (Bun)", () => {
  it("bounds only where one window per round trip is more than a server parses", () => {
    assert.equal(boundsWindow(38), true); // loopback under load (tcpi_rcv_rtt)
    assert.equal(boundsWindow(MAX_RTT_US), true);
    assert.equal(boundsWindow(MAX_RTT_US + 1), false);
    assert.equal(boundsWindow(60_000), false); // a WAN path keeps the kernel's autotuning
    assert.equal(boundsWindow(0), false); // no estimate yet
    assert.equal(boundsWindow(undefined), false);
  });

  it("sets the size once the kernel has an RTT estimate, then never looks again", async () => {
    const f = fakeSource([0, undefined, 40, 40]);
    const w = new ReceiveWindow(() => 7, 196608, f.source);
    w.onLargeRead(); // loads libc's options, then finds no estimate
    w.onLargeRead(); // still loading: ignored
    await settle();
    assert.equal(f.loads(), 1);
    assert.deepEqual(f.set, []);
    w.onLargeRead(); // undefined: still no estimate
    assert.deepEqual(f.set, []);
    w.onLargeRead(); // 40 µs
    assert.deepEqual(f.set, [[7, 196608]]);
    w.onLargeRead();
    assert.deepEqual(f.set, [[7, 196608]], "decided once");
  });

  it("leaves a long path, a closed socket, a missing libc and a zero size alone", async () => {
    const far = fakeSource([20_000, 40]);
    const wFar = new ReceiveWindow(() => 7, 196608, far.source);
    wFar.onLargeRead();
    await settle();
    wFar.onLargeRead();
    assert.deepEqual(far.set, [], "a long round trip decides: never bounded, not even when a later estimate is short");

    const closed = fakeSource([40]);
    const wClosed = new ReceiveWindow(() => undefined, 196608, closed.source);
    wClosed.onLargeRead();
    await settle();
    assert.deepEqual(closed.set, []);

    const noLibc = fakeSource([40], false);
    const wNoLibc = new ReceiveWindow(() => 7, 196608, noLibc.source);
    wNoLibc.onLargeRead();
    await settle();
    wNoLibc.onLargeRead();
    assert.deepEqual(noLibc.set, []);

    const off = fakeSource([40]);
    const wOff = new ReceiveWindow(() => 7, 0, off.source);
    wOff.onLargeRead();
    await settle();
    assert.equal(off.loads(), 0, "PETREL_SO_RCVBUF=0 never loads FFI");
  });

  it("gives up after a few large reads without an estimate", async () => {
    const f = fakeSource(Array(20).fill(0).concat([40]));
    const w = new ReceiveWindow(() => 7, 196608, f.source);
    for (let i = 0; i < 30; i++) {
      w.onLargeRead();
      await settle();
    }
    assert.deepEqual(f.set, []);
  });
});
