// A byte-level WebSocket client for tests: the handshake and every frame are written by hand, so tests can
// split messages into fragments at any byte, send text or oversized frames, and stop reading.
import { Buffer } from "node:buffer";
import { connect as netConnect, type Socket } from "node:net";

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

export const OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10;

/** A client frame: always masked, as RFC 6455 requires. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const len = payload.byteLength;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + 4 + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  const dv = new DataView(out.buffer);
  if (ext === 2) dv.setUint16(2, len);
  if (ext === 8) dv.setBigUint64(2, BigInt(len));
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, 2 + ext);
  const at = 6 + ext;
  for (let i = 0; i < len; i++) out[at + i] = payload[i] ^ mask[i & 3];
  return out;
}

export interface RawWs {
  status: number;
  /** Response head, lower-cased header names. */
  headers: Record<string, string>;
  /** Body of a refused handshake (read until the server closes or 500 ms). */
  body: string;
  send(bytes: Uint8Array): void;
  sendFrame(opcode: number, payload: Uint8Array | string, fin?: boolean): void;
  /** Waits for the next data/close frame (pings are answered, pongs skipped). */
  nextFrame(timeoutMs?: number): Promise<Frame>;
  /** Concatenated binary payloads as text, until `re` matches. */
  readText(re: RegExp, timeoutMs?: number): Promise<string>;
  pause(): void;
  closed(): Promise<void>;
  destroy(): void;
}

export function rawWebSocket(port: number, headers: Record<string, string> = {}, opts: {
  method?: string;
  path?: string;
  /** Replace the standard headers entirely. */
  bare?: boolean;
} = {}): Promise<RawWs> {
  const std: Record<string, string> = opts.bare ? {} : {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64"),
  };
  const all = { ...std, ...headers };
  const head = `${opts.method ?? "GET"} ${opts.path ?? "/"} HTTP/1.1\r\n` +
    Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  return new Promise((resolve, reject) => {
    const sock: Socket = netConnect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    let isClosed = false;
    let resolvedHead = false;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of [...waiters]) w();
    };
    const closedP = new Promise<void>((r) =>
      sock.once("close", () => {
        isClosed = true;
        r();
        wake();
      })
    );
    sock.on("error", () => {});
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!resolvedHead) tryHead();
      wake();
    });
    sock.once("connect", () => sock.write(head));
    sock.once("error", (e) => {
      if (!resolvedHead) reject(e);
    });
    const wait = (timeoutMs: number, what: string) =>
      new Promise<void>((res, rej) => {
        const t = setTimeout(() => {
          waiters.delete(done);
          rej(new Error(`timeout waiting for ${what}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(t);
          waiters.delete(done);
          res();
        };
        waiters.add(done);
      });

    function tryHead(): void {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      resolvedHead = true;
      const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
      buf = buf.subarray(end + 4);
      const status = Number(lines[0].split(" ")[1]);
      const hs: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const ws: RawWs = {
        status,
        headers: hs,
        body: "",
        send: (b) => void sock.write(b),
        sendFrame: (op, p, fin = true) =>
          void sock.write(encodeFrame(op, typeof p === "string" ? new TextEncoder().encode(p) : p, fin)),
        async nextFrame(timeoutMs = 3000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const f = parseFrame();
            if (f) {
              if (f.opcode === OP_PING) {
                sock.write(encodeFrame(OP_PONG, f.payload));
                continue;
              }
              if (f.opcode === OP_PONG) continue;
              return f;
            }
            if (isClosed) throw new Error("connection closed");
            await wait(Math.max(1, deadline - Date.now()), "a frame");
          }
        },
        async readText(re, timeoutMs = 3000) {
          let text = "";
          const deadline = Date.now() + timeoutMs;
          while (!re.test(text)) {
            const f = await ws.nextFrame(Math.max(1, deadline - Date.now()));
            if (f.opcode === OP_CLOSE) throw new Error(`closed by server while reading: ${text}`);
            text += new TextDecoder().decode(f.payload);
          }
          return text;
        },
        pause: () => void sock.pause(),
        closed: () => closedP,
        destroy: () => void sock.destroy(),
      };
      if (status !== 101) {
        // A refused handshake: collect the body until the server closes or a short while passes.
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          clearTimeout(t);
          ws.body = buf.toString("utf8");
          sock.destroy();
          resolve(ws);
        };
        const t = setTimeout(finish, 500);
        closedP.then(finish);
        const check = () => {
          const len = Number(hs["content-length"] ?? "-1");
          if (len >= 0 && buf.length >= len) finish();
        };
        waiters.add(check);
        check();
        return;
      }
      resolve(ws);
    }

    function parseFrame(): Frame | undefined {
      if (buf.length < 2) return undefined;
      const b1 = buf[1] & 0x7f;
      let at = 2;
      let len = b1;
      if (b1 === 126) {
        if (buf.length < 4) return undefined;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (b1 === 127) {
        if (buf.length < 10) return undefined;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf[1] & 0x80) throw new Error("server frames must not be masked");
      if (buf.length < at + len) return undefined;
      const f: Frame = {
        fin: (buf[0] & 0x80) !== 0,
        opcode: buf[0] & 0x0f,
        payload: new Uint8Array(buf.subarray(at, at + len)),
      };
      buf = buf.subarray(at + len);
      return f;
    }
  });
}

/** Close code and reason of a close frame. */
export function closeInfo(f: Frame): { code: number; reason: string } {
  if (f.payload.byteLength < 2) return { code: 1005, reason: "" };
  return {
    code: (f.payload[0] << 8) | f.payload[1],
    reason: new TextDecoder().decode(f.payload.subarray(2)),
  };
}
