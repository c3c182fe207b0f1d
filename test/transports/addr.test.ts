import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { advertisedHosts, bindCandidates, isGlobalUnicast, unmapIPv4 } from "../../src/transport/addr.ts";

describe("listener and peer addresses", () => {
  it("binds the dual-stack wildcard for 0.0.0.0 (with a fallback) and strips brackets", () => {
    assert.deepEqual(bindCandidates("0.0.0.0"), ["::", "0.0.0.0"]);
    assert.deepEqual(bindCandidates("[::1]"), ["::1"]);
    assert.deepEqual(bindCandidates("127.0.0.1"), ["127.0.0.1"]);
  });

  it("reports IPv4 peers of a dual-stack socket as IPv4", () => {
    assert.equal(unmapIPv4("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(unmapIPv4("::1"), "::1");
    assert.equal(unmapIPv4("10.1.2.3"), "10.1.2.3");
    assert.equal(unmapIPv4("::FFFF:10.200.3.4"), "10.200.3.4");
    // Only a whole dotted quad of 1–3 digit groups is unmapped.
    for (const other of ["::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:1234.2.3.4", "::ffff:1..3.4", "::ffff:1.2.3.", "::ffff:a.b.c.d", "::ffff:7f00:1", "x::ffff:1.2.3.4"]) {
      assert.equal(unmapIPv4(other), other, other);
    }
  });

  it("advertises global unicast addresses for a wildcard host, as Go's IsGlobalUnicast decides", () => {
    for (const ip of ["192.0.2.2", "10.0.0.1", "fd00::2", "2001:db8::1"]) assert.equal(isGlobalUnicast(ip), true, ip);
    for (const ip of ["127.0.0.1", "0.0.0.0", "255.255.255.255", "169.254.1.1", "224.0.0.1", "::1", "::", "fe80::1", "ff02::1"]) {
      assert.equal(isGlobalUnicast(ip), false, ip);
    }
    const ifaces = ["127.0.0.1", "::1", "192.0.2.2", "fd00::2", "fe80::1", "192.0.2.2"];
    assert.deepEqual(advertisedHosts("0.0.0.0", ifaces), ["192.0.2.2", "fd00::2"]);
    assert.deepEqual(advertisedHosts("::", ifaces), ["192.0.2.2", "fd00::2"]);
    assert.deepEqual(advertisedHosts("127.0.0.1", ifaces), ["127.0.0.1"]);
    assert.deepEqual(advertisedHosts("0.0.0.0", ["127.0.0.1"]), []);
  });
});
