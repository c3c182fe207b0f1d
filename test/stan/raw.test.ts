// Malformed STAN protocol messages, sent as raw bytes with a plain NATS client: each gets the protocol's error
// response, nothing is stored half-way, and the server keeps serving.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "nats";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { decode, encode } from "../../src/stan/proto.ts";

const GARBAGE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x99]);

describe("STAN raw protocol (Petrel)", () => {
  let s: RunningServer;
  let nc: NatsConnection;
  before(async () => {
    s = await startServer("petrel", { conf: `streaming { cluster_id: "raw" }` });
    nc = await connect({ servers: s.url });
  });
  after(async () => {
    await nc.close();
    await s.stop();
  });

  const connectRes = async (payload: Uint8Array) => {
    const r = await nc.request("_STAN.discover.raw", payload, { timeout: 2000 });
    const d = decode("ConnectResponse", r.data);
    assert.ok(d.ok);
    return d.value;
  };

  test("malformed and invalid requests get error responses", async () => {
    assert.equal((await connectRes(GARBAGE)).error, "stan: invalid connection request");
    assert.equal((await connectRes(encode("ConnectRequest", { clientID: "x", heartbeatInbox: "", protocol: 1, connID: new Uint8Array(), pingInterval: 0, pingMaxOut: 0 }))).error, "stan: invalid connection request");

    const hb = nc.subscribe("raw.hb", { callback: (_e, m) => m.respond() });
    const cr = await connectRes(encode("ConnectRequest", { clientID: "rawc", heartbeatInbox: "raw.hb", protocol: 1, connID: new Uint8Array([1, 2]), pingInterval: 1, pingMaxOut: 3 }));
    assert.equal(cr.error, "");
    assert.equal(cr.protocol, 1);
    assert.equal(cr.pingInterval, 1);

    const subRes = async (payload: Uint8Array) => {
      const r = await nc.request(cr.subRequests ?? "", payload, { timeout: 2000 });
      const d = decode("SubscriptionResponse", r.data);
      assert.ok(d.ok);
      return d.value;
    };
    assert.equal((await subRes(GARBAGE)).error, "stan: invalid subscription request");
    const req = { clientID: "rawc", subject: "raw.ch", qGroup: "", inbox: "raw.inbox", maxInFlight: 10, ackWaitInSecs: 30, durableName: "", startPosition: 0, startSequence: 0, startTimeDelta: 0 };
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, ackWaitInSecs: 0 }))).error, "stan: invalid ack wait time, should be >= 1s");
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, maxInFlight: 0 }))).error, "stan: invalid MaxInflight, should be >= 1");
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, startPosition: 9 }))).error, "stan: invalid start position");
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, clientID: "nobody" }))).error, "stan: unknown clientID");
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, subject: "a.>" }))).error, "stan: invalid subject");
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, qGroup: "g", durableName: "a:b" }))).error, "stan: durable name of a durable queue subscriber can't contain the character ':'");

    const pubAck = async (subject: string, payload: Uint8Array) => {
      const r = await nc.request(`${cr.pubPrefix}.${subject}`, payload, { timeout: 2000 });
      const d = decode("PubAck", r.data);
      assert.ok(d.ok);
      return d.value;
    };
    const pm = { clientID: "rawc", guid: "g1", subject: "raw.ch", reply: "", data: new Uint8Array([1]), connID: new Uint8Array([1, 2]) };
    assert.equal((await pubAck("raw.ch", GARBAGE)).error, "stan: invalid publish request");
    assert.equal((await pubAck("raw.ch", encode("PubMsg", { ...pm, guid: "" }))).error, "stan: invalid publish request");
    assert.equal((await pubAck("raw.ch", encode("PubMsg", { ...pm, connID: new Uint8Array([9]) }))).error, "stan: invalid publish request");
    assert.equal((await pubAck("raw.ch", encode("PubMsg", { ...pm, subject: "other" }))).error, "stan: invalid publish request");
    // Nothing of the above was stored: the first good publish is sequence 1.
    assert.deepEqual(await pubAck("raw.ch", encode("PubMsg", pm)), { guid: "g1", error: "" });
    const msgs: number[] = [];
    const got = new Promise<void>((resolve) => {
      nc.subscribe("raw.inbox", {
        callback: (_e, m) => {
          const d = decode("MsgProto", m.data);
          if (d.ok) msgs.push(d.value.sequence);
          resolve();
        },
      });
    });
    await nc.flush();
    assert.equal((await subRes(encode("SubscriptionRequest", { ...req, startPosition: 4 }))).error, "");
    await got;
    assert.deepEqual(msgs, [1]);

    const ping = async (payload: Uint8Array) => {
      const r = await nc.request(cr.pingRequests ?? "", payload, { timeout: 2000 });
      return r.data.length === 0 ? "" : (decode("PingResponse", r.data) as { ok: true; value: { error?: string } }).value.error;
    };
    assert.equal(await ping(encode("Ping", { connID: new Uint8Array([1, 2]) })), "");
    assert.equal(await ping(GARBAGE), "client has been replaced or is no longer registered");

    const close = async (payload: Uint8Array) => {
      const r = await nc.request(cr.closeRequests ?? "", payload, { timeout: 2000 });
      return (decode("CloseResponse", r.data) as { ok: true; value: { error?: string } }).value.error;
    };
    assert.equal(await close(GARBAGE), "stan: invalid close request");
    assert.equal(await close(encode("CloseRequest", { clientID: "nobody" })), "stan: unknown clientID");
    assert.equal(await close(encode("CloseRequest", { clientID: "rawc" })), "");
    assert.equal(await ping(encode("Ping", { connID: new Uint8Array([1, 2]) })), "client has been replaced or is no longer registered");
    hb.unsubscribe();
  });
});
