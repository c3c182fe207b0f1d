import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { count, frames, type Harness, infos, startServer, sync } from "./harness.ts";

const dec = new TextDecoder();

describe("server: pub/sub over the memory transport", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(async () => {
    await h.stop();
  });

  it("sends INFO on connect with the contract's fields", async () => {
    const c = await h.client(null);
    const [info] = infos(c.text());
    assert.equal(info.server_id, h.server.serverId);
    assert.match(String(info.server_id), /^N[A-Z2-7]{55}$/);
    assert.equal(info.proto, 1);
    assert.equal(info.headers, true);
    assert.equal(info.max_payload, 1024 * 1024);
    assert.equal(info.port, h.server.clientPort);
    assert.equal(info.host, "127.0.0.1");
    assert.equal(typeof info.client_id, "number");
    assert.equal(typeof info.client_ip, "string");
    assert.equal(info.auth_required, undefined);
    assert.equal(info.ldm, undefined);
    c.close();
  });

  it("answers PING with PONG, also before CONNECT", async () => {
    const c = await h.client(null);
    c.write("PING\r\n");
    await c.waitFor("PONG\r\n");
    c.write(`CONNECT {"verbose":false}\r\nPING\r\n`);
    await c.waitFor((t) => count(t, "PONG\r\n") === 2);
    c.close();
  });

  it("SUB/PUB/MSG with and without reply; UNSUB stops delivery", async () => {
    const sub = await h.client();
    const pub = await h.client();
    sub.write("SUB foo.* 7\r\nSUB foo.bar 8\r\n");
    await sync(sub);
    pub.write("PUB foo.bar 5\r\nhello\r\nPUB foo.baz _INBOX.r 0\r\n\r\nPUB nomatch 1\r\nx\r\n");
    await sync(pub);
    await sync(sub);
    const got = frames(sub.text()).map((f) => `${f.subject}|${f.sid}|${f.reply ?? ""}|${f.payload}`).sort();
    assert.deepEqual(got, ["foo.bar|7||hello", "foo.bar|8||hello", "foo.baz|7|_INBOX.r|"]);
    sub.clear();
    sub.write("UNSUB 7\r\n");
    await sync(sub);
    pub.write("PUB foo.bar 1\r\nz\r\n");
    await sync(pub);
    await sync(sub);
    assert.deepEqual(frames(sub.text()).map((f) => f.sid), ["8"]);
    sub.close();
    pub.close();
  });

  it("a publisher repeating one subject sees subscriptions come and go between its messages", async () => {
    const pub = await h.client();
    const sub = await h.client();
    pub.write("PUB rep.subj 1\r\n0\r\nPUB rep.subj 1\r\n1\r\n");
    await sync(pub);
    sub.write("SUB rep.* 1\r\n");
    await sync(sub);
    pub.write("PUB rep.subj 1\r\n2\r\n");
    await sync(pub);
    sub.write("SUB rep.subj 2\r\n");
    await sync(sub);
    pub.write("PUB rep.subj 1\r\n3\r\n");
    await sync(pub);
    sub.write("UNSUB 1\r\nUNSUB 2\r\n");
    await sync(sub);
    pub.write("PUB rep.subj 1\r\n4\r\n");
    await sync(pub);
    // The marker on the same path: once it is in, message 4 would have been too.
    sub.write("SUB rep.marker 3\r\n");
    await sync(sub);
    pub.write("PUB rep.marker 1\r\nm\r\n");
    await sub.waitFor((t) => t.includes("MSG rep.marker 3 1\r\nm\r\n"));
    const got = frames(sub.text()).map((f) => `${f.subject}|${f.sid}|${f.payload}`);
    assert.deepEqual(got, ["rep.subj|1|2", "rep.subj|1|3", "rep.subj|2|3", "rep.marker|3|m"]);
    pub.close();
    sub.close();
  });

  it("a client's messages arrive whole whether clients alone or an internal subscriber too take them (reused message object)", async () => {
    const pub = await h.client({ headers: true });
    const hsub = await h.client({ headers: true });
    const plain = await h.client();
    hsub.write("SUB mix.> 1\r\n");
    plain.write("SUB mix.> 2\r\n");
    await sync(hsub);
    await sync(plain);
    // Payload sizes around the small-copy bound (48), at odd places in one read, with and without headers.
    const sizes = [0, 1, 47, 48, 49, 1000];
    const body = (n: number, tag: string) => (tag + "-".repeat(n)).slice(0, n).padEnd(n, "x");
    const hdr = "NATS/1.0\r\nK: v\r\n\r\n";
    const burst = (tag: string) =>
      sizes.map((n) => `PUB mix.${tag} ${n}\r\n${body(n, tag)}\r\n`).join("") +
      `HPUB mix.${tag} ${hdr.length} ${hdr.length + 5}\r\n${hdr}${tag}.hdr\r\n`;
    const want = (tag: string) => [...sizes.map((n) => body(n, tag)), `${tag}.hdr`];
    pub.write(burst("a"));
    await sync(pub);
    // An internal subscriber too: the same publisher's next messages take the other path.
    const seen: string[] = [];
    const svc = h.server.createInternalClient("mix");
    svc.subscribe("mix.>", (m) => seen.push(dec.decode(m.payload)));
    pub.write(burst("b"));
    await sync(pub);
    svc.close();
    pub.write(burst("c"));
    await sync(pub);
    await sync(hsub);
    await sync(plain);
    const all = [...want("a"), ...want("b"), ...want("c")];
    assert.deepEqual(frames(hsub.text()).map((f) => (f.hdr >= 0 ? f.payload.slice(f.hdr) : f.payload)), all);
    assert.ok(hsub.text().includes(`HMSG mix.b 1 ${hdr.length} ${hdr.length + 5}\r\n${hdr}b.hdr\r\n`), "headers kept for a header client");
    assert.deepEqual(frames(plain.text()).map((f) => f.payload), all, "the body only for a client without headers");
    assert.deepEqual(seen, want("b"));
    pub.close();
    hsub.close();
    plain.close();
  });

  it("payloads containing CRLF and binary-ish text survive", async () => {
    const sub = await h.client();
    sub.write("SUB bin 1\r\n");
    await sync(sub);
    const pub = await h.client();
    const body = "a\r\nPUB x 1\r\n\r\n";
    pub.write(`PUB bin ${body.length}\r\n${body}\r\n`);
    await sync(pub);
    await sync(sub);
    assert.deepEqual(frames(sub.text()).map((f) => f.payload), [body]);
    sub.close();
    pub.close();
  });

  it("queue groups: each message goes to exactly one member; plain subscribers get all", async () => {
    const members = await Promise.all([h.client(), h.client(), h.client()]);
    const plain = await h.client();
    for (const [i, m] of members.entries()) m.write(`SUB work.* workers ${i + 1}\r\n`);
    plain.write("SUB work.* 99\r\n");
    for (const m of [...members, plain]) await sync(m);
    const pub = await h.client();
    const N = 60;
    let batch = "";
    for (let i = 0; i < N; i++) batch += `PUB work.x ${String(i).length}\r\n${i}\r\n`;
    pub.write(batch);
    await sync(pub);
    for (const m of [...members, plain]) await sync(m);
    const perMember = members.map((m) => frames(m.text()).map((f) => f.payload));
    const all = perMember.flat().sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(all, Array.from({ length: N }, (_, i) => String(i)), "every message exactly once across the group");
    assert.ok(perMember.filter((p) => p.length > 0).length >= 2, `distribution ${perMember.map((p) => p.length)}`);
    assert.equal(frames(plain.text()).length, N);
    for (const c of [...members, plain, pub]) c.close();
  });

  it("auto-unsubscribe: UNSUB sid max delivers max messages, then the subscription is gone", async () => {
    const sub = await h.client();
    sub.write("SUB auto 1\r\nUNSUB 1 3\r\n");
    await sync(sub);
    const before = h.server.accounts.global.sublist.count;
    const pub = await h.client();
    pub.write("PUB auto 1\r\na\r\n".repeat(5));
    await sync(pub);
    await sync(sub);
    assert.equal(frames(sub.text()).length, 3);
    assert.equal(h.server.accounts.global.sublist.count, before - 1);
    // UNSUB with a max already reached removes at once
    sub.clear();
    sub.write("SUB auto 2\r\n");
    await sync(sub);
    pub.write("PUB auto 1\r\nb\r\nPUB auto 1\r\nc\r\n");
    await sync(pub);
    await sync(sub);
    sub.write("UNSUB 2 1\r\n");
    await sync(sub);
    pub.write("PUB auto 1\r\nd\r\n");
    await sync(pub);
    await sync(sub);
    assert.deepEqual(frames(sub.text()).map((f) => f.payload), ["b", "c"]);
    sub.close();
    pub.close();
  });

  it("echo: false keeps a client's own messages away from it", async () => {
    const a = await h.client({ echo: false });
    const b = await h.client();
    a.write("SUB echo 1\r\n");
    b.write("SUB echo 1\r\n");
    await sync(a);
    await sync(b);
    a.write("PUB echo 2\r\nhi\r\n");
    await sync(a);
    await sync(b);
    assert.equal(frames(a.text()).length, 0);
    assert.equal(frames(b.text()).length, 1);
    b.write("PUB echo 3\r\nyou\r\n");
    await sync(b);
    await sync(a);
    assert.deepEqual(frames(a.text()).map((f) => f.payload), ["you"]);
    assert.equal(frames(b.text()).length, 2, "echo on by default");
    a.close();
    b.close();
  });

  it("verbose: +OK after CONNECT, SUB, PUB and UNSUB", async () => {
    const c = await h.client({ verbose: true });
    await c.waitFor("+OK\r\n");
    c.write("SUB v 1\r\nPUB v 1\r\nx\r\nUNSUB 1\r\n");
    await c.waitFor((t) => count(t, "+OK\r\n") === 4);
    const q = await h.client();
    await sync(q);
    assert.equal(count(q.text(), "+OK"), 0);
    c.close();
    q.close();
  });

  it("CONNECT fields left out default to verbose and pedantic", async () => {
    const c = await h.client(null);
    c.write("CONNECT {}\r\n");
    await c.waitFor("+OK\r\n");
    c.write("PUB a.* 1\r\nx\r\n");
    await c.waitFor("-ERR 'Invalid Publish Subject'\r\n");
    c.close();
  });

  it("headers: HPUB reaches header clients as HMSG and others as MSG with the body only", async () => {
    const hc = await h.client({ headers: true });
    const plain = await h.client();
    hc.write("SUB h 1\r\n");
    plain.write("SUB h 2\r\n");
    await sync(hc);
    await sync(plain);
    const hdr = "NATS/1.0\r\nX-K: v\r\n\r\n";
    const pub = await h.client({ headers: true });
    pub.write(`HPUB h r ${hdr.length} ${hdr.length + 4}\r\n${hdr}body\r\n`);
    await sync(pub);
    await sync(hc);
    await sync(plain);
    assert.deepEqual(frames(hc.text()), [{ op: "HMSG", subject: "h", sid: "1", reply: "r", hdr: hdr.length, payload: `${hdr}body` }]);
    assert.deepEqual(frames(plain.text()), [{ op: "MSG", subject: "h", sid: "2", reply: "r", hdr: -1, payload: "body" }]);
    for (const c of [hc, plain, pub]) c.close();
  });

  it("HPUB from a client that did not announce headers closes it", async () => {
    const c = await h.client();
    c.write("HPUB h 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    await c.closed;
    assert.equal(c.isClosed(), true);
  });

  it("no responders: a request with no interest gets a 503 status message", async () => {
    const c = await h.client({ headers: true, no_responders: true });
    c.write("SUB _INBOX.abc 5\r\nPUB nobody.home _INBOX.abc 2\r\nhi\r\n");
    await c.waitFor("HMSG");
    await sync(c);
    assert.match(c.text(), /HMSG _INBOX\.abc 5 16 16\r\nNATS\/1\.0 503\r\n\r\n\r\n/);
    // without no_responders nothing comes back
    const d = await h.client({ headers: true });
    d.write("SUB _INBOX.d 1\r\nPUB nobody.home _INBOX.d 0\r\n\r\n");
    await sync(d);
    assert.equal(frames(d.text()).length, 0);
    for (const x of [c, d]) x.close();
  });

  it("protocol errors that keep the connection open", async () => {
    const c = await h.client({ pedantic: true });
    c.write("SUB a..b 1\r\n");
    await c.waitFor("-ERR 'Invalid Subject'\r\n");
    c.write("PUB a.* 1\r\nx\r\n");
    await c.waitFor("-ERR 'Invalid Publish Subject'\r\n");
    await sync(c);
    assert.equal(c.isClosed(), false);
    c.close();
  });

  it("protocol errors that close the connection", async () => {
    const cases: [string, string | null][] = [
      ["FOO\r\n", "-ERR 'Unknown Protocol Operation'\r\n"],
      ["UNSUB\r\n", "-ERR 'Unknown Protocol Operation'\r\n"],
      [`PUB a ${1024 * 1024 + 1}\r\n`, "-ERR 'Maximum Payload Violation'\r\n"],
      [`SUB ${"x".repeat(5000)} 1\r\n`, "-ERR 'maximum control line exceeded'\r\n"],
      ["PUB a -1\r\n", null],
      ["SUB a\r\n", null],
    ];
    for (const [input, err] of cases) {
      const c = await h.client();
      c.write(input);
      await c.closed;
      if (err !== null) assert.ok(c.text().endsWith(err), `${input.slice(0, 20)} -> ${JSON.stringify(c.text().slice(-80))}`);
      else assert.doesNotMatch(c.text(), /-ERR/);
    }
  });

  it("counts messages and bytes in server stats", async () => {
    const before = { ...h.server.stats };
    const sub = await h.client();
    sub.write("SUB st 1\r\n");
    await sync(sub);
    const pub = await h.client();
    pub.write("PUB st 3\r\nabc\r\n");
    await sync(pub);
    await sync(sub);
    assert.equal(h.server.stats.in_msgs - before.in_msgs, 1);
    assert.equal(h.server.stats.in_bytes - before.in_bytes, 3);
    assert.equal(h.server.stats.out_msgs - before.out_msgs, 1);
    assert.equal(h.server.stats.out_bytes - before.out_bytes, 3);
    sub.close();
    pub.close();
  });
});

// Behaviours observed on nats-server 2.9.10 (same bytes sent to /usr/sbin/nats-server) that Petrel does not match yet.
describe("server: parity with nats-server 2.9.10", () => {
  let h: Harness;
  before(async () => {
    h = await startServer();
  });
  after(async () => {
    await h.stop();
  });

  it("CONNECT with no_responders but without headers is refused", async () => {
    // nats-server: -ERR 'no responders requires headers support', then closes.
    const c = await h.client({ no_responders: true });
    await c.waitFor("-ERR 'no responders requires headers support'\r\n", 500);
    await c.closed;
  });

  it("no 503 for a request whose reply subject the requester only has a queue subscription on", async () => {
    // nats-server looks for the requester's own plain subscription on the reply subject (psubs only).
    const c = await h.client({ headers: true, no_responders: true });
    c.write("SUB _INBOX.q q 1\r\nPUB nobody.home _INBOX.q 0\r\n\r\n");
    await sync(c);
    assert.equal(frames(c.text()).length, 0, c.text());
  });

  it("HPUB with a zero-length header block is delivered as a plain MSG", async () => {
    // nats-server: HPUB a 0 1 / x  ->  MSG a 1 1 / x (to a headers-capable subscriber).
    const c = await h.client({ headers: true });
    c.write("SUB zh 1\r\nHPUB zh 0 1\r\nx\r\n");
    await sync(c);
    assert.deepEqual(frames(c.text()), [{ op: "MSG", subject: "zh", sid: "1", reply: undefined, hdr: -1, payload: "x" }]);
  });
});
