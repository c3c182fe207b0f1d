import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMemoryTransport, MemoryNetwork } from "../../transports/memory.ts";
import { openRaw } from "../../transports/raw_client.ts";
import { collector, concat, destroy, equalBytes, newEvents, pattern, sleep, startEcho, until } from "./echo.ts";

const enc = new TextEncoder();

describe("memory transport", () => {
  it("delivers asynchronously and in order", async () => {
    const { transport } = createMemoryTransport();
    const s = await startEcho(transport);
    assert.ok(s.listener.port > 0);
    const ev = newEvents();
    const c = await transport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    assert.equal(c.info.kind, "memory");
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 5000; i++) {
      const m = enc.encode(`m${i};`);
      sent.push(m);
      c.write(m.slice());
    }
    assert.equal(ev.bytes, 0, "nothing is delivered synchronously");
    await until(() => ev.bytes === concat(sent).length, "echo");
    assert.ok(equalBytes(concat(ev.data), concat(sent)));
    await s.listener.close();
  });

  it("refuses dials to nothing and to a second listener on the same address", async () => {
    const net = new MemoryNetwork();
    const a = net.node("a");
    await assert.rejects(a.dial({ host: "b", port: 4222 }, () => collector(newEvents())), /ECONNREFUSED/);
    const l = await net.node("b").listen({ host: "0.0.0.0", port: 4222 }, (c) => ({
      onData: (d) => void c.write(d.slice()),
      onDrain() {},
      onClose() {},
    }));
    await assert.rejects(net.node("b").listen({ host: "0.0.0.0", port: 4222 }, () => collector(newEvents())), /in use/);
    const raw = await openRaw(a, { host: "b", port: 4222 });
    raw.write("hi");
    assert.equal(await raw.waitFor("hi"), "hi");
    assert.equal(raw.duplex.info.remoteHost, "b");
    await l.close();
    await assert.rejects(a.dial({ host: "b", port: 4222 }, () => collector(newEvents())), /ECONNREFUSED/);
  });

  it("closes after delivering queued bytes; onClose once on both sides", async () => {
    const { transport } = createMemoryTransport();
    const s = await startEcho(transport);
    const ev = newEvents();
    const c = await transport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    c.write(enc.encode("last words"));
    c.close();
    c.close();
    assert.equal(c.write(enc.encode("more")), false);
    await until(() => ev.closes.length === 1 && s.events[0].closes.length === 1, "both closed");
    assert.equal(s.events[0].bytes, "last words".length);
    await sleep(5);
    assert.deepEqual([ev.closes, s.events[0].closes], [[undefined], [undefined]]);
  });

  it("reports backpressure and drains", async () => {
    const { transport } = createMemoryTransport({ highWaterMark: 1024 });
    const s = await startEcho(transport);
    const ev = newEvents();
    const c = await transport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    assert.equal(c.write(pattern(512)), true);
    assert.equal(c.write(pattern(1024)), false);
    assert.equal(c.bufferedAmount(), 1536);
    await until(() => ev.drains === 1, "drain");
    assert.equal(c.bufferedAmount(), 0);
  });

  it("stalls traffic across a partition and lets it through on heal", async () => {
    const net = new MemoryNetwork();
    const s = await startEcho(net.node("b"), "0.0.0.0");
    const ev = newEvents();
    const c = await net.node("a").dial({ host: "b", port: s.listener.port }, () => collector(ev));
    c.write(enc.encode("before;"));
    await until(() => ev.bytes === 7, "echo before partition");
    net.partition("a", "b");
    assert.equal(net.isPartitioned("b", "a"), true);
    c.write(enc.encode("during;"));
    await sleep(10);
    assert.equal(ev.bytes, 7, "nothing crosses the partition");
    assert.equal(c.bufferedAmount(), 7);
    await assert.rejects(net.node("a").dial({ host: "b", port: s.listener.port }, () => collector(newEvents())), /ETIMEDOUT/);
    // a third node still reaches b
    const raw = await openRaw(net.node("c"), { host: "b", port: s.listener.port });
    raw.write("c!");
    await raw.waitFor("c!");
    net.heal();
    await until(() => ev.bytes === 14, "stalled bytes delivered after heal");
    assert.equal(new TextDecoder().decode(concat(ev.data)), "before;during;");
    assert.equal(ev.closes.length, 0);
  });

  it("drops connections abruptly", async () => {
    const net = new MemoryNetwork();
    const s = await startEcho(net.node("b"), "0.0.0.0");
    const evA = newEvents();
    const evC = newEvents();
    const a = await net.node("a").dial({ host: "b", port: s.listener.port }, () => collector(evA));
    await net.node("c").dial({ host: "b", port: s.listener.port }, () => collector(evC));
    assert.equal(net.connections().length, 2);
    a.write(enc.encode("lost?"));
    assert.equal(net.dropBetween("a", "b"), 1);
    await until(() => evA.closes.length === 1, "dialer reset");
    assert.ok(evA.closes[0] instanceof Error);
    const serverSide = s.events[0];
    await until(() => serverSide.closes.length === 1, "listener side reset");
    assert.ok(serverSide.closes[0] instanceof Error);
    assert.equal(evC.closes.length, 0, "other connections are untouched");
    assert.equal(net.connections().length, 1);
    assert.equal(net.dropNode("c"), 1);
    await until(() => evC.closes.length === 1, "c reset");
  });

  it("destroy() resets one connection", async () => {
    const { transport } = createMemoryTransport();
    const s = await startEcho(transport);
    const ev = newEvents();
    const c = await transport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    destroy(c);
    await until(() => ev.closes.length === 1 && s.events[0].closes.length === 1, "both ends closed");
    assert.ok(s.events[0].closes[0] instanceof Error);
  });

  it("delays delivery by latencyMs", async () => {
    const net = new MemoryNetwork({ latencyMs: 20 });
    const s = await startEcho(net.node("b"), "0.0.0.0");
    const raw = await openRaw(net.node("a"), { host: "b", port: s.listener.port });
    const t0 = performance.now();
    raw.write("x");
    await raw.waitFor("x");
    assert.ok(performance.now() - t0 >= 30, "two hops of 20ms");
  });
});

describe("memory transport: faulty handlers", () => {
  it("resets the connection when a handler throws", async () => {
    const { transport } = createMemoryTransport();
    const sev = newEvents();
    const l = await transport.listen({ host: "127.0.0.1", port: 0 }, () => ({
      onData() {
        throw new Error("core bug");
      },
      onDrain() {},
      onClose(err) {
        sev.closes.push(err);
      },
    }));
    const cev = newEvents();
    const c = await transport.dial({ host: "127.0.0.1", port: l.port }, () => collector(cev));
    c.write(enc.encode("boom"));
    await until(() => sev.closes.length === 1 && cev.closes.length === 1, "both sides closed");
    assert.match(String(sev.closes[0]), /core bug/);
    assert.ok(cev.closes[0] instanceof Error);
  });
});
