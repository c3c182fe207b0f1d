// The one queue policy (src/accounts/queue_policy.ts), driven through Account.deliver: this server's members
// first, then routes weighted by their announced weights, then leafnodes, then gateways; a peer's frame
// serves only the groups it names; a message from a route or gateway never goes back over one.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Account } from "../../src/accounts/account.ts";
import type { OwnerKind, RoutedMsg, SubOwner, Subscription } from "../../src/server/types.ts";

const enc = new TextEncoder();

function owner(kind: OwnerKind, cid: number, got: Map<number, number>): SubOwner {
  return {
    cid,
    kind,
    echo: true,
    deliver: () => got.set(cid, (got.get(cid) ?? 0) + 1),
    removeSub: () => {},
  };
}

function qsub(o: SubOwner, weight: number, queue: string | undefined = "q"): Subscription {
  return { subject: "work", queue, sid: String(o.cid), sidBytes: enc.encode(String(o.cid)), owner: o, max: 0, delivered: 0, filtered: false, weight };
}

function msg(): RoutedMsg {
  return { subject: "work", subjectBytes: enc.encode("work"), reply: null, hdrSize: -1, payload: new Uint8Array(0) };
}

function publish(a: Account, n: number, from: SubOwner = owner("internal", 999, new Map()), queues?: string[]): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += a.deliver(msg(), from, queues);
  return total;
}

describe("queue member choice", () => {
  it("weights route members by the number of subscribers they stand for", () => {
    const a = new Account("A");
    const got = new Map<number, number>();
    a.addSubscription(qsub(owner("route", 1, got), 1));
    a.addSubscription(qsub(owner("route", 2, got), 9));
    publish(a, 4000);
    const x = got.get(1) ?? 0;
    const y = got.get(2) ?? 0;
    assert.equal(x + y, 4000, "each message to exactly one member");
    assert.ok(x > 200 && x < 650, `weight 1 of 10 got ${x} of 4000`);
  });

  it("prefers a member on this server, then the cluster, then leafnodes, then other clusters", () => {
    const a = new Account("A");
    const got = new Map<number, number>();
    const gw = qsub(owner("gateway", 4, got), 1);
    const leaf = qsub(owner("leaf", 3, got), 1);
    const route = qsub(owner("route", 2, got), 5);
    const local = qsub(owner("client", 1, got), 1);
    for (const s of [gw, leaf, route, local]) a.addSubscription(s);
    publish(a, 50);
    assert.deepEqual([...got.entries()], [[1, 50]]);
    a.removeSubscription(local);
    publish(a, 50);
    assert.equal(got.get(2), 50);
    a.removeSubscription(route);
    publish(a, 50);
    assert.equal(got.get(3), 50);
    a.removeSubscription(leaf);
    publish(a, 50);
    assert.equal(got.get(4), 50);
  });

  it("serves only the queue groups a peer's frame names, and never sends a route's message over a route", () => {
    const a = new Account("A");
    const got = new Map<number, number>();
    const fromRoute = owner("route", 10, new Map());
    a.addSubscription(qsub(owner("route", 2, got), 1));
    a.addSubscription(qsub(owner("gateway", 3, got), 1));
    a.addSubscription(qsub(owner("route", 5, got), 1, undefined));
    assert.equal(publish(a, 10, fromRoute, ["q"]), 0, "route and gateway members are one hop away already");
    a.addSubscription(qsub(owner("client", 1, got), 1));
    assert.equal(publish(a, 10, fromRoute), 0, "a frame naming no group serves none");
    assert.equal(publish(a, 10, fromRoute, ["other"]), 0);
    assert.equal(publish(a, 10, fromRoute, ["q"]), 10);
    assert.deepEqual([...got.entries()], [[1, 10]]);
  });

  it("never hands a leafnode's message back to it, and honours echo for local publishers", () => {
    const a = new Account("A");
    const got = new Map<number, number>();
    const leaf = owner("leaf", 1, got);
    a.addSubscription(qsub(leaf, 1, undefined));
    assert.equal(publish(a, 3, leaf), 0);
    const quiet: SubOwner = { ...owner("client", 2, got), echo: false };
    a.addSubscription(qsub(quiet, 1, undefined));
    assert.equal(publish(a, 3, quiet), 3, "the leafnode's subscription only");
    assert.equal(got.get(2), undefined);
  });
});

describe("account subscriptions", () => {
  it("keeps a subscription in one account only", () => {
    const a = new Account("A");
    const b = new Account("B");
    const s = qsub(owner("client", 1, new Map()), 1);
    a.addSubscription(s);
    assert.throws(() => b.addSubscription(s), /invariant/);
    a.removeSubscription(s);
    b.addSubscription(s);
    assert.equal(b.subscriptionCount, 1);
    assert.equal(a.subscriptionCount, 0);
  });

  it("lets a message cross into another account only through an export that allows it", () => {
    const a = new Account("A");
    const b = new Account("B");
    const got = new Map<number, number>();
    b.addSubscription(qsub(owner("client", 1, got), 1, undefined));
    const from = owner("client", 2, new Map());
    const open = { stream: "work" };
    const toC = { stream: "work", accounts: ["C"] };
    assert.throws(() => b.deliverImported(msg(), from, a, open), /invariant/, "not one of A's exports");
    a.setExports([open, toC]);
    assert.equal(b.deliverImported(msg(), from, a, open), 1);
    assert.throws(() => b.deliverImported(msg(), from, a, toC), /invariant/, "A exports it to C only");
    assert.throws(() => a.deliverResponse(msg(), a), /invariant/);
  });
});
