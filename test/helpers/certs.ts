// Test certificates, made at test time with the openssl CLI (Debian's openssl package): a CA, a server
// certificate for localhost/127.0.0.1, client certificates with a subject and an email SAN, and a second,
// unrelated CA with its own client certificate (the "other CA" a server must refuse). Made once per process.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  /** A second server certificate (another key) for the same names: certificate rotation. */
  server2Cert: string;
  server2Key: string;
  /** CN=alice, O=Petrel, email SAN alice@petrel.test */
  clientCert: string;
  clientKey: string;
  /** CN=bob, OU=ops, O=Petrel */
  bobCert: string;
  bobKey: string;
  /** A CA nobody trusts, and a client certificate it signed (CN=mallory). */
  otherCaFile: string;
  otherClientCert: string;
  otherClientKey: string;
  /** PEM text of the files above. */
  pem(file: string): string;
}

let made: TestCerts | undefined;

function ssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string, cn: string): void {
  ssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-key.pem`, "-out", `${name}.pem`, "-days", "3650", "-subj", `/CN=${cn}`]);
}

function makeLeaf(dir: string, ca: string, name: string, subj: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  ssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", subj]);
  ssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}-key.pem`, "-CAcreateserial",
    "-out", `${name}-cert.pem`, "-days", "3650", "-extfile", `${name}.ext`,
  ]);
}

/** The certificates for this test process (generated on first use). */
export function testCerts(): TestCerts {
  if (made !== undefined) return made;
  const dir = mkdtempSync(join(tmpdir(), "petrel-certs-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir, "ca", "Petrel Test CA");
  makeCa(dir, "other-ca", "Other Test CA");
  makeLeaf(dir, "ca", "server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  makeLeaf(dir, "ca", "server2", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  makeLeaf(dir, "ca", "client", "/O=Petrel/CN=alice", "subjectAltName=email:alice@petrel.test\nextendedKeyUsage=clientAuth\n");
  makeLeaf(dir, "ca", "bob", "/O=Petrel/OU=ops/CN=bob", "extendedKeyUsage=clientAuth\n");
  makeLeaf(dir, "other-ca", "mallory", "/CN=mallory", "extendedKeyUsage=clientAuth\n");
  const f = (n: string) => join(dir, n);
  made = {
    dir,
    caFile: f("ca.pem"),
    serverCert: f("server-cert.pem"),
    serverKey: f("server-key.pem"),
    server2Cert: f("server2-cert.pem"),
    server2Key: f("server2-key.pem"),
    clientCert: f("client-cert.pem"),
    clientKey: f("client-key.pem"),
    bobCert: f("bob-cert.pem"),
    bobKey: f("bob-key.pem"),
    otherCaFile: f("other-ca.pem"),
    otherClientCert: f("mallory-cert.pem"),
    otherClientKey: f("mallory-key.pem"),
    pem: (file: string) => readFileSync(file, "utf8"),
  };
  return made;
}
