/**
 * `verify_and_map`: which configured user a verified client certificate stands for. As nats-server does it: an
 * email address of the certificate, then a DNS name, then a URI, then the subject as a distinguished name
 * ("CN=alice,O=Acme", Go's order: most specific first), where a configured DN matches whatever the order of its
 * attributes.
 */
import type { PeerCertificate } from "../transport/types.ts";

/**
 * The attributes Go's x509 Name.String() prints, in its order: it builds the RDN sequence as C, ST, L, STREET,
 * POSTALCODE, O, OU, CN, SERIALNUMBER and prints it last to first; several values of one attribute form one RDN
 * joined with "+".
 */
const GO_ORDER = ["SERIALNUMBER", "CN", "OU", "O", "POSTALCODE", "STREET", "L", "ST", "C"];
/** node:tls attribute names -> the short names Go prints. */
const ALIAS: Record<string, string> = { serialNumber: "SERIALNUMBER", postalCode: "POSTALCODE", street: "STREET" };

function norm(k: string): string {
  return ALIAS[k] ?? k.toUpperCase();
}

function escapeDn(v: string): string {
  return v.replace(/([,+"\\<>;])/g, "\\$1").replace(/^([ #])/, "\\$1").replace(/ $/, "\\ ");
}

/** The subject as Go prints it, e.g. "CN=bob,OU=ops,O=Petrel". Attributes Go does not name are left out. */
export function subjectString(peer: PeerCertificate): string {
  const rdns: string[] = [];
  for (const key of GO_ORDER) {
    const values = peer.subject.filter(([k]) => norm(k) === key).map(([, v]) => `${key}=${escapeDn(v)}`);
    if (values.length > 0) rdns.push(values.join("+"));
  }
  return rdns.join(",");
}

/** Split "CN=a,O=b" (RFC 4514 escapes honoured) into normalized attribute pairs; undefined if it is not a DN. */
export function parseDn(s: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf("=", i);
    if (eq < 0) return undefined;
    const key = s.slice(i, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9.-]*$/.test(key)) return undefined;
    let v = "";
    let j = eq + 1;
    for (; j < s.length; j++) {
      const ch = s[j];
      if (ch === "\\" && j + 1 < s.length) {
        v += s[++j];
        continue;
      }
      if (ch === "," || ch === "+") break;
      v += ch;
    }
    out.push([norm(key), v.trim()]);
    i = j + 1;
  }
  return out.length > 0 ? out : undefined;
}

function sameAttributes(a: [string, string][], b: [string, string][]): boolean {
  if (a.length !== b.length) return false;
  const key = (x: [string, string]) => `${x[0]}=${x[1]}`;
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((x, i) => x === sb[i]);
}

/** The name of the configured user this certificate maps to, or undefined. */
export function mapCertificateToUser(peer: PeerCertificate, users: readonly string[]): string | undefined {
  const known = new Set(users);
  for (const e of peer.emails) if (known.has(e)) return e;
  for (const d of peer.dnsNames) if (known.has(d)) return d;
  for (const u of peer.uris) if (known.has(u)) return u;
  const subject = subjectString(peer);
  if (subject !== "" && known.has(subject)) return subject;
  const mine = peer.subject.map(([k, v]) => [norm(k), v] as [string, string]).filter(([k]) => GO_ORDER.includes(k));
  for (const u of users) {
    const dn = parseDn(u);
    if (dn !== undefined && sameAttributes(dn, mine)) return u;
  }
  return undefined;
}
