import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Duplex } from "../../src/transport/types.ts";
import { createTcpTransport, tcpTransport } from "../../transports/tcp.ts";
import { openRaw } from "../../transports/raw_client.ts";
import {
  collector,
  concat,
  destroy,
  type EchoServer,
  equalBytes,
  newEvents,
  type Events,
  pattern,
  startEcho,
  until,
} from "./echo.ts";

const servers: EchoServer[] = [];
/**
 * Ends whose onClose must have been called exactly once. A second call would come later, so instead of sleeping
 * after each close the check is the file's last test: every test in between is the window a late repeat must miss.
 */
const closedOnce: Array<{ what: string; ev: Events }> = [];
after(async () => {
  for (const s of servers) {
    for (const c of s.conns) c.close();
    await s.listener.close();
  }
});

async function echo(): Promise<EchoServer> {
  const s = await startEcho(tcpTransport);
  servers.push(s);
  return s;
}

describe("tcp transport", () => {
  it("listens on port 0 and reports the real port and host", async () => {
    const s = await echo();
    assert.ok(s.listener.port > 0);
    assert.equal(s.listener.host, "127.0.0.1");
  });

  it("refuses a second listener on the same port", async () => {
    const s = await echo();
    await assert.rejects(tcpTransport.listen({ host: "127.0.0.1", port: s.listener.port }, () => {
      throw new Error("unreachable");
    }));
  });

  it("echoes many small chunks in order", async () => {
    const s = await echo();
    const ev = newEvents();
    const c = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    assert.equal(c.info.kind, "tcp");
    assert.equal(c.info.remotePort, s.listener.port);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 20000; i++) {
      const chunk = new TextEncoder().encode(`PUB foo.${i} ${i % 7}\r\n`);
      sent.push(chunk);
      c.write(chunk.slice());
    }
    const expected = concat(sent);
    await until(() => ev.bytes >= expected.length, "echo of 20000 chunks");
    assert.ok(equalBytes(concat(ev.data), expected));
    c.close();
    await until(() => ev.closes.length === 1, "client close");
    assert.equal(ev.closes[0], undefined);
  });

  it("carries 8 MiB each way with backpressure: write returns false, onDrain fires", async () => {
    const s = await echo();
    const ev = newEvents();
    const c = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    const big = pattern(8 << 20, 7);
    const ok = c.write(big.slice());
    assert.equal(ok, false);
    assert.ok(c.bufferedAmount() > 0);
    await until(() => ev.drains >= 1, "client onDrain", 15000);
    await until(() => ev.bytes >= big.length, "8 MiB echoed", 15000);
    assert.equal(ev.bytes, big.length);
    assert.ok(equalBytes(concat(ev.data), big));
    assert.equal(c.bufferedAmount(), 0);
    c.close();
    await until(() => ev.closes.length === 1, "client close");
  });

  it("hands lent buffers back only once sent: a writer reusing them does not change what the peer gets", async () => {
    const s = await echo();
    const ev = newEvents();
    const c = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    // Two buffers alternate, as OutBuffer.lend does; a buffer is refilled only after its release.
    const spare: Uint8Array[] = [new Uint8Array(64 * 1024), new Uint8Array(64 * 1024)];
    let released = 0;
    const release = (d: Uint8Array) => {
      released++;
      d.fill(0xee); // scribble: if the transport still read it, the echo would show it
      spare.push(d);
    };
    const want = pattern(64 * 1024 * 40, 5);
    let off = 0;
    while (off < want.length) {
      if (spare.length === 0) {
        await until(() => spare.length > 0, "a buffer handed back", 10000);
        continue;
      }
      const b = spare.pop() as Uint8Array;
      b.set(want.subarray(off, off + b.length));
      off += b.length;
      c.write(b, release);
    }
    await until(() => ev.bytes >= want.length, "echo of 2.5 MiB", 15000);
    assert.ok(equalBytes(concat(ev.data), want));
    assert.equal(released, 40);
    c.close();
    await until(() => ev.closes.length === 1, "client close");
  });

  it("writes a small batch at once from the caller's memory where it can (writeNow); what the kernel does not take is kept in order", async () => {
    const s = await echo();
    const ev = newEvents();
    const c = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev));
    // One buffer, refilled right after each call as OutBuffer does once writeNow took the bytes. The echo server
    // is in this process: it reads nothing during the loop, so the kernel's buffers fill and later batches are held.
    const want = pattern(4000 * 4096, 3);
    const buf = new Uint8Array(4000);
    let now = 0;
    let declined = 0;
    for (let off = 0; off < want.length; off += buf.length) {
      buf.set(want.subarray(off, off + buf.length));
      const r = c.writeNow?.(buf, buf.length);
      if (r === undefined) {
        declined++;
        c.write(buf.slice());
      } else now++;
      buf.fill(0xee); // scribble: bytes the transport kept without copying would show it in the echo
    }
    if (c.writeNow !== undefined) {
      assert.ok(now > 0, "small batches written at once");
      assert.ok(declined > 0, "once the kernel's buffers were full, batches queued behind the held rest");
    }
    await until(() => ev.bytes >= want.length, "echo of 16 MB", 20000);
    assert.ok(equalBytes(concat(ev.data), want));
    c.close();
    await until(() => ev.closes.length === 1, "client close");
  });

  it("frees a read the core hands back (recycleRead, only with freshReads; a small one is left to the collector) without touching the reads after it", async () => {
    const got: Uint8Array[] = [];
    let recycled = 0;
    let detached = 0;
    let kept = 0;
    let offered: boolean | undefined;
    const listener = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, (conn) => {
      offered = conn.recycleRead !== undefined;
      if (offered) assert.equal(conn.freshReads, true, "recycling is for fresh reads only");
      return {
        onData(d) {
          const copy = d.slice();
          got.push(copy);
          if (conn.recycleRead === undefined) return;
          conn.recycleRead(d);
          recycled++;
          // Bun: a read of RECYCLE_MIN (16 KiB) or more is detached at once, a smaller one stays intact.
          if (d.length === 0) {
            detached++;
            return;
          }
          kept++;
          assert.ok(d.length < 16 * 1024 && equalBytes(d, copy), "only a small read is left to the collector, unchanged");
        },
        onDrain() {},
        onClose() {},
      };
    });
    try {
      const ev = newEvents();
      const c = await tcpTransport.dial({ host: "127.0.0.1", port: listener.port }, () => collector(ev));
      const want = pattern(3 * 1024 * 1024, 9);
      for (let off = 0; off < want.length; off += 256 * 1024) c.write(want.slice(off, off + 256 * 1024));
      await until(() => got.reduce((n, d) => n + d.length, 0) >= want.length, "3 MiB read", 15000);
      assert.ok(equalBytes(concat(got), want), "every read intact after the ones before it were freed");
      // A sync publish's size: one small read, kept for the collector (detaching it cost more than it freed).
      c.write(pattern(100, 5));
      await until(() => got.reduce((n, d) => n + d.length, 0) >= want.length + 100, "the small write");
      assert.equal(recycled, offered ? got.length : 0);
      if (offered) {
        assert.ok(detached > 0, "the large reads of 3 MiB were detached");
        assert.ok(kept > 0, "the 100-byte read was left intact");
      }
      c.close();
    } finally {
      await listener.close();
    }
  });

  it("flushes queued bytes before closing (server writes then closes)", async () => {
    const payload = pattern(2 << 20, 3);
    const l = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, (conn) => {
      conn.write(payload.slice());
      conn.close();
      return { onData() {}, onDrain() {}, onClose() {} };
    });
    try {
      const ev = newEvents();
      await tcpTransport.dial({ host: "127.0.0.1", port: l.port }, () => collector(ev));
      await until(() => ev.closes.length === 1, "client sees close", 10000);
      assert.equal(ev.bytes, payload.length);
      assert.ok(equalBytes(concat(ev.data), payload));
      closedOnce.push({ what: "client of a server that wrote then closed", ev });
    } finally {
      await l.close();
    }
  });

  it("calls onClose exactly once on both sides, whichever side closes", async () => {
    const s = await echo();
    // client closes
    const ev1 = newEvents();
    const c1 = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev1));
    c1.write(new TextEncoder().encode("hello"));
    await until(() => ev1.bytes === 5, "echo");
    const srv1 = s.events[s.events.length - 1];
    c1.close();
    c1.close();
    assert.equal(c1.write(new Uint8Array([1])), false);
    await until(() => ev1.closes.length === 1 && srv1.closes.length === 1, "both closes");
    // server closes
    const ev2 = newEvents();
    const c2 = await tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev2));
    c2.write(new TextEncoder().encode("x"));
    await until(() => ev2.bytes === 1, "echo");
    const srv2 = s.events[s.events.length - 1];
    s.conns[s.conns.length - 1].close();
    await until(() => ev2.closes.length === 1 && srv2.closes.length === 1, "both closes");
    assert.deepEqual([ev1.closes.length, srv1.closes.length, ev2.closes.length, srv2.closes.length], [1, 1, 1, 1]);
    closedOnce.push({ what: "closing client", ev: ev1 }, { what: "its server end", ev: srv1 });
    closedOnce.push({ what: "client of a closing server", ev: ev2 }, { what: "the closing server end", ev: srv2 });
  });

  it("survives a peer that vanishes mid-stream", async () => {
    let server: Duplex | undefined;
    const sev = newEvents();
    const chunk = pattern(64 * 1024, 5);
    let writing = true;
    const l = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, (conn) => {
      server = conn;
      return {
        onData() {},
        onDrain() {
          sev.drains++;
          // keep the pipe full until the peer is gone
          while (writing && conn.write(chunk)) { /* fill */ }
        },
        onClose(err) {
          writing = false;
          sev.closes.push(err);
        },
      };
    });
    try {
      const cev = newEvents();
      const c = await tcpTransport.dial({ host: "127.0.0.1", port: l.port }, () => collector(cev));
      await until(() => server !== undefined, "accept");
      while (server!.write(chunk)) { /* fill */ }
      await until(() => cev.bytes > 256 * 1024, "some bytes arrive");
      destroy(c);
      await until(() => sev.closes.length === 1 && cev.closes.length === 1, "server notices the vanished peer", 10000);
      closedOnce.push({ what: "server end of a vanished peer", ev: sev }, { what: "the vanished client", ev: cev });
      assert.equal(server!.write(chunk), false);
    } finally {
      await l.close();
    }
  });

  it("closes the connection with the error when a handler throws", async () => {
    const sev = newEvents();
    const l = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, () => ({
      onData() {
        throw new Error("core bug");
      },
      onDrain() {},
      onClose(err) {
        sev.closes.push(err);
      },
    }));
    try {
      const cev = newEvents();
      const c = await tcpTransport.dial({ host: "127.0.0.1", port: l.port }, () => collector(cev));
      c.write(new TextEncoder().encode("boom"));
      await until(() => sev.closes.length === 1 && cev.closes.length === 1, "both sides closed");
      assert.match(String(sev.closes[0]), /core bug/);
    } finally {
      await l.close();
    }
  });

  it("serves 200 connections at once", async () => {
    const s = await echo();
    const n = 200;
    const evs = Array.from({ length: n }, () => newEvents());
    const conns = await Promise.all(
      evs.map((ev) => tcpTransport.dial({ host: "127.0.0.1", port: s.listener.port }, () => collector(ev))),
    );
    const msgs = conns.map((_, i) => new TextEncoder().encode(`hello from ${i}\n`));
    conns.forEach((c, i) => c.write(msgs[i]));
    await until(() => evs.every((ev, i) => ev.bytes === msgs[i].length), "200 echoes", 10000);
    for (let i = 0; i < n; i++) assert.ok(equalBytes(concat(evs[i].data), msgs[i]));
    for (const c of conns) c.close();
    await until(() => evs.every((ev) => ev.closes.length === 1), "200 client closes", 10000);
    const serverSide = s.events.slice(-n);
    await until(() => serverSide.every((ev) => ev.closes.length === 1), "200 server closes", 10000);
  });

  it("rejects a dial to a port nobody listens on", async () => {
    const l = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, () => ({
      onData() {},
      onDrain() {},
      onClose() {},
    }));
    const port = l.port;
    await l.close();
    await assert.rejects(tcpTransport.dial({ host: "127.0.0.1", port }, () => collector(newEvents())));
  });

  it("works with the raw client helper and a custom high-water mark", async () => {
    const t = createTcpTransport({ highWaterMark: 16 });
    const s = await startEcho(t);
    servers.push(s);
    const raw = await openRaw(t, { host: "127.0.0.1", port: s.listener.port });
    assert.equal(raw.write("PING\r\n"), true);
    assert.equal(raw.write("a much longer line than sixteen bytes\r\n"), false);
    const text = await raw.waitFor("sixteen bytes\r\n");
    assert.equal(text, "PING\r\na much longer line than sixteen bytes\r\n");
    raw.close();
    assert.equal(await raw.closed, undefined);
  });

  it("a connection dropped from inside its accept (a write there found the socket gone) tells the handler the accept returns", async () => {
    const ev = newEvents();
    const listener = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, (conn) => {
      destroy(conn);
      return collector(ev);
    });
    try {
      const peer = newEvents();
      await tcpTransport.dial({ host: "127.0.0.1", port: listener.port }, () => collector(peer)).catch(() => undefined);
      await until(() => ev.closes.length === 1, "the accepted end's close, told to its handler");
      closedOnce.push({ what: "an end dropped inside its accept", ev });
    } finally {
      await listener.close();
    }
  });

  it("called each onClose above exactly once (checked last: the tests in between are the window)", () => {
    assert.equal(closedOnce.length, 8, "every close above was registered");
    for (const { what, ev } of closedOnce) assert.equal(ev.closes.length, 1, `${what}: onClose called ${ev.closes.length} times`);
  });
});
