/**
 * TLS over any byte connection, for the transports' `startTls` capability. It runs `node:tls` (OpenSSL on Bun,
 * rustls on Deno) over an in-process stream: ciphertext from the socket is pushed in, ciphertext to send comes out
 * through `rawWrite`, cleartext goes to the core. Both runtimes can do a *server-side* upgrade of an accepted
 * plain socket this way (Deno.startTls is client-only, Deno.listenTls cannot upgrade after a plain INFO nor verify
 * client certificates), so one implementation serves both; see README "TLS".
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Duplex as NodeDuplex } from "node:stream";
import * as tls from "node:tls";
import type { PeerCertificate, TlsInfo, TlsSettings } from "../src/transport/types.ts";

/** What the session needs from the connection it runs on. */
export interface RawSide {
  /** Queue ciphertext for the socket (ownership passes to the socket). */
  rawWrite(data: Uint8Array): void;
  /** Close the socket after what was queued (TLS has sent its close_notify). */
  rawClose(): void;
}

/** What the session reports to the connection. */
export interface SessionEvents {
  /** The handshake is done; called before any cleartext is delivered (the promise settles a tick later). */
  onSecure(info: TlsInfo): void;
  onClear(data: Uint8Array): void;
  /** The TLS layer failed or ended; the connection should go away. */
  onFailure(err: Error): void;
}

const contexts = new WeakMap<TlsSettings, tls.SecureContext>();
const authorities = new WeakMap<TlsSettings, X509Certificate[]>();

/** Every certificate in a PEM bundle. */
function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

function caCertificates(s: TlsSettings): X509Certificate[] {
  let cas = authorities.get(s);
  if (cas === undefined) {
    cas = s.ca === undefined ? [] : pemCertificates(s.ca);
    authorities.set(s, cas);
  }
  return cas;
}

/**
 * Our own check of a client certificate against ca_file, after the runtime's. Deno's node:tls server asks for a
 * certificate but accepts one from any CA (seen with Deno 2.9.5; see README "TLS"), so the leaf is checked here on
 * both runtimes: issued and signed by a certificate of ca_file, and within its validity period. Deno does not
 * expose the peer's intermediates, so ca_file must hold the issuing CA itself (nats-server accepts that too).
 */
/** What node:tls sockets and Bun's native TLS sockets both offer. */
export interface TlsEndpoint {
  getPeerCertificate(): unknown;
  getCipher(): unknown;
}

export function verifyClientCertificate(sock: TlsEndpoint, s: TlsSettings, now: number): string | undefined {
  let der: Buffer | undefined;
  try {
    der = (sock.getPeerCertificate() as { raw?: Buffer }).raw;
  } catch {
    der = undefined;
  }
  if (der === undefined || der.length === 0) return "client didn't provide a certificate";
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    return "client certificate does not parse";
  }
  if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) {
    return "x509: certificate has expired or is not yet valid";
  }
  const cas = caCertificates(s);
  const issuer = cas.find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
  if (issuer === undefined) return "x509: certificate signed by unknown authority";
  return undefined;
}

function secureContext(s: TlsSettings): tls.SecureContext {
  let ctx = contexts.get(s);
  if (ctx === undefined) {
    const o: tls.SecureContextOptions = {};
    if (s.cert !== undefined) o.cert = s.cert;
    if (s.key !== undefined) o.key = s.key;
    if (s.ca !== undefined) o.ca = s.ca;
    if (s.minVersion !== undefined) o.minVersion = s.minVersion;
    if (s.ciphers !== undefined) o.ciphers = s.ciphers;
    ctx = tls.createSecureContext(o);
    contexts.set(s, ctx);
  }
  return ctx;
}

/** Validate settings up front (files parse, key matches the certificate); throws an Error naming the problem. */
export function prepareTls(s: TlsSettings): void {
  if (s.role === "server" && (s.cert === undefined || s.key === undefined)) {
    throw new Error("tls: a server needs cert_file and key_file");
  }
  if ((s.cert === undefined) !== (s.key === undefined)) throw new Error("tls: cert_file and key_file go together");
  if (s.cert !== undefined && !s.cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error("tls: cert_file holds no PEM certificate");
  }
  if (s.key !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s.key)) {
    throw new Error("tls: key_file holds no PEM private key");
  }
  if (s.ca !== undefined && !s.ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error("tls: ca_file holds no PEM certificate");
  }
  try {
    if (s.cert !== undefined && s.key !== undefined) {
      const leaf = pemCertificates(s.cert)[0];
      if (!leaf.checkPrivateKey(createPrivateKey(s.key))) throw new Error("key_file does not match cert_file");
    }
    if (s.ca !== undefined) caCertificates(s);
    secureContext(s);
  } catch (e) {
    authorities.delete(s);
    contexts.delete(s);
    throw new Error(`tls: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** "TLSv1.3" -> "1.3", as nats-server prints it. */
function versionName(p: string | null): string {
  if (p === null) return "";
  return p.startsWith("TLSv") ? p.slice(4) : p;
}

function splitSans(alt: string | undefined): { emails: string[]; dnsNames: string[]; uris: string[] } {
  const out = { emails: [] as string[], dnsNames: [] as string[], uris: [] as string[] };
  if (alt === undefined || alt === "") return out;
  for (const part of alt.split(/,\s*/)) {
    const i = part.indexOf(":");
    if (i < 0) continue;
    const kind = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim().replace(/^"|"$/g, "");
    if (kind === "email") out.emails.push(value);
    else if (kind === "DNS") out.dnsNames.push(value);
    else if (kind === "URI") out.uris.push(value);
  }
  return out;
}

function peerOf(sock: TlsEndpoint): PeerCertificate | undefined {
  let c: tls.PeerCertificate | undefined;
  try {
    c = sock.getPeerCertificate() as tls.PeerCertificate | undefined;
  } catch {
    return undefined;
  }
  if (c === undefined || c === null || c.subject === undefined || Object.keys(c).length === 0) return undefined;
  const subject: [string, string][] = [];
  for (const [k, v] of Object.entries(c.subject as unknown as Record<string, string | string[]>)) {
    for (const one of Array.isArray(v) ? v : [v]) subject.push([k, String(one)]);
  }
  return { subject, ...splitSans(c.subjectaltname) };
}

/** What a finished handshake negotiated; `protocol` as the runtime spells it ("TLSv1.3"). */
export function infoOf(sock: TlsEndpoint, protocol: string | null): TlsInfo {
  const cipher = sock.getCipher() as (tls.CipherNameAndProtocol & { standardName?: string }) | null;
  const info: { version: string; cipher: string; peer?: PeerCertificate } = {
    version: versionName(protocol),
    cipher: cipher?.standardName ?? cipher?.name ?? "",
  };
  const peer = peerOf(sock);
  if (peer !== undefined) info.peer = peer;
  return info;
}

/** One TLS session over one connection. Created by `startTls`; lives until the connection closes. */
export class TlsSession {
  readonly handshake: Promise<TlsInfo>;
  info: TlsInfo | undefined;
  readonly #carrier: NodeDuplex;
  readonly #sock: tls.TLSSocket;
  #done = false;
  /** Settles the handshake promise if it is still pending. */
  readonly #abort: (err: Error) => void;

  constructor(settings: TlsSettings, raw: RawSide, events: SessionEvents) {
    let resolve!: (i: TlsInfo) => void;
    let reject!: (e: Error) => void;
    this.handshake = new Promise<TlsInfo>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that only close on failure need not observe the rejection.
    this.handshake.catch(() => {});
    this.#abort = (err) => reject(err);
    this.#carrier = new NodeDuplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        // copied: the runtime's TLS layer may reuse its output buffer once the callback has run
        raw.rawWrite(new Uint8Array(chunk));
        cb();
      },
      final(cb) {
        raw.rawClose();
        cb();
      },
    });
    const fail = (err: Error) => {
      if (this.#done) return;
      this.#done = true;
      reject(err);
      events.onFailure(err);
    };
    const secured = () => {
      if (settings.role === "server" && settings.verify) {
        const why = verifyClientCertificate(this.#sock, settings, Date.now());
        if (why !== undefined) {
          fail(new Error(`client certificate refused: ${why}`));
          this.#sock.destroy();
          return;
        }
      }
      this.info = infoOf(this.#sock, this.#sock.getProtocol());
      events.onSecure(this.info);
      resolve(this.info);
    };
    if (settings.role === "server") {
      this.#sock = new tls.TLSSocket(this.#carrier, {
        isServer: true,
        secureContext: secureContext(settings),
        requestCert: settings.verify,
        rejectUnauthorized: settings.verify,
      });
      this.#sock.once("secure", secured);
    } else {
      const o: tls.ConnectionOptions = {
        socket: this.#carrier,
        rejectUnauthorized: settings.insecure !== true,
        minVersion: settings.minVersion,
      };
      if (settings.ca !== undefined) o.ca = settings.ca;
      if (settings.cert !== undefined) o.cert = settings.cert;
      if (settings.key !== undefined) o.key = settings.key;
      if (settings.ciphers !== undefined) o.ciphers = settings.ciphers;
      if (settings.serverName !== undefined && !/^[\d.]+$|:/.test(settings.serverName)) o.servername = settings.serverName;
      if (settings.serverName !== undefined) {
        const name = settings.serverName;
        o.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
      }
      this.#sock = tls.connect(o);
      this.#sock.once("secureConnect", secured);
    }
    this.#sock.on("data", (d: Buffer) => {
      if (!this.#done) events.onClear(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    });
    this.#sock.on("error", (e: Error) => fail(e));
    this.#sock.on("end", () => fail(new Error("TLS session ended by the peer")));
    this.#sock.on("close", () => fail(new Error("TLS session closed")));
  }

  /** Ciphertext from the socket. The buffer is only valid during the call, so it is copied. */
  feed(data: Uint8Array): void {
    if (!this.#done) this.#carrier.push(Buffer.from(data));
  }

  /** Cleartext to send (ownership passes to the session). */
  write(data: Uint8Array): void {
    if (!this.#done) this.#sock.write(data);
  }

  /** Bytes the TLS layer holds that have not reached the socket yet. */
  buffered(): number {
    return this.#sock.writableLength;
  }

  /** Graceful: close_notify, then the socket closes after it. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#sock.end();
  }

  /** The socket is gone: drop the session. */
  destroy(): void {
    this.#done = true;
    this.#abort(new Error("connection closed before the TLS handshake completed"));
    this.#sock.destroy();
    this.#carrier.destroy();
  }
}
