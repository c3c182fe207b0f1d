import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Permissions } from "../../src/server/permissions.ts";

describe("Permissions: publish", () => {
  it("no rules allow everything", () => {
    const p = new Permissions({});
    assert.equal(p.canPublish("a.b"), true);
    assert.equal(p.canSubscribe("a.>"), true);
  });
  it("allow list with wildcards", () => {
    const p = new Permissions({ publish: { allow: ["foo.*", "bar.>", "baz"] } });
    assert.equal(p.canPublish("foo.x"), true);
    assert.equal(p.canPublish("foo.x.y"), false);
    assert.equal(p.canPublish("bar.a.b"), true);
    assert.equal(p.canPublish("bar"), false);
    assert.equal(p.canPublish("baz"), true);
    assert.equal(p.canPublish("qux"), false);
    // cached decisions stay right
    assert.equal(p.canPublish("foo.x"), true);
    assert.equal(p.canPublish("qux"), false);
  });
  it("deny overrides allow", () => {
    const p = new Permissions({ publish: { allow: [">"], deny: ["secret.>", "admin"] } });
    assert.equal(p.canPublish("public"), true);
    assert.equal(p.canPublish("secret.x"), false);
    assert.equal(p.canPublish("admin"), false);
    assert.equal(p.canPublish("admin.x"), true);
  });
  it("deny only", () => {
    const p = new Permissions({ publish: { deny: ["*.private"] } });
    assert.equal(p.canPublish("a.private"), false);
    assert.equal(p.canPublish("a.public"), true);
  });
  it("many distinct subjects (cache eviction) keep correct answers", () => {
    const p = new Permissions({ publish: { allow: ["ok.>"] } });
    for (let i = 0; i < 3000; i++) {
      assert.equal(p.canPublish(`ok.${i}`), true);
      assert.equal(p.canPublish(`no.${i}`), false);
    }
  });
});

describe("Permissions: subscribe", () => {
  it("allow list: subscriptions must stay within an allowed subject", () => {
    const p = new Permissions({ subscribe: { allow: ["foo.*", "bar.>"] } });
    assert.equal(p.canSubscribe("foo.a"), true);
    assert.equal(p.canSubscribe("foo.*"), true);
    assert.equal(p.canSubscribe("bar.a.b"), true);
    assert.equal(p.canSubscribe("bar.*"), true);
    assert.equal(p.canSubscribe("bar"), false);
    assert.equal(p.canSubscribe(">"), false);
  });
  it("deny list; wildcard subscriptions overlapping a deny are accepted and filtered at delivery", () => {
    const p = new Permissions({ subscribe: { deny: ["secret.>", "x.y"] } });
    assert.equal(p.canSubscribe("secret.a"), false);
    assert.equal(p.canSubscribe("secret.>"), false);
    assert.equal(p.canSubscribe("x.y"), false);
    assert.equal(p.canSubscribe("x.z"), true);
    assert.equal(p.canSubscribe(">"), true);
    assert.equal(p.needsDeliveryFilter(">"), true);
    assert.equal(p.needsDeliveryFilter("x.*"), true);
    assert.equal(p.needsDeliveryFilter("x.z"), false);
    assert.equal(p.needsDeliveryFilter("other.*"), false);
    assert.equal(p.deliveryDenied("secret.a.b"), true);
    assert.equal(p.deliveryDenied("x.y"), true);
    assert.equal(p.deliveryDenied("x.z"), false);
  });
  it("queue rules \"subject queue\" in allow", () => {
    const p = new Permissions({ subscribe: { allow: ["jobs.* workers"] } });
    assert.equal(p.canSubscribe("jobs.a", "workers"), true);
    assert.equal(p.canSubscribe("jobs.a", "others"), false);
    assert.equal(p.canSubscribe("jobs.a"), false, "a plain subscription is not covered by a queue rule");
    assert.equal(p.canSubscribe("other", "workers"), false);
  });
  it("queue rules in deny only affect that queue", () => {
    const p = new Permissions({ subscribe: { deny: ["jobs.> bad"] } });
    assert.equal(p.canSubscribe("jobs.a", "bad"), false);
    assert.equal(p.canSubscribe("jobs.a", "good"), true);
    assert.equal(p.canSubscribe("jobs.a"), true);
  });
  it("queue rule with a wildcard queue name matches queue names as subjects (nats-server queueMatches)", () => {
    // nats-server: queue == qname || (subjectHasWildcard(qname) && subjectIsSubsetMatch(queue, qname))
    const p = new Permissions({ subscribe: { allow: ["foo v1.*"] } });
    assert.equal(p.canSubscribe("foo", "v1.*"), true);
    assert.equal(p.canSubscribe("foo", "v2.x"), false);
    assert.equal(p.canSubscribe("foo", "v1.x"), true);
  });
});
