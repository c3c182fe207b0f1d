// Queue member choice: this server first, then routes weighted by their announced weights, then gateways.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Server } from "../../src/server/server.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
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

function qsub(o: SubOwner, weight: number): Subscription {
  return { subject: "work", queue: "q", sid: String(o.cid), sidBytes: enc.encode(String(o.cid)), owner: o, max: 0, delivered: 0, filtered: false, weight };
}

function publish(s: Server, n: number): void {
  const from = owner("internal", 999, new Map());
  for (let i = 0; i < n; i++) {
    const msg: RoutedMsg = { subject: "work", subjectBytes: enc.encode("work"), reply: null, hdrSize: -1, payload: new Uint8Array(0) };
    s.route(from, msg);
  }
}

describe("queue member choice", () => {
  it("weights route members by the number of subscribers they stand for", () => {
    const s = new Server(applyDefaults({}));
    const got = new Map<number, number>();
    s.addSubscription(qsub(owner("route", 1, got), 1));
    s.addSubscription(qsub(owner("route", 2, got), 9));
    publish(s, 4000);
    const a = got.get(1) ?? 0;
    const b = got.get(2) ?? 0;
    assert.equal(a + b, 4000, "each message to exactly one member");
    assert.ok(a > 200 && a < 650, `weight 1 of 10 got ${a} of 4000`);
  });

  it("prefers a member on this server, then the cluster, then other clusters", () => {
    const s = new Server(applyDefaults({}));
    const got = new Map<number, number>();
    const gw = qsub(owner("gateway", 3, got), 1);
    const route = qsub(owner("route", 2, got), 5);
    const local = qsub(owner("client", 1, got), 1);
    s.addSubscription(gw);
    s.addSubscription(route);
    s.addSubscription(local);
    publish(s, 50);
    assert.deepEqual([...got.entries()], [[1, 50]]);
    s.removeSubscription(local);
    publish(s, 50);
    assert.equal(got.get(2), 50);
    s.removeSubscription(route);
    publish(s, 50);
    assert.equal(got.get(3), 50);
  });
});
