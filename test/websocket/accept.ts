// ConnHandlers for transport tests that do not need Petrel's core: an echo, and a byte pipe to a TCP
// server (nats-server as the reference), so the official client can talk through our WebSocket transport.
import { Buffer } from "node:buffer";
import { connect as netConnect } from "node:net";
import type { AcceptFn, ConnHandler, ConnInfo, Duplex } from "../../src/transport/types.ts";

export interface Recorder {
  accept: AcceptFn;
  infos: ConnInfo[];
  /** Accept index -> the close error, or undefined for a clean close. */
  closes: Map<number, Error | undefined>;
  duplexes: Duplex[];
  /** Waits until connection number `i` (in accept order) has closed; returns its error. */
  waitClose(i: number, timeoutMs?: number): Promise<Error | undefined>;
}

function recorder(make: (d: Duplex, onClose: (e?: Error) => void) => ConnHandler): Recorder {
  const r: Recorder = {
    infos: [],
    closes: new Map(),
    duplexes: [],
    accept: (d) => {
      const i = r.infos.length;
      r.infos.push(d.info);
      r.duplexes.push(d);
      return make(d, (e) => {
        if (r.closes.has(i)) throw new Error("onClose called twice");
        r.closes.set(i, e);
      });
    },
    async waitClose(i, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (!r.closes.has(i)) {
        if (Date.now() > deadline) throw new Error(`connection ${i} did not close`);
        await new Promise((res) => setTimeout(res, 10));
      }
      return r.closes.get(i);
    },
  };
  return r;
}

/** Writes every message back; "FLOOD n" makes it write n chunks of 64 KiB. */
export function echo(): Recorder {
  return recorder((d, onClose) => ({
    onData(data) {
      const text = new TextDecoder().decode(data);
      const m = /^FLOOD (\d+)/.exec(text);
      if (m) {
        for (let i = 0; i < Number(m[1]); i++) d.write(new Uint8Array(64 * 1024).fill(120));
        return;
      }
      d.write(data.slice());
    },
    onDrain() {},
    onClose: onClose,
  }));
}

/** Pipes each WebSocket client to a new TCP connection on `port`. */
export function tcpProxy(port: number): Recorder {
  return recorder((d, onClose) => {
    const sock = netConnect({ host: "127.0.0.1", port });
    sock.setNoDelay(true);
    sock.on("data", (b: Buffer) => {
      if (!d.write(new Uint8Array(b))) sock.pause();
    });
    sock.on("close", () => d.close());
    sock.on("error", () => {});
    return {
      onData: (b) => void sock.write(Buffer.from(b)),
      onDrain: () => void sock.resume(),
      onClose: (e) => {
        onClose(e);
        sock.destroy();
      },
    };
  });
}
