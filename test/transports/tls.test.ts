// The TCP transport's startTls capability: a plain greeting, then both ends upgrade the same socket (the way
// nats-server does it after INFO), on whichever runtime runs the test. Certificates are made with openssl.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ConnHandler, Duplex, Listener, TlsInfo, TlsSettings } from "../../src/transport/types.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { testCerts } from "../helpers/certs.ts";
import { collector, concat, equalBytes, newEvents, pattern, until } from "./echo.ts";

// The TLS code loads on demand (transports/tls_loader.ts); the server awaits it when its options use TLS.
await tcpTransport.loadTls?.();

const enc = new TextEncoder();
const listeners: Listener[] = [];
after(async () => {
  for (const l of listeners) await l.close();
});

function serverSettings(verify: boolean): TlsSettings {
  const c = testCerts();
  return { role: "server", cert: c.pem(c.serverCert), key: c.pem(c.serverKey), ca: c.pem(c.caFile), verify };
}

interface Accepted {
  conn: Duplex;
  tls: Promise<TlsInfo>;
}

/** A server that greets in the clear, upgrades, then echoes cleartext. */
async function tlsEcho(settings: TlsSettings): Promise<{ port: number; accepted: Accepted[] }> {
  const accepted: Accepted[] = [];
  const l = await tcpTransport.listen({ host: "127.0.0.1", port: 0 }, (conn): ConnHandler => {
    conn.write(enc.encode("HELLO\r\n"));
    assert.ok(conn.startTls !== undefined, "tcp offers startTls");
    const tls = conn.startTls(settings);
    tls.catch(() => {});
    accepted.push({ conn, tls });
    return {
      onData: (d) => void conn.write(d.slice()),
      onDrain() {},
      onClose() {},
    };
  });
  listeners.push(l);
  return { port: l.port, accepted };
}

async function dialAndUpgrade(port: number, client: TlsSettings) {
  const ev = newEvents();
  const conn = await tcpTransport.dial({ host: "127.0.0.1", port }, () => collector(ev));
  await until(() => ev.bytes >= 7, "plain greeting");
  assert.equal(new TextDecoder().decode(concat(ev.data)), "HELLO\r\n");
  ev.data.length = 0;
  ev.bytes = 0;
  const info = conn.startTls!(client);
  return { conn, ev, info };
}

describe("tcp transport: startTls", () => {
  it("upgrades after a plain greeting and carries cleartext both ways", async () => {
    const c = testCerts();
    const srv = await tlsEcho(serverSettings(false));
    const { conn, ev, info } = await dialAndUpgrade(srv.port, { role: "client", ca: c.pem(c.caFile), verify: true, serverName: "localhost" });
    const ti = await info;
    assert.match(ti.version, /^1\.[23]$/);
    assert.ok(ti.cipher.length > 0);
    assert.deepEqual(conn.info.tls, ti);
    const payload = pattern(300_000);
    for (let off = 0; off < payload.length; off += 7000) conn.write(payload.slice(off, off + 7000));
    await until(() => ev.bytes >= payload.length, "echo over TLS");
    assert.ok(equalBytes(concat(ev.data), payload));
    const server = await srv.accepted[0].tls;
    assert.equal(server.version, ti.version);
    assert.equal(server.peer, undefined, "no client certificate was asked for");
    conn.close();
    await until(() => ev.closes.length === 1, "close");
  });

  it("verifies a client certificate against the CA and reports its subject", async () => {
    const c = testCerts();
    const srv = await tlsEcho(serverSettings(true));
    const { info } = await dialAndUpgrade(srv.port, {
      role: "client", ca: c.pem(c.caFile), cert: c.pem(c.clientCert), key: c.pem(c.clientKey), verify: true, serverName: "localhost",
    });
    await info;
    const server = await srv.accepted[0].tls;
    assert.ok(server.peer !== undefined);
    assert.deepEqual(new Map(server.peer.subject), new Map([["CN", "alice"], ["O", "Petrel"]]));
    assert.deepEqual(server.peer.emails, ["alice@petrel.test"]);
  });

  it("refuses a client without a certificate, and one from another CA", async () => {
    const c = testCerts();
    const srv = await tlsEcho(serverSettings(true));
    for (const client of [
      { role: "client" as const, ca: c.pem(c.caFile), verify: true, serverName: "localhost" },
      { role: "client" as const, ca: c.pem(c.caFile), cert: c.pem(c.otherClientCert), key: c.pem(c.otherClientKey), verify: true, serverName: "localhost" },
    ]) {
      const before = srv.accepted.length;
      const { conn, ev, info } = await dialAndUpgrade(srv.port, client);
      info.catch(() => {});
      await until(() => srv.accepted.length === before + 1, "accepted");
      await assert.rejects(srv.accepted[before].tls);
      // with TLS 1.3 the client finishes before the server has judged its certificate: it sees a close
      await until(() => ev.closes.length === 1, "client side closed");
      assert.equal(conn.write(enc.encode("PING\r\n")), false);
    }
  });

  it("a client refuses a server certificate from a CA it does not trust", async () => {
    const c = testCerts();
    const srv = await tlsEcho(serverSettings(false));
    const { ev, info } = await dialAndUpgrade(srv.port, { role: "client", ca: c.pem(c.otherCaFile), verify: true, serverName: "localhost" });
    await assert.rejects(info);
    await until(() => ev.closes.length === 1, "closed after refusal");
    await assert.rejects(srv.accepted[0].tls);
  });

  it("plaintext on a TLS connection fails the handshake and closes", async () => {
    const srv = await tlsEcho(serverSettings(false));
    const ev = newEvents();
    const conn = await tcpTransport.dial({ host: "127.0.0.1", port: srv.port }, () => collector(ev));
    await until(() => ev.bytes >= 7, "plain greeting");
    conn.write(enc.encode("CONNECT {}\r\nPING\r\n"));
    await until(() => srv.accepted.length === 1, "accepted");
    await assert.rejects(srv.accepted[0].tls);
    await until(() => ev.closes.length === 1, "closed");
    assert.ok(!new TextDecoder().decode(concat(ev.data)).includes("PONG"));
  });

  it("prepareTls names a bad certificate or key", () => {
    const c = testCerts();
    assert.throws(() => tcpTransport.prepareTls!({ role: "server", cert: "nonsense", key: c.pem(c.serverKey), verify: false }), /cert_file/);
    assert.throws(
      () => tcpTransport.prepareTls!({ role: "server", cert: c.pem(c.serverCert), key: c.pem(c.clientKey), verify: false }),
      /tls:/,
    );
    tcpTransport.prepareTls!(serverSettings(true));
  });
});
