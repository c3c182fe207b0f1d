// A subscriber that stopped reading long enough for its publisher's stall to run out (the consumer is then marked
// exhausted and stalls nobody) and then reads again, slower than the publisher publishes, is paced again, not fed
// at the publisher's full speed until max_pending cuts it. Seen as cluster/backpressure failing on a loaded host:
// the subscriber, paused while the test polled, was marked exhausted, then cut after it resumed.
// The server's side of the subscriber's connection goes through a valve the test opens a little at a time: the
// kernel taking some of what the server wrote, without a whole drain.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { applyDefaults } from "../../src/config/normalize.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";
import { Server } from "../../src/server/server.ts";
import type { ConnHandler, Duplex, Transport } from "../../src/transport/types.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { openRaw, type RawConn } from "../../transports/raw_client.ts";
import { waitFor } from "../helpers/servers.ts";
import { sync } from "./harness.ts";

await loadSchemas();

/** A server-side connection whose writes the test lets through (closed: held, and `write` says so). */
class Valve implements Duplex {
  open = true;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  handler: ConnHandler | undefined;
  constructor(readonly inner: Duplex) {}
  get info() {
    return this.inner.info;
  }
  write(data: Uint8Array, release?: (data: Uint8Array) => void): boolean {
    if (this.open && this.#heldBytes === 0) return this.inner.write(data, release);
    const copy = data.slice();
    release?.(data);
    this.#held.push(copy);
    this.#heldBytes += copy.length;
    return false;
  }
  bufferedAmount(): number {
    return this.#heldBytes + this.inner.bufferedAmount();
  }
  close(): void {
    this.inner.close();
  }
  /** Passes up to `n` held bytes on (the reader took them); a drain is told once nothing is held. */
  let(n: number): void {
    while (n > 0 && this.#held.length > 0) {
      const head = this.#held[0];
      const take = Math.min(n, head.length);
      this.inner.write(head.slice(0, take));
      if (take === head.length) this.#held.shift();
      else this.#held[0] = head.subarray(take);
      this.#heldBytes -= take;
      n -= take;
    }
    if (this.#heldBytes === 0 && this.inner.bufferedAmount() === 0) this.handler?.onDrain();
  }
}

const MAX_PENDING = 256 * 1024;
const SIZE = 1000;
const FRAME = `MSG s 1 ${SIZE}\r\n`.length + SIZE + 2;
const pubs = (n: number) => `PUB s ${SIZE}\r\n${"x".repeat(SIZE)}\r\n`.repeat(n);

describe("server: a subscriber that reads again after a stall ran out", () => {
  let server: Server;
  const valves: Valve[] = [];
  const conns: RawConn[] = [];
  let transport: Transport;

  before(async () => {
    const mem = createMemoryTransport().transport;
    transport = {
      ...mem,
      listen: (opts, accept) =>
        mem.listen(opts, (conn) => {
          const v = new Valve(conn);
          valves.push(v);
          const h = accept(v);
          v.handler = h;
          return { onData: (d) => h.onData(d), onDrain: () => v.bufferedAmount() === 0 && h.onDrain(), onClose: (e) => h.onClose(e) };
        }),
    };
    server = new Server(applyDefaults({ host: "127.0.0.1", port: 0, max_pending: MAX_PENDING }), { transport });
    await server.start();
  });
  after(async () => {
    for (const c of conns) if (!c.isClosed()) c.close();
    await server.shutdown();
  });

  const client = async (): Promise<RawConn> => {
    const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
    conns.push(c);
    await c.waitFor(/^INFO .*\r\n/);
    c.write(`CONNECT {"verbose":false,"pedantic":false}\r\n`);
    return c;
  };

  it("is paced again once it reads, and gets everything", async () => {
    const sub = await client();
    const valve = valves[0];
    sub.write("SUB s 1\r\n");
    await sync(sub);
    const pub = await client();
    await sync(pub);
    sub.clear();

    // The reader stops; 7/8 of max_pending arrives in one write, parsed 64 KiB a turn: the slice that takes the
    // backlog past half of max_pending stalls the publisher, the last slice is held until the stall's cap passes
    // with nothing written, then comes through (the consumer is stuck: it stalls nobody now).
    valve.open = false;
    const first = Math.floor((MAX_PENDING * 7) / 8 / FRAME);
    const in0 = server.stats.in_msgs;
    pub.write(pubs(first));
    await waitFor("the stall to run out", () => server.stats.in_msgs - in0 === first, 10_000, 5);

    // It reads again (64 KiB, not a whole drain), then 16 KiB per turn of the event loop, while 4x max_pending
    // more comes at once.
    valve.open = true;
    valve.let(64 * 1024);
    const second = Math.floor((4 * MAX_PENDING) / FRAME);
    pub.write(pubs(second));
    const want = (first + second) * FRAME;
    while (sub.received().length < want && !sub.isClosed()) {
      valve.let(16 * 1024);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.equal(server.stats.slow_consumers, 0, "the subscriber was cut as a slow consumer");
    assert.equal(sub.received().length, want);
  });
});
