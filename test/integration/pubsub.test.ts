// Core messaging through the official client, run against nats-server and Petrel alike.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { errors, headers, type NatsConnection } from "@nats-io/transport-node";
import { forEachServer, monitorJson, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, markerThrough, td, te } from "../helpers/nats.ts";

forEachServer(["nats-server", "petrel"], (kind) => {
  let server: RunningServer;
  let a: NatsConnection;
  let b: NatsConnection;

  before(async () => {
    server = await startServer(kind, { monitor: true });
    a = await connectTo(server, { name: "a" });
    b = await connectTo(server, { name: "b" });
  });
  after(async () => {
    await closeAll([a, b]);
    await server?.stop();
  });

  it("delivers published bytes, in order, to a subscriber on another connection", async () => {
    const got = collect(b, "order.test");
    await b.flush();
    const payload = new Uint8Array([0, 1, 2, 13, 10, 255, 128]);
    a.publish("order.test", payload);
    for (let i = 0; i < 50; i++) a.publish("order.test", te.encode(`m${i}`));
    a.publish("order.test"); // empty payload
    await got.until(52);
    assert.deepEqual([...got.msgs[0].data], [...payload]);
    assert.deepEqual(got.msgs.slice(1, 51).map((m) => td.decode(m.data)), Array.from({ length: 50 }, (_, i) => `m${i}`));
    assert.equal(got.msgs[51].data.length, 0);
    assert.equal(got.msgs[0].subject, "order.test");
    got.sub.unsubscribe();
  });

  it("matches * and > wildcards like nats-server", async () => {
    const star = collect(b, "w.*");
    const gt = collect(b, "w.>");
    const mid = collect(b, "*.x.*");
    const all = collect(b, ">");
    await b.flush();
    for (const s of ["w", "w.a", "w.a.b", "w.x.y", "v.x.y", "w.x"]) a.publish(s, te.encode(s));
    await a.flush();
    await all.until(6);
    await markerThrough(a, b);
    const subjects = (c: ReturnType<typeof collect>) => c.msgs.map((m) => m.subject).sort();
    assert.deepEqual(subjects(star), ["w.a", "w.x"]);
    assert.deepEqual(subjects(gt), ["w.a", "w.a.b", "w.x", "w.x.y"]);
    assert.deepEqual(subjects(mid), ["v.x.y", "w.x.y"]);
    // ">" takes the marker too.
    assert.deepEqual(subjects(all).filter((x) => !x.startsWith("_marker.")), ["v.x.y", "w", "w.a", "w.a.b", "w.x", "w.x.y"]);
    for (const c of [star, gt, mid, all]) c.sub.unsubscribe();
  });

  it("gives each message to exactly one member of each queue group and spreads the load", async () => {
    const conns = await Promise.all([0, 1, 2].map(() => connectTo(server)));
    try {
      const g1 = conns.map((nc) => collect(nc, "q.work", { queue: "g1" }));
      const g2 = conns.slice(0, 2).map((nc) => collect(nc, "q.work", { queue: "g2" }));
      const plain = collect(b, "q.work");
      await Promise.all([...conns.map((nc) => nc.flush()), b.flush()]);
      const n = 300;
      for (let i = 0; i < n; i++) a.publish("q.work", te.encode(String(i)));
      await plain.until(n);
      const ids = (cs: Array<ReturnType<typeof collect>>) => cs.flatMap((c) => c.msgs.map((m) => Number(td.decode(m.data))));
      await waitFor(`${n} deliveries to each group`, () => ids(g1).length >= n && ids(g2).length >= n, 3000, 10).catch(() => {});
      // A duplicate would show up as more than n: anything still on its way arrives before these markers.
      for (const nc of conns) await markerThrough(a, nc);
      for (const [name, group] of [["g1", g1], ["g2", g2]] as const) {
        const got = ids(group).sort((x, y) => x - y);
        assert.equal(got.length, n, `${name} received ${got.length} messages`);
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), `${name}: every message exactly once`);
        for (const member of group) assert.ok(member.msgs.length > 0, `${name}: every member got some messages`);
      }
    } finally {
      await closeAll(conns);
    }
  });

  it("routes a request to a responder and its reply back", async () => {
    const sub = b.subscribe("svc.echo", {
      callback: (_err, msg) => {
        assert.ok(msg.reply, "request carries a reply subject");
        msg.respond(te.encode(`echo:${td.decode(msg.data)}`));
      },
    });
    await b.flush();
    const reply = await a.request("svc.echo", te.encode("hi"), { timeout: 2000 });
    assert.equal(td.decode(reply.data), "echo:hi");
    const replies = await Promise.all([1, 2, 3].map((i) => a.request("svc.echo", te.encode(`r${i}`), { timeout: 2000 })));
    assert.deepEqual(replies.map((m) => td.decode(m.data)), ["echo:r1", "echo:r2", "echo:r3"]);
    sub.unsubscribe();
  });

  it("answers a request without responders with a 503 (NoRespondersError)", async () => {
    await assert.rejects(a.request("nobody.home", te.encode("?"), { timeout: 2000 }), (err: unknown) => {
      assert.ok(err instanceof errors.RequestError, `expected RequestError, got ${String(err)}`);
      assert.ok(err.isNoResponders(), `expected no responders, got ${String(err)} / ${String(err.cause)}`);
      assert.ok(err.cause instanceof errors.NoRespondersError);
      return true;
    });
  });

  it("round-trips headers (HPUB/HMSG)", async () => {
    const got = collect(b, "hdr.test");
    await b.flush();
    const h = headers();
    h.set("X-One", "1");
    h.append("X-Multi", "a");
    h.append("X-Multi", "b");
    a.publish("hdr.test", te.encode("body"), { headers: h, reply: "hdr.reply" });
    const h2 = headers();
    h2.set("Only", "headers");
    a.publish("hdr.test", undefined, { headers: h2 });
    await got.until(2);
    const [m1, m2] = got.msgs;
    assert.equal(td.decode(m1.data), "body");
    assert.equal(m1.reply, "hdr.reply");
    assert.equal(m1.headers?.get("X-One"), "1");
    assert.deepEqual(m1.headers?.values("X-Multi"), ["a", "b"]);
    assert.equal(m2.data.length, 0);
    assert.equal(m2.headers?.get("Only"), "headers");
    got.sub.unsubscribe();
  });

  it("does not echo a connection's own messages when noEcho is set", async () => {
    const quiet = await connectTo(server, { noEcho: true });
    try {
      const own = collect(quiet, "echo.test");
      const other = collect(b, "echo.test");
      await Promise.all([quiet.flush(), b.flush()]);
      quiet.publish("echo.test", te.encode("from-quiet"));
      a.publish("echo.test", te.encode("from-a"));
      await other.until(2);
      // Both publishes were routed (other has them): an echo to quiet would be ahead of this marker.
      await markerThrough(a, quiet);
      assert.deepEqual(own.msgs.map((m) => td.decode(m.data)), ["from-a"]);
    } finally {
      await quiet.close();
    }
  });

  it("auto-unsubscribes after max messages", async () => {
    const got = collect(b, "max.test", { max: 3 });
    await b.flush();
    for (let i = 0; i < 10; i++) a.publish("max.test", te.encode(String(i)));
    await a.flush();
    await got.until(3);
    await markerThrough(a, b);
    assert.deepEqual(got.msgs.map((m) => td.decode(m.data)), ["0", "1", "2"]);
    assert.ok(got.sub.isClosed());
  });

  it("drains: pending messages are processed, then the connection closes", async () => {
    const nc = await connectTo(server);
    let processed = 0;
    nc.subscribe("drain.test", {
      callback: () => {
        processed++;
      },
    });
    await nc.flush();
    for (let i = 0; i < 100; i++) a.publish("drain.test", te.encode(String(i)));
    await a.flush();
    await nc.drain();
    assert.equal(processed, 100);
    assert.ok(nc.isClosed());
  });

  it("answers flush and rtt", async () => {
    await a.flush();
    const rtt = await a.rtt();
    assert.ok(rtt >= 0 && rtt < 2000, `rtt ${rtt}`);
  });

  it("accepts 200 simultaneous connections and delivers to all of them", { timeout: 20_000 }, async () => {
    const conns = await Promise.all(Array.from({ length: 200 }, () => connectTo(server)));
    try {
      let received = 0;
      for (const nc of conns) {
        nc.subscribe("fanout.test", {
          callback: () => {
            received++;
          },
        });
      }
      await Promise.all(conns.map((nc) => nc.flush()));
      const varz = await monitorJson<{ connections: number }>(server, "/varz");
      assert.ok(varz.connections >= 202, `varz.connections = ${varz.connections}`);
      a.publish("fanout.test", te.encode("all"));
      await waitFor("200 deliveries", () => received >= 200, 5000, 10).catch(() => {});
      assert.equal(received, 200);
    } finally {
      await closeAll(conns);
    }
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(kind, { conf: "max_payload: 1024\n" });
  });
  after(async () => {
    await server?.stop();
  });

  it("announces max_payload in INFO and the client refuses larger messages", async () => {
    const nc = await connectTo(server);
    try {
      assert.equal(nc.info?.max_payload, 1024);
      const got = collect(nc, "mp.test");
      await nc.flush();
      nc.publish("mp.test", new Uint8Array(1024));
      assert.throws(() => nc.publish("mp.test", new Uint8Array(1025)), /max_payload|payload/i);
      await got.until(1);
      assert.equal(got.msgs[0].data.length, 1024);
    } finally {
      await nc.close();
    }
  });
});
