// A message that crossed a route is delivered to the receivers that keep nothing of it (clients and internal
// clients of this server, src/server/reuse.ts) in the route's one reused object, its reply and a new subject's
// bytes rewritten in place for each frame. What an internal subscriber keeps must still be its own: a batch of
// routed messages read together (equal-length subjects and replies, so every frame rewrites the same arrays)
// arrives intact in the copies a plain internal handler keeps and in what a borrowing handler copies during its call.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import type { InternalMsg } from "../../src/server/internal.ts";
import { routeUrl, startNode, waitForMesh } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";

const td = new TextDecoder();
const N = 60;

interface Seen {
  subject: string;
  reply: string | undefined;
  headers: string | undefined;
  payload: string;
  viaRoute: boolean | undefined;
}

const seen = (m: InternalMsg): Seen => ({
  subject: m.subject,
  reply: m.reply,
  headers: m.headers === undefined ? undefined : td.decode(m.headers),
  payload: td.decode(m.payload),
  viaRoute: m.viaRoute,
});

describe("cluster: routed messages in the route's reused object", () => {
  let a: Petrel;
  let b: Petrel;
  let pub: NatsConnection;
  let sub: NatsConnection;

  before(async () => {
    a = await startNode({ name: "reuse-a" });
    b = await startNode({ name: "reuse-b", routes: [routeUrl(a)] });
    await waitForMesh([a, b]);
    pub = await connect({ servers: a.clientUrl, reconnect: false });
    sub = await connect({ servers: b.clientUrl, reconnect: false });
  });
  after(async () => {
    await pub?.close().catch(() => {});
    await sub?.close().catch(() => {});
    await b?.stop();
    await a?.stop();
  });

  it("internal subscribers keep intact copies of a batch of routed messages delivered with clients", { timeout: 30_000 }, async () => {
    const svc = b.server.createInternalClient("reuse-svc");
    const kept: InternalMsg[] = [];
    const copied: Seen[] = [];
    let done!: () => void;
    const allIn = new Promise<void>((r) => (done = r));
    // Kept as handed over (a handler without `borrow` gets copies it may keep).
    svc.subscribe("svc.*", (m) => {
      kept.push(m);
      if (m.subject === "svc.zz") done();
    });
    // Views valid during the call: copied here.
    svc.subscribe("svc.*", (m) => void copied.push(seen(m)), { borrow: true });
    // A client of b too: the receivers are clients and internal clients, which the route now carries in its reused
    // object (before, only client-only receivers were).
    let clientCount = 0;
    sub.subscribe("svc.*", { callback: () => void clientCount++ });
    await sub.flush();
    await waitFor("a hears b's interest in svc.*", () => a.server.accounts.get("$G")?.interestIn("svc.00") !== undefined);

    const want: Seen[] = [];
    for (let i = 0; i < N; i++) {
      const k = String(i).padStart(2, "0");
      const h = i % 3 === 0 ? headers() : undefined;
      h?.set("K", `v${k}`);
      const reply = i % 5 === 4 ? undefined : `_INBOX.r.${k}`;
      pub.publish(`svc.${k}`, `payload-${k}`, { reply, headers: h });
      want.push({
        subject: `svc.${k}`,
        reply,
        headers: h === undefined ? undefined : `NATS/1.0\r\nK: v${k}\r\n\r\n`,
        payload: `payload-${k}`,
        viaRoute: true,
      });
    }
    pub.publish("svc.zz", "end");
    want.push({ subject: "svc.zz", reply: undefined, headers: undefined, payload: "end", viaRoute: true });
    await pub.flush();
    await allIn;

    assert.deepEqual(kept.map(seen), want, "the plain handler's kept messages");
    assert.deepEqual(copied, want, "the borrowing handler's copies");
    await sub.flush();
    assert.equal(clientCount, N + 1);
    svc.close();
  });
});
