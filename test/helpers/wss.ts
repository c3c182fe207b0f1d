// A minimal WebSocket client over TLS for tests (wss://): node:tls verifies the server against a test CA, then
// the opening handshake and binary frames (masked, as a client must). Enough to speak NATS over WebSocket.
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import * as tls from "node:tls";

export interface WssClient {
  send(text: string): void;
  /** Resolves with everything received (as text) once it contains `want`. */
  readUntil(want: string, timeoutMs?: number): Promise<string>;
  close(): void;
}

function frame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : n < 65536
    ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff])
    : (() => {
      const h = Buffer.alloc(10);
      h[0] = 0x82;
      h[1] = 0x80 | 127;
      h.writeBigUInt64BE(BigInt(n), 2);
      return h;
    })();
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

export function connectWss(port: number, ca: string, timeoutMs = 3000): Promise<WssClient> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("wss connect timed out"));
    }, timeoutMs);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let text = "";
    const waiters = new Set<() => void>();
    sock.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once("secureConnect", () => {
      const key = randomBytes(16).toString("base64");
      sock.write(`GET / HTTP/1.1\r\nHost: localhost:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const client: WssClient = {
      send: (t) => void sock.write(frame(Buffer.from(t, "latin1"))),
      readUntil(want, ms = 3000) {
        return new Promise((res, rej) => {
          const check = () => {
            if (!text.includes(want)) return;
            waiters.delete(check);
            clearTimeout(t);
            res(text);
          };
          const t = setTimeout(() => {
            waiters.delete(check);
            rej(new Error(`wss: no ${JSON.stringify(want)} within ${ms} ms; got ${JSON.stringify(text.slice(-300))}`));
          }, ms);
          waiters.add(check);
          check();
        });
      },
      close: () => sock.destroy(),
    };
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.subarray(0, end).toString("latin1");
        buf = buf.subarray(end + 4);
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(head)) {
          sock.destroy();
          reject(new Error(`wss upgrade refused: ${head.split("\r\n")[0]}`));
          return;
        }
        upgraded = true;
        resolve(client);
      }
      for (;;) {
        if (buf.length < 2) break;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) break;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) break;
        const opcode = buf[0] & 0x0f;
        if (opcode === 1 || opcode === 2 || opcode === 0) text += buf.subarray(off, off + len).toString("latin1");
        buf = buf.subarray(off + len);
      }
      for (const w of [...waiters]) w();
    });
  });
}
