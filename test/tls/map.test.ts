// verify_and_map's pure part: which configured user a certificate names (email, DNS, URI, then the subject as Go
// prints it, or a configured DN in any attribute order).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mapCertificateToUser, parseDn, subjectString } from "../../src/tls/map.ts";
import type { PeerCertificate } from "../../src/transport/types.ts";

function peer(subject: [string, string][], sans: Partial<Pick<PeerCertificate, "emails" | "dnsNames" | "uris">> = {}): PeerCertificate {
  return { subject, emails: sans.emails ?? [], dnsNames: sans.dnsNames ?? [], uris: sans.uris ?? [] };
}

describe("verify_and_map", () => {
  it("prints the subject in Go's order, most specific first, several values of one attribute joined with +", () => {
    assert.equal(subjectString(peer([["C", "US"], ["O", "Acme"], ["OU", "a"], ["OU", "b"], ["CN", "bob"]])), "CN=bob,OU=a+OU=b,O=Acme,C=US");
    assert.equal(subjectString(peer([["CN", "x,y"]])), "CN=x\\,y");
  });

  it("parses a DN with escapes and refuses what is not one", () => {
    assert.deepEqual(parseDn("CN=x\\,y, O=Acme"), [["CN", "x,y"], ["O", "Acme"]]);
    assert.equal(parseDn("alice@example.com"), undefined);
    assert.equal(parseDn(""), undefined);
  });

  it("prefers the email SAN, then DNS, then URI, then the subject", () => {
    const p = peer([["CN", "alice"], ["O", "Acme"]], { emails: ["alice@acme.test"], dnsNames: ["alice.acme.test"], uris: ["spiffe://acme/alice"] });
    const users = ["CN=alice,O=Acme", "spiffe://acme/alice", "alice.acme.test", "alice@acme.test"];
    assert.equal(mapCertificateToUser(p, users), "alice@acme.test");
    assert.equal(mapCertificateToUser(p, users.slice(0, 3)), "alice.acme.test");
    assert.equal(mapCertificateToUser(p, users.slice(0, 2)), "spiffe://acme/alice");
    assert.equal(mapCertificateToUser(p, users.slice(0, 1)), "CN=alice,O=Acme");
  });

  it("matches a configured DN whatever the order of its attributes, and nothing else", () => {
    const p = peer([["O", "Acme"], ["OU", "ops"], ["CN", "bob"]]);
    assert.equal(mapCertificateToUser(p, ["O=Acme, OU=ops, CN=bob"]), "O=Acme, OU=ops, CN=bob");
    assert.equal(mapCertificateToUser(p, ["CN=bob,O=Acme"]), undefined, "a missing attribute is not a match");
    assert.equal(mapCertificateToUser(p, ["CN=bob,OU=ops,O=Other"]), undefined);
    assert.equal(mapCertificateToUser(p, []), undefined);
  });
});
