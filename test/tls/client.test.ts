// TLS on the client listener, differential against nats-server 2.9: plain INFO with tls_required, then the
// client upgrades the same socket. The official client (tls: { caFile }), raw sockets upgraded with node:tls,
// client certificates (verify), verify_and_map, /connz and /varz, bad input (plaintext, no certificate, a
// certificate from another CA, a handshake that never starts), and start-up errors for unreadable files.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectRaw, readInfo } from "../helpers/raw.ts";
import { connectTlsRaw } from "../helpers/tls_raw.ts";
import { forEachServer, MOD_TS, monitorJson, NATS_SERVER_BIN, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { collect, connectTo, te } from "../helpers/nats.ts";
import { connect as legacyConnect } from "nats";
import { testCerts } from "../helpers/certs.ts";
import { connectWss } from "../helpers/wss.ts";

const certs = testCerts();
const q = (p: string) => JSON.stringify(p);

function tlsConf(extra = ""): string {
  return `tls {\n  cert_file: ${q(certs.serverCert)}\n  key_file: ${q(certs.serverKey)}\n  ca_file: ${q(certs.caFile)}\n${extra}}\n`;
}

async function roundTrip(nc: NatsConnection, subject = "tls.echo"): Promise<void> {
  const got = collect(nc, subject);
  await nc.flush();
  nc.publish(subject, te.encode("over tls"));
  await got.until(1);
  assert.equal(new TextDecoder().decode(got.msgs[0].data), "over tls");
  got.sub.unsubscribe();
}

interface ConnzConn {
  cid: number;
  tls_version?: string;
  tls_cipher_suite?: string;
  authorized_user?: string;
  name?: string;
}

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("tls {} without client certificates", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: tlsConf("  timeout: 1\n"), monitor: true });
    });
    after(() => server?.stop());

    it("sends a plain INFO with tls_required, then the official client upgrades", async () => {
      const raw = await connectRaw(server.port);
      const info = await readInfo(raw);
      raw.close();
      assert.equal(info.tls_required, true);
      assert.equal(info.tls_verify, undefined);
      const nc = await connectTo(server, { tls: { caFile: certs.caFile }, name: "tls-client" });
      try {
        await roundTrip(nc);
        const connz = await monitorJson<{ connections: ConnzConn[] }>(server, "/connz");
        const me = connz.connections.find((c) => c.name === "tls-client");
        assert.ok(me !== undefined);
        assert.match(me.tls_version ?? "", /^1\.[23]$/);
        assert.match(me.tls_cipher_suite ?? "", /^TLS_/);
        const varz = await monitorJson<Record<string, unknown>>(server, "/varz");
        assert.equal(varz.tls_required, true);
        assert.equal(varz.tls_verify, undefined);
        assert.equal(varz.tls_timeout, 1);
        assert.equal(varz.auth_timeout, 2, "with TLS the default auth timeout is the TLS timeout + 1 s");
      } finally {
        await nc.close();
      }
    });

    it("the legacy client (nats v2) connects with its tls options too", async () => {
      const nc = await legacyConnect({ servers: server.url, tls: { caFile: certs.caFile }, reconnect: false, timeout: 5000 });
      try {
        const got: string[] = [];
        nc.subscribe("legacy.tls", { callback: (_e, m) => void got.push(new TextDecoder().decode(m.data)) });
        nc.publish("legacy.tls", te.encode("v2"));
        await nc.flush();
        await waitFor("the legacy client's message", () => got.length === 1, 3000, 10);
        assert.deepEqual(got, ["v2"]);
      } finally {
        await nc.close();
      }
    });

    it("speaks the protocol inside TLS on a raw socket", async () => {
      const { c } = await connectTlsRaw(server.port, { ca: certs.pem(certs.caFile) });
      try {
        await c.send('CONNECT {"verbose":false,"pedantic":false}\r\nSUB raw.tls 1\r\nPUB raw.tls 5\r\nhello\r\nPING\r\n');
        const text = await c.readUntil("PONG\r\n");
        assert.match(text, /MSG raw\.tls 1 5\r\nhello\r\n/);
      } finally {
        c.close();
      }
    });

    it("a plaintext client gets the INFO and is then dropped without a reply", async () => {
      const raw = await connectRaw(server.port);
      await readInfo(raw);
      await raw.send('CONNECT {"verbose":false}\r\nPING\r\n');
      await raw.expectClosed(3000);
      assert.ok(!raw.text().includes("PONG"));
      // the server is unaffected
      const nc = await connectTo(server, { tls: { caFile: certs.caFile } });
      await roundTrip(nc);
      await nc.close();
    });

    it("a truncated handshake, then a hang-up, leaves the server serving others", async () => {
      for (let i = 0; i < 3; i++) {
        const raw = await connectRaw(server.port);
        await readInfo(raw);
        // the first bytes of a TLS ClientHello record, and no more
        await raw.send(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
        raw.close();
      }
      const nc = await connectTo(server, { tls: { caFile: certs.caFile } });
      await roundTrip(nc, "after.truncated");
      await nc.close();
    });

    it("a handshake that never starts is dropped after the timeout", async () => {
      const raw = await connectRaw(server.port);
      await readInfo(raw);
      await raw.expectClosed(4000);
    });

    it("the client refuses a server certificate from a CA it does not trust", async () => {
      await assert.rejects(connectTlsRaw(server.port, { ca: certs.pem(certs.otherCaFile) }));
    });
  });

  describe("tls { verify: true }", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: tlsConf("  verify: true\n"), monitor: true });
    });
    after(() => server?.stop());

    it("accepts a client certificate signed by ca_file", async () => {
      const raw = await connectRaw(server.port);
      const info = await readInfo(raw);
      raw.close();
      assert.equal(info.tls_verify, true);
      const nc = await connectTo(server, { tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey } });
      await roundTrip(nc);
      await nc.close();
      const varz = await monitorJson<Record<string, unknown>>(server, "/varz");
      assert.equal(varz.tls_verify, true);
    });

    it("refuses a client without a certificate and one from another CA", async () => {
      for (const tls of [
        { caFile: certs.caFile },
        { caFile: certs.caFile, certFile: certs.otherClientCert, keyFile: certs.otherClientKey },
      ]) {
        await assert.rejects(connectTo(server, { tls, timeout: 3000 }));
      }
      // raw: whatever the handshake said, no PONG ever comes back
      const r = await connectTlsRaw(server.port, {
        ca: certs.pem(certs.caFile),
        cert: certs.pem(certs.otherClientCert),
        key: certs.pem(certs.otherClientKey),
      }).catch(() => undefined);
      if (r !== undefined) {
        await r.c.send("CONNECT {}\r\nPING\r\n");
        await r.c.expectClosed(3000);
        assert.ok(!r.c.text().includes("PONG"));
      }
    });
  });

  describe("tls { verify_and_map: true }", () => {
    let server: RunningServer;
    before(async () => {
      const users = `authorization {\n  users = [\n    { user: "alice@petrel.test", permissions: { publish: "alice.>", subscribe: "alice.>" } }\n    { user: "CN=bob,OU=ops,O=Petrel" }\n  ]\n}\n`;
      server = await startServer(kind, { conf: tlsConf("  verify_and_map: true\n") + users, monitor: true });
    });
    after(() => server?.stop());

    it("maps the email SAN and the subject to configured users", async () => {
      const alice = await connectTo(server, { name: "alice", tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey } });
      const bob = await connectTo(server, { name: "bob", tls: { caFile: certs.caFile, certFile: certs.bobCert, keyFile: certs.bobKey } });
      try {
        await roundTrip(alice, "alice.x");
        await roundTrip(bob, "anything");
        const connz = await monitorJson<{ connections: ConnzConn[] }>(server, "/connz?auth=true");
        const byName = new Map(connz.connections.map((c) => [c.name, c.authorized_user]));
        assert.equal(byName.get("alice"), "alice@petrel.test");
        assert.equal(byName.get("bob"), "CN=bob,OU=ops,O=Petrel");
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  });

  describe("--tls flags", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { args: ["--tls", "--tlscert", certs.serverCert, "--tlskey", certs.serverKey] });
    });
    after(() => server?.stop());

    it("serve TLS like the tls {} block", async () => {
      const nc = await connectTo(server, { tls: { caFile: certs.caFile } });
      assert.equal(nc.info?.tls_required, true);
      await roundTrip(nc);
      await nc.close();
    });
  });

  describe("monitoring over HTTPS (-ms)", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: tlsConf(), args: ["-ms", "-1"] });
    });
    after(() => server?.stop());

    it("serves /varz over HTTPS with the tls {} certificate, and nothing in the clear", async () => {
      assert.ok(server.monitorUrl !== undefined, "the ports file lists the monitoring URL");
      const port = Number(new URL(server.monitorUrl).port);
      const body = await new Promise<string>((resolve, reject) => {
        httpsGet({ host: "127.0.0.1", port, path: "/varz", ca: certs.pem(certs.caFile), servername: "localhost" }, (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve(text));
        }).on("error", reject);
      });
      const varz = JSON.parse(body) as Record<string, unknown>;
      assert.equal(varz.https_port, -1, "the configured value, as nats-server reports it");
      assert.equal(varz.http_port, 0);
      assert.equal(varz.tls_required, true);
      await assert.rejects(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/varz`);
        if (r.status === 200) await r.json();
        else throw new Error(`HTTP ${r.status}`);
      });
    });
  });

  describe("websocket { tls {} } (wss://)", () => {
    let server: RunningServer;
    before(async () => {
      const ws = `websocket {\n  listen: "127.0.0.1:-1"\n  tls {\n    cert_file: ${q(certs.serverCert)}\n    key_file: ${q(certs.serverKey)}\n  }\n}\n`;
      server = await startServer(kind, { conf: ws, monitor: true });
    });
    after(() => server?.stop());

    it("speaks NATS over wss:// with a certificate the test CA signed", async () => {
      const varz = await monitorJson<{ websocket: { port: number; no_tls?: boolean } }>(server, "/varz");
      const ws = await connectWss(varz.websocket.port, certs.pem(certs.caFile));
      try {
        await ws.readUntil("INFO ");
        ws.send('CONNECT {"verbose":false,"pedantic":false}\r\nSUB wss.x 1\r\nPUB wss.x 2\r\nhi\r\nPING\r\n');
        const text = await ws.readUntil("PONG\r\n");
        assert.match(text, /MSG wss\.x 1 2\r\nhi\r\n/);
      } finally {
        ws.close();
      }
      // plain HTTP on the wss:// port is refused (a TLS error, or Go's "400 client sent an HTTP request to an
      // HTTPS server"), never served
      const plain = await fetch(`http://127.0.0.1:${varz.websocket.port}/`).then(async (r) => {
        await r.text();
        return r.status;
      }, () => 0);
      assert.ok(plain === 0 || plain === 400, `plain HTTP got ${plain}`);
    });
  });

  describe("reload (SIGHUP)", () => {
    async function servedFingerprint(port: number): Promise<string> {
      const { c, socket } = await connectTlsRaw(port, { ca: certs.pem(certs.caFile) });
      const fp = socket.getPeerCertificate().fingerprint256;
      c.close();
      return fp;
    }

    it("rotates the certificate; a reload naming a missing file keeps the current one", async () => {
      const confPath = join(certs.dir, `reload-${kind}.conf`);
      const conf = (cert: string, key: string) =>
        `tls {\n  cert_file: ${q(cert)}\n  key_file: ${q(key)}\n}\n`;
      writeFileSync(confPath, conf(certs.serverCert, certs.serverKey));
      const server = await startServer(kind, { args: ["-c", confPath] });
      try {
        const first = new X509Certificate(certs.pem(certs.serverCert)).fingerprint256;
        const second = new X509Certificate(certs.pem(certs.server2Cert)).fingerprint256;
        assert.equal(await servedFingerprint(server.port), first);
        writeFileSync(confPath, conf(certs.server2Cert, certs.server2Key));
        process.kill(server.pid, "SIGHUP");
        await waitFor("the rotated certificate", async () => (await servedFingerprint(server.port)) === second, 5000, 50);
        writeFileSync(confPath, conf(join(certs.dir, "gone.pem"), certs.server2Key));
        process.kill(server.pid, "SIGHUP");
        await waitFor("the failed reload in the log", () => /Failed to reload/.test(server.logs()), 5000, 50);
        assert.equal(await servedFingerprint(server.port), second);
      } finally {
        await server.stop();
      }
    });
  });

  describe("start-up", () => {
    it("-t reads the certificate files: a missing one fails the check, naming it", () => {
      const conf = join(certs.dir, `t-${kind}.conf`);
      writeFileSync(conf, `tls {\n  cert_file: ${q(join(certs.dir, "absent.pem"))}\n  key_file: ${q(certs.serverKey)}\n}\n`);
      const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
      const [cmd, pre] = kind === "nats-server"
        ? [NATS_SERVER_BIN, [] as string[]]
        : deno !== undefined ? [deno.execPath(), ["run", "-A", MOD_TS]] : [process.execPath, ["run", MOD_TS]];
      const r = spawnSync(cmd, [...pre, "-t", "-c", conf], { encoding: "utf8", timeout: 20_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /absent\.pem/);
    });

    it("stops with an error naming a missing certificate file", async () => {
      const missing = join(certs.dir, "nope.pem");
      const conf = `tls {\n  cert_file: ${q(missing)}\n  key_file: ${q(certs.serverKey)}\n}\n`;
      await assert.rejects(startServer(kind, { conf, startTimeoutMs: 8000 }), (e: Error) => {
        assert.match(e.message, /nope\.pem/);
        return true;
      });
    });
  });
});

describe("petrel only", () => {
  it("refuses a tls key it does not implement instead of ignoring it", async () => {
    const conf = tlsConf("  pinned_certs: [\"abc\"]\n");
    await assert.rejects(startServer("petrel", { conf, startTimeoutMs: 8000 }), (e: Error) => {
      assert.match(e.message, /pinned_certs/);
      return true;
    });
  });

  it("a cert_file that holds no certificate stops start-up", async () => {
    const bad = join(certs.dir, "garbage.pem");
    writeFileSync(bad, "not a certificate\n");
    const conf = `tls {\n  cert_file: ${q(bad)}\n  key_file: ${q(certs.serverKey)}\n}\n`;
    await assert.rejects(startServer("petrel", { conf, startTimeoutMs: 8000 }), (e: Error) => {
      assert.match(e.message, /cert_file/);
      return true;
    });
  });
});
