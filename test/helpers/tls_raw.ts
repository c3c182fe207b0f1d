// A raw client for a TLS listener, the way nats-server expects one: read the plain INFO, then upgrade the same
// socket with node:tls and speak the protocol inside. Byte-level tests use it like the plain RawClient.
import { connect as netConnect, type Socket } from "node:net";
import * as tls from "node:tls";
import { type RawClient, wrapSocket } from "./raw.ts";

export interface TlsClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** Reads bytes from a plain socket up to the end of the INFO line, leaving the socket unread after it. */
function readPlainInfo(sock: Socket, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => done(new Error(`no INFO within ${timeoutMs} ms: ${JSON.stringify(text)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n");
      if (end < 0) return;
      if (end + 2 < text.length) return done(new Error(`bytes after INFO before the TLS handshake: ${JSON.stringify(text)}`));
      const line = text.slice(0, end);
      if (!line.startsWith("INFO ")) return done(new Error(`expected INFO, got ${JSON.stringify(line)}`));
      done(undefined, JSON.parse(line.slice(5)) as Record<string, unknown>);
    };
    const onClose = () => done(new Error(`closed before INFO: ${JSON.stringify(text)}`));
    const done = (err?: Error, info?: Record<string, unknown>) => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("close", onClose);
      sock.pause();
      if (err !== undefined) reject(err);
      else resolve(info as Record<string, unknown>);
    };
    sock.on("data", onData);
    sock.once("close", onClose);
    sock.once("error", (e) => done(e));
  });
}

/** Connect in the clear, read INFO, upgrade; resolves once the handshake is done (rejects if it fails). */
export function connectTlsRaw(
  port: number,
  opts: TlsClientOptions,
  timeoutMs = 3000,
): Promise<{ c: RawClient; info: Record<string, unknown>; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: "127.0.0.1", port });
    sock.once("error", reject);
    sock.once("connect", () => {
      readPlainInfo(sock, timeoutMs).then((info) => {
        const t = tls.connect({ socket: sock, ca: opts.ca, cert: opts.cert, key: opts.key, servername: opts.servername ?? "localhost" });
        const timer = setTimeout(() => {
          t.destroy();
          reject(new Error("TLS handshake timed out"));
        }, timeoutMs);
        t.once("secureConnect", () => {
          clearTimeout(timer);
          resolve({ c: wrapSocket(t), info, socket: t });
        });
        t.once("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      }, reject);
    });
  });
}
