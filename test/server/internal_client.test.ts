import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { InternalMsg } from "../../src/server/internal.ts";
import { frames, type Harness, startServer, sync } from "./harness.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("server: internal clients", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(async () => {
    await h.stop();
  });

  it("receives network publishes (with reply and headers) and answers them", async () => {
    const svc = h.server.createInternalClient("svc");
    const got: InternalMsg[] = [];
    svc.subscribe("svc.>", (m) => {
      got.push(m);
      if (m.reply !== undefined) svc.publish(m.reply, enc.encode(`re:${dec.decode(m.payload)}`));
    });
    const c = await h.client({ headers: true });
    c.write("SUB _INBOX.1 9\r\nPUB svc.echo _INBOX.1 3\r\nabc\r\n");
    const hdr = "NATS/1.0\r\nK: v\r\n\r\n";
    c.write(`HPUB svc.h ${hdr.length} ${hdr.length + 1}\r\n${hdr}z\r\n`);
    await sync(c);
    assert.equal(got.length, 2);
    assert.equal(got[0].subject, "svc.echo");
    assert.equal(got[0].reply, "_INBOX.1");
    assert.equal(dec.decode(got[0].payload), "abc");
    assert.equal(got[0].headers, undefined);
    assert.equal(got[1].reply, undefined);
    assert.equal(dec.decode(got[1].headers ?? new Uint8Array()), hdr);
    assert.equal(dec.decode(got[1].payload), "z");
    assert.deepEqual(frames(c.text()).map((f) => `${f.subject} ${f.sid} ${f.payload}`), ["_INBOX.1 9 re:abc"]);
    svc.close();
    c.close();
  });

  it("publishes with headers: HMSG for header clients, body only for others; the return value counts deliveries", async () => {
    const pub = h.server.createInternalClient("pub");
    const hc = await h.client({ headers: true });
    const pc = await h.client();
    hc.write("SUB out 1\r\n");
    pc.write("SUB out 2\r\n");
    await sync(hc);
    await sync(pc);
    const hdr = enc.encode("NATS/1.0\r\nA: 1\r\n\r\n");
    assert.equal(pub.publish("out", enc.encode("data"), { headers: hdr, reply: "rr" }), 2);
    assert.equal(pub.publish("nobody", enc.encode("x")), 0);
    await sync(hc);
    await sync(pc);
    assert.deepEqual(frames(hc.text()), [{ op: "HMSG", subject: "out", sid: "1", reply: "rr", hdr: hdr.length, payload: `${dec.decode(hdr)}data` }]);
    assert.deepEqual(frames(pc.text()), [{ op: "MSG", subject: "out", sid: "2", reply: "rr", hdr: -1, payload: "data" }]);
    pub.close();
    hc.close();
    pc.close();
  });

  it("handlers get copies that stay valid after the callback", async () => {
    const ic = h.server.createInternalClient("keep");
    const kept: InternalMsg[] = [];
    ic.subscribe("keep", (m) => kept.push(m));
    const c = await h.client();
    c.write("PUB keep 5\r\nfirst\r\nPUB keep 6\r\nsecond\r\n");
    await sync(c);
    assert.deepEqual(kept.map((m) => dec.decode(m.payload)), ["first", "second"]);
    ic.close();
    c.close();
  });

  it("a borrowing handler gets one reused message whose views are valid during the call; a nested delivery gets its own", async () => {
    const ic = h.server.createInternalClient("lend");
    const seen: string[] = [];
    const objs: InternalMsg[] = [];
    const show = (m: InternalMsg) => `${m.subject} ${m.reply ?? "-"} ${m.headers ? dec.decode(m.headers) : "-"} ${dec.decode(m.payload)}`;
    ic.subscribe("lend.>", (m) => {
      objs.push(m);
      seen.push(show(m));
      if (m.subject === "lend.outer") {
        ic.publish("lend.inner", enc.encode("in"));
        seen.push(`after: ${show(m)}`);
      }
    }, { borrow: true });
    const c = await h.client({ headers: true });
    const hdr = "NATS/1.0\r\nK: v\r\n\r\n";
    c.write(`PUB lend.a _INBOX.7 3\r\nabc\r\nHPUB lend.h ${hdr.length} ${hdr.length + 1}\r\n${hdr}z\r\nPUB lend.outer 3\r\nout\r\n`);
    await sync(c);
    assert.deepEqual(seen, ["lend.a _INBOX.7 - abc", `lend.h - ${hdr} z`, "lend.outer - - out", "lend.inner - - in", "after: lend.outer - - out"]);
    assert.equal(objs[0], objs[1], "one message object for every delivery");
    assert.equal(objs[0], objs[2]);
    assert.notEqual(objs[3], objs[2], "a delivery nested in another gets its own");
    assert.equal(objs[0].payload.length, 0, "no view of the input is held after the call");
    ic.close();
    c.close();
  });

  it("a borrowing handler gets a client's small payloads and header blocks copied into one array per length, larger ones as views", async () => {
    const ic = h.server.createInternalClient("lendcopy");
    const seen: string[] = [];
    const payloads: Uint8Array[] = [];
    const headers: Uint8Array[] = [];
    ic.subscribe("lc.>", (m) => {
      seen.push(`${m.headers ? dec.decode(m.headers) : "-"}|${dec.decode(m.payload)}`);
      payloads.push(m.payload);
      if (m.headers) headers.push(m.headers);
    }, { borrow: true });
    const c = await h.client({ headers: true });
    const hdr = "NATS/1.0\r\nK: v\r\n\r\n";
    // A payload as long as the header block: the two must not share an array.
    const same = "p".repeat(hdr.length);
    const big = "b".repeat(300);
    c.write(`PUB lc.a 3\r\nabc\r\nPUB lc.b 3\r\nxyz\r\nHPUB lc.h ${hdr.length} ${2 * hdr.length}\r\n${hdr}${same}\r\n`);
    c.write(`HPUB lc.h ${hdr.length} ${hdr.length + 3}\r\n${hdr}end\r\nPUB lc.big ${big.length}\r\n${big}\r\nPUB lc.big ${big.length}\r\n${big}\r\n`);
    await sync(c);
    assert.deepEqual(seen, ["-|abc", "-|xyz", `${hdr}|${same}`, `${hdr}|end`, `-|${big}`, `-|${big}`]);
    assert.equal(payloads[0], payloads[1], "equal lengths: one array, rewritten");
    assert.equal(payloads[3], payloads[0], "with headers too");
    assert.notEqual(payloads[2], headers[0], "header block and payload of one length are apart");
    assert.equal(headers[0], headers[1]);
    assert.equal(dec.decode(payloads[1]), "end", "the array holds the last message's bytes");
    assert.notEqual(payloads[4], payloads[5], "a large payload is a view of the input, not a copy");
    ic.close();
    c.close();
  });

  it("publishes in one reused message to receivers that keep nothing; a publish nested in one gets its own subject bytes", async () => {
    const pub = h.server.createInternalClient("pub");
    const relay = h.server.createInternalClient("relay");
    const c1 = await h.client();
    const c2 = await h.client();
    c1.write("SUB inbox.* 1\r\n");
    await sync(c1);
    // Between the two clients: the nested publish happens while the outer one is being delivered.
    relay.subscribe("inbox.*", (m) => {
      if (m.subject === "inbox.1") pub.publish("inbox.3", enc.encode("nested"));
    });
    c2.write("SUB inbox.* 2\r\n");
    await sync(c2);
    assert.equal(pub.publish("inbox.1", enc.encode("one")), 3);
    assert.equal(pub.publish("inbox.2", enc.encode("two")), 3);
    await sync(c1);
    await sync(c2);
    const show = (c: { text(): string }) => frames(c.text()).map((f) => `${f.subject} ${f.payload}`);
    assert.deepEqual(show(c1), ["inbox.1 one", "inbox.3 nested", "inbox.2 two"]);
    assert.deepEqual(show(c2), ["inbox.3 nested", "inbox.1 one", "inbox.2 two"]);
    pub.close();
    relay.close();
    c1.close();
    c2.close();
  });

  it("queue groups are shared with network clients; unsubscribe and close remove interest", async () => {
    const ic = h.server.createInternalClient("worker");
    let internalCount = 0;
    const sid = ic.subscribe("jobs", () => internalCount++, { queue: "w" });
    const c = await h.client();
    c.write("SUB jobs w 1\r\n");
    await sync(c);
    const before = h.server.accounts.global.sublist.count;
    const pub = h.server.createInternalClient("producer");
    const N = 40;
    for (let i = 0; i < N; i++) assert.equal(pub.publish("jobs", enc.encode(String(i))), 1);
    await sync(c);
    assert.equal(internalCount + frames(c.text()).length, N);
    ic.unsubscribe(sid);
    assert.equal(h.server.accounts.global.sublist.count, before - 1);
    internalCount = 0;
    pub.publish("jobs", enc.encode("after"));
    assert.equal(internalCount, 0);
    ic.subscribe("x.*", () => {});
    ic.subscribe("y", () => {});
    assert.equal(ic.subscriptionCount, 2);
    ic.close();
    assert.equal(h.server.accounts.global.sublist.count, before - 1);
    assert.equal(pub.publish("x.a", enc.encode("")), 0);
    assert.equal(h.server.internals.has(ic.cid), false);
    pub.close();
    assert.equal(pub.publish("jobs", enc.encode("closed")), 0, "a closed internal client cannot publish");
    c.close();
  });

  it("auto-unsubscribe via max", async () => {
    const ic = h.server.createInternalClient("max");
    let n = 0;
    ic.subscribe("m", () => n++, { max: 2 });
    const pub = h.server.createInternalClient("p");
    for (let i = 0; i < 5; i++) pub.publish("m", new Uint8Array(0));
    assert.equal(n, 2);
    assert.equal(ic.subscriptionCount, 0);
    assert.equal(h.server.accounts.global.sublist.hasInterest("m"), false);
    ic.close();
    pub.close();
  });

  it("shutdown closes internal clients too", async () => {
    const h2 = await startServer();
    const ic = h2.server.createInternalClient("x");
    ic.subscribe("a", () => {});
    await h2.stop();
    assert.equal(h2.server.internals.size, 0);
    assert.equal(h2.server.accounts.global.sublist.count, 0);
  });
});
