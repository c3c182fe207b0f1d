/**
 * Deadlines and ticks a configuration reaches that are light timers (src/runtime/light_timers.ts), not the
 * runtime's setTimeout/setInterval, which on Deno 2.9 load Node's timer layer for the life of the process at their
 * first call (+2-3 MB; bench/RESULTS.md `denotimers2`): the TLS upgrade deadline, the routes' read barrier, a Raft
 * host's tick, a clustered stream-info gather, the monitoring port's wait for a response body. Each is seen among the pending light timers, and does its job.
 * (Links, clustered JetStream and the input gate are traced in real servers: test/cluster/link_timers.test.ts,
 * test/server/gate_timers.test.ts.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";
import { upgradeToTls } from "../../src/tls/upgrade.ts";
import type { Duplex } from "../../src/transport/types.ts";
import { afterAllRead } from "../../src/cluster/read_barrier.ts";
import { runHost } from "../../src/raft/driver.ts";
import type { RaftHost } from "../../src/raft/host.ts";
import { InfoQueries } from "../../src/jetstream/cluster/info_query.ts";
import type { JsBus } from "../../src/jetstream/types.ts";
import { readReady } from "../../transports/http_lite.ts";

describe("light timers where a configuration reaches them", () => {
  it("a TLS upgrade's deadline: one light timer, the handshake fails with nats-server's 'timeout'", async () => {
    const duplex = { info: { kind: "client" }, startTls: () => new Promise(() => {}) } as unknown as Duplex;
    const before = lightTimersPending();
    const failed = new Promise<string>((resolve) => upgradeToTls(duplex, {} as never, 20, { onSecure: () => assert.fail("secure"), onFailure: resolve }));
    assert.equal(lightTimersPending(), before + 1);
    assert.equal(await failed, "timeout");
    assert.equal(lightTimersPending(), before);
  });

  it("the routes' read barrier: its cap is one light timer, cancelled when every peer has read", async () => {
    let answer: () => void = () => {};
    const link = { afterPeerRead: (done: () => void) => void (answer = done) };
    const before = lightTimersPending();
    const read = new Promise<void>((resolve) => afterAllRead([link], 60_000, resolve));
    assert.equal(lightTimersPending(), before + 1, "the cap is a light timer");
    answer();
    await read;
    assert.equal(lightTimersPending(), before, "the cap is cancelled");
    // A peer that never answers: the cap passes.
    await new Promise<void>((resolve) => afterAllRead([{ afterPeerRead: () => {} }], 5, resolve));
  });

  it("a Raft host's tick is a light interval, stopped by the function runHost returns", async () => {
    let ticks = 0;
    let third: () => void = () => {};
    const ticked = new Promise<void>((r) => (third = r));
    const host = { tick: () => void (++ticks === 3 && third()) } as unknown as RaftHost;
    const before = lightTimersPending();
    const stop = runHost(host, 2);
    assert.equal(lightTimersPending(), before + 1);
    await ticked;
    stop();
    assert.equal(lightTimersPending(), before);
  });

  it("a clustered stream-info gather's deadline is a light timer: a silent leader's stream is left out when it passes", async () => {
    const bus = { subscribe: () => 0, unsubscribe: () => {}, publish: () => {} } as unknown as JsBus;
    const q = new InfoQueries({ bus, self: "n1", serve: () => undefined });
    q.start();
    const before = lightTimersPending();
    const got = new Promise<Map<string, unknown>>((resolve) => q.gather(["S"], (s) => s, () => "G", resolve, 10));
    assert.equal(lightTimersPending(), before + 1);
    assert.equal((await got).size, 0);
    assert.equal(lightTimersPending(), before);
    q.stop();
  });

  it("the monitoring port's wait for what a response body has ready is a light timer's turn", async () => {
    let push: (b: Uint8Array) => void = () => {};
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = (b) => c.enqueue(b)) });
    push(new Uint8Array([1, 2]));
    const before = lightTimersPending();
    const ready = readReady(body.getReader());
    assert.equal(lightTimersPending(), before + 1, "the turn it waits for is a light timer");
    const got = await ready;
    assert.deepEqual(got.parts, [new Uint8Array([1, 2])], "what was there is read");
    assert.ok(got.rest !== undefined, "the rest is still to come");
    assert.equal(lightTimersPending(), before);
  });
});
