// Connections that arrive while a starting server holds its clients (held_conns.ts): what they send meanwhile reaches
// the real handler in order once they are served, a connection that closed while waiting is never served, the count
// and the bytes a waiting connection may send are bounded, and a server that stops first closes them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HeldConns } from "../../src/server/held_conns.ts";
import type { ConnHandler, Duplex } from "../../src/transport/types.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { waitFor } from "../helpers/servers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The real handler a served connection gets: records what it receives. */
class Recorder implements ConnHandler {
  text = "";
  closed = false;
  onData(d: Uint8Array): void {
    this.text += dec.decode(d);
  }
  onDrain(): void {}
  onClose(): void {
    this.closed = true;
  }
}

/** A listener whose connections wait in `held` (up to `max`; more are closed) until the test releases them. */
async function setup(max: number) {
  const { network } = createMemoryTransport();
  const held = new HeldConns();
  const served: Recorder[] = [];
  const listener = await network.node("srv").listen({ host: "127.0.0.1", port: 0 }, (d) => {
    const h = held.hold(d, max, () => {
      const r = new Recorder();
      served.push(r);
      return r;
    });
    if (h !== undefined) return h;
    d.close();
    return new Recorder();
  });
  const clients: { duplex: Duplex; closed: boolean }[] = [];
  const dial = async () => {
    const c = { duplex: undefined as unknown as Duplex, closed: false };
    c.duplex = await network.node("cli").dial({ host: "127.0.0.1", port: listener.port }, () => ({
      onData() {},
      onDrain() {},
      onClose() {
        c.closed = true;
      },
    }));
    clients.push(c);
    return c;
  };
  return { held, served, dial, listener };
}

describe("held client connections", () => {
  it("hands what a waiting connection sent to its handler, in order, then everything after", async () => {
    const { held, served, dial, listener } = await setup(10);
    const a = await dial();
    a.duplex.write(enc.encode("CONNECT {}\r\n"));
    a.duplex.write(enc.encode("PING\r\n"));
    await waitFor("a held", () => held.size === 1);
    assert.equal(served.length, 0, "not served while held");
    // A marker connection, dialled after a's bytes were written: once it is held, a's bytes have arrived too
    // (delivery is ordered per direction, and the listener saw a first).
    const marker = await dial();
    await waitFor("the marker held", () => held.size === 2);
    marker.duplex.close();
    await waitFor("the marker gone", () => held.size === 1);
    held.release();
    assert.equal(served.length, 1, "the closed one is not served");
    assert.equal(served[0].text, "CONNECT {}\r\nPING\r\n");
    a.duplex.write(enc.encode("PUB x 0\r\n\r\n"));
    await waitFor("later bytes", () => served[0].text.endsWith("PUB x 0\r\n\r\n"));
    a.duplex.close();
    await waitFor("close reaches the handler", () => served[0].closed);
    assert.equal(held.size, 0);
    await listener.close();
  });

  it("waits for at most max connections; more are turned away", async () => {
    const { held, dial, listener } = await setup(2);
    const [a, b, c] = [await dial(), await dial(), await dial()];
    await waitFor("the third closed", () => c.closed);
    assert.equal(held.size, 2);
    assert.ok(!a.closed && !b.closed);
    held.closeAll();
    await waitFor("closeAll closes the waiting ones", () => a.closed && b.closed);
    assert.equal(held.size, 0);
    await listener.close();
  });

  it("closes a waiting connection that sends more than a client sends before its INFO", async () => {
    const { held, served, dial, listener } = await setup(10);
    const a = await dial();
    await waitFor("a held", () => held.size === 1);
    a.duplex.write(new Uint8Array(64 * 1024 + 1));
    await waitFor("closed for its bytes", () => a.closed);
    held.release();
    assert.equal(served.length, 0);
    await listener.close();
  });
});
