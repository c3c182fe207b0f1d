/**
 * A server whose client connections go through a valve the test opens a little at a time: the kernel taking some
 * of what the server wrote, without a whole drain (a slow reader, a paced one, or a stuck one).
 */
import { applyDefaults, type OptionLayer } from "../../src/config/normalize.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";
import { Server } from "../../src/server/server.ts";
import type { ConnHandler, Duplex, Transport } from "../../src/transport/types.ts";
import { createMemoryTransport } from "../../transports/memory.ts";
import { openRaw, type RawConn } from "../../transports/raw_client.ts";
import { sync } from "./harness.ts";

await loadSchemas();

/** A server-side connection whose writes the test lets through (closed: held, and `write` says so). */
export class Valve implements Duplex {
  open = true;
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  handler: ConnHandler | undefined;
  /** Called after a write was held, with its size (a reader that reads as the server writes lets some through). */
  afterHold: ((bytes: number) => void) | undefined;
  constructor(readonly inner: Duplex) {}
  get info() {
    return this.inner.info;
  }
  get heldBytes(): number {
    return this.#heldBytes;
  }
  write(data: Uint8Array, release?: (data: Uint8Array) => void): boolean {
    if (this.open && this.#heldBytes === 0) return this.inner.write(data, release);
    const copy = data.slice();
    release?.(data);
    this.#held.push(copy);
    this.#heldBytes += copy.length;
    this.afterHold?.(copy.length);
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

export interface ValvedServer {
  server: Server;
  /** The valve of each accepted connection, in the order they came. */
  valves: Valve[];
  /** Dial, wait for INFO, send CONNECT. */
  client(): Promise<RawConn>;
  /** A subscriber to `subject` (sid 1) and a publisher, both synced; the subscriber's valve; nothing received yet. */
  subscriberAndPublisher(subject: string): Promise<{ sub: RawConn; valve: Valve; pub: RawConn }>;
  stop(): Promise<void>;
}

export async function startValvedServer(layer: OptionLayer): Promise<ValvedServer> {
  const valves: Valve[] = [];
  const conns: RawConn[] = [];
  const mem = createMemoryTransport().transport;
  const transport: Transport = {
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
  const server = new Server(applyDefaults({ host: "127.0.0.1", port: 0, ...layer }), { transport });
  await server.start();
  const client = async (): Promise<RawConn> => {
    const c = await openRaw(transport, { host: "127.0.0.1", port: server.clientPort });
    conns.push(c);
    await c.waitFor(/^INFO .*\r\n/);
    c.write(`CONNECT {"verbose":false,"pedantic":false}\r\n`);
    return c;
  };
  return {
    server,
    valves,
    client,
    async subscriberAndPublisher(subject) {
      const sub = await client();
      const valve = valves[valves.length - 1];
      sub.write(`SUB ${subject} 1\r\n`);
      await sync(sub);
      const pub = await client();
      await sync(pub);
      sub.clear();
      return { sub, valve, pub };
    },
    async stop() {
      for (const c of conns) if (!c.isClosed()) c.close();
      await server.shutdown();
    },
  };
}
