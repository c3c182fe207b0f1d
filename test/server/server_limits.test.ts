import { describe, it } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { count, frames, infos, startServer, sync } from "./harness.ts";
import { waitFor } from "../helpers/servers.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";

describe("server: authentication", () => {
  it("token: INFO says auth_required; bad token closes with Authorization Violation; good token works", async () => {
    const h = await startServer({ authorization: { token: "t0k" } });
    try {
      const bad = await h.client({ auth_token: "nope" });
      await bad.closed;
      assert.ok(bad.text().endsWith("-ERR 'Authorization Violation'\r\n"), bad.text());
      assert.equal(infos(bad.text())[0].auth_required, true);
      const none = await h.client(null);
      none.write("PING\r\n");
      await none.closed;
      assert.ok(none.text().endsWith("-ERR 'Authorization Violation'\r\n"), "ops before CONNECT are refused");
      const good = await h.client({ auth_token: "t0k" });
      await sync(good);
      assert.equal(good.isClosed(), false);
      assert.equal(h.server.stats.auth_failures, 1);
    } finally {
      await h.stop();
    }
  });

  it("user/password and a users list with a bcrypt hash", async () => {
    const h = await startServer({
      authorization: { users: [{ user: "alice", password: "pa" }, { user: "bob", password: bcrypt.hashSync("pb", 4) }] },
    });
    try {
      const a = await h.client({ user: "alice", pass: "pa" });
      const b = await h.client({ user: "bob", pass: "pb" });
      await sync(a);
      await sync(b);
      const wrong = await h.client({ user: "bob", pass: "pa" });
      await wrong.closed;
      assert.match(wrong.text(), /-ERR 'Authorization Violation'/);
      const connz = [...h.server.clients.values()].map((c) => c.user).sort();
      assert.deepEqual(connz, ["alice", "bob"]);
    } finally {
      await h.stop();
    }
  });

  it("no_auth_user: a client without credentials is that user", async () => {
    const h = await startServer({
      authorization: { users: [{ user: "anon", password: "x", permissions: { publish: { allow: ["ok"] } } }] },
      no_auth_user: "anon",
    });
    try {
      const c = await h.client({});
      c.write("PUB ok 0\r\n\r\nPUB nope 0\r\n\r\n");
      await c.waitFor(`-ERR 'Permissions Violation for Publish to "nope"'`);
      await sync(c);
      assert.equal([...h.server.clients.values()][0].user, "anon");
    } finally {
      await h.stop();
    }
  });

  it("authentication timeout", async () => {
    const h = await startServer({ authorization: { token: "t" }, auth_timeout: 50 });
    try {
      const c = await h.client(null);
      await c.closed;
      assert.ok(c.text().endsWith("-ERR 'Authentication Timeout'\r\n"), c.text());
    } finally {
      await h.stop();
    }
  });

  it("the authentication deadline is a light timer, cancelled by CONNECT (a runtime setTimeout loads Node's timer layer on Deno)", async () => {
    const h = await startServer({ authorization: { token: "t" }, auth_timeout: 60 });
    try {
      const c = await h.client(null); // INFO received: the client is registered and its deadline armed
      const armed = lightTimersPending();
      c.write(`CONNECT {"verbose":false,"pedantic":false,"auth_token":"t"}\r\n`);
      await sync(c);
      assert.equal(lightTimersPending(), armed - 1, "CONNECT took the deadline out of the light timers");
      assert.ok(!c.isClosed());
    } finally {
      await h.stop();
    }
  });
});

describe("server: permissions", () => {
  it("publish and subscribe violations answer -ERR and keep the connection", async () => {
    const h = await startServer({
      authorization: {
        users: [{
          user: "u",
          password: "p",
          permissions: { publish: { allow: ["pub.>"] }, subscribe: { allow: ["sub.*", "q.* grp"], deny: ["sub.secret"] } },
        }, { user: "admin", password: "a" }],
      },
    });
    try {
      const c = await h.client({ user: "u", pass: "p" });
      c.write("PUB other 0\r\n\r\n");
      await c.waitFor(`-ERR 'Permissions Violation for Publish to "other"'\r\n`);
      c.write("SUB nope 1\r\n");
      await c.waitFor(`-ERR 'Permissions Violation for Subscription to "nope"'\r\n`);
      c.write("SUB sub.secret 2\r\n");
      await c.waitFor(`-ERR 'Permissions Violation for Subscription to "sub.secret"'\r\n`);
      c.write("SUB q.a other 3\r\n");
      await c.waitFor(`-ERR 'Permissions Violation for Subscription to "q.a" using queue "other"'\r\n`);
      c.write("SUB q.a grp 4\r\nSUB sub.* 5\r\n");
      await sync(c);
      assert.equal(count(c.text(), "-ERR"), 4);
      assert.equal(c.isClosed(), false);
      // the wildcard sub.* is allowed but must not deliver the denied sub.secret
      const p = await h.client({ user: "admin", pass: "a" });
      p.write("PUB sub.secret 1\r\ns\r\nPUB sub.open 1\r\no\r\nPUB q.a 1\r\nq\r\n");
      await sync(p);
      await sync(c);
      assert.deepEqual(frames(c.text()).map((f) => `${f.subject}:${f.sid}`).sort(), ["q.a:4", "sub.open:5"]);
      // allowed publish works
      c.clear();
      c.write("PUB pub.x 0\r\n\r\n");
      await sync(c);
      assert.doesNotMatch(c.text(), /-ERR/);
    } finally {
      await h.stop();
    }
  });
});

describe("server: limits", () => {
  it("max_connections: the extra client gets INFO then -ERR and is closed", async () => {
    const h = await startServer({ max_connections: 1 });
    try {
      const a = await h.client();
      await sync(a);
      const b = await h.client(null);
      await b.closed;
      assert.equal(infos(b.text()).length, 1);
      assert.ok(b.text().endsWith("-ERR 'maximum connections exceeded'\r\n"), b.text());
      assert.equal(h.server.clients.size, 1);
      await sync(a);
    } finally {
      await h.stop();
    }
  });

  it("max_subscriptions", async () => {
    const h = await startServer({ max_subscriptions: 2 });
    try {
      const c = await h.client();
      c.write("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n");
      await c.waitFor("-ERR 'maximum subscriptions exceeded'");
      await sync(c);
      assert.equal(h.server.accounts.global.sublist.count, 2);
    } finally {
      await h.stop();
    }
  });

  it("stale connection: a client that never answers PING is closed", async () => {
    const h = await startServer({ ping_interval: 20, ping_max: 2 });
    try {
      const c = await h.client();
      await c.closed;
      assert.ok(count(c.text(), "PING\r\n") >= 2, c.text());
      assert.ok(c.text().endsWith("-ERR 'Stale Connection'\r\n"), c.text());
      // a client that answers stays
      const alive = await h.client();
      for (let i = 0; i < 6; i++) {
        await alive.waitFor((t) => count(t, "PING\r\n") > i, 1000);
        alive.write("PONG\r\n");
      }
      assert.equal(alive.isClosed(), false);
    } finally {
      await h.stop();
    }
  });

  it("slow consumer: a subscriber that does not read is dropped and counted", async () => {
    const h = await startServer({ max_pending: 4096 }, { highWaterMark: 1024 });
    try {
      // The consumer lives on another simulated machine; a partition stalls the bytes sent to it,
      // as an unread TCP socket would.
      const slow = await h.client({}, "slowpoke");
      slow.write("SUB data 1\r\n");
      await sync(slow);
      const fast = await h.client();
      fast.write("SUB data 2\r\n");
      await sync(fast);
      h.network.partition("slowpoke", "local");
      const payload = "x".repeat(200);
      for (let i = 0; i < 40; i++) {
        fast.write(`PUB data ${payload.length}\r\n${payload}\r\n`);
        await sync(fast);
      }
      assert.equal(h.server.stats.slow_consumers, 1);
      assert.equal(h.server.clients.size, 1, "the slow consumer was removed");
      assert.equal(h.server.accounts.global.sublist.count, 1, "and its subscription with it");
      assert.equal(frames(fast.text()).length, 40, "other subscribers are not affected");
      h.network.heal();
      await slow.closed;
    } finally {
      await h.stop();
    }
  });

  it("slow consumer: a burst larger than max_pending in one read", async () => {
    const h = await startServer({ max_pending: 2048 });
    try {
      const sub = await h.client();
      sub.write("SUB burst 1\r\n");
      await sync(sub);
      const pub = await h.client();
      const payload = "y".repeat(100);
      pub.write(`PUB burst ${payload.length}\r\n${payload}\r\n`.repeat(50));
      await sync(pub);
      await sub.closed;
      assert.equal(h.server.stats.slow_consumers, 1);
      assert.equal(pub.isClosed(), false);
    } finally {
      await h.stop();
    }
  });
});

describe("server: lifecycle", () => {
  it("shutdown closes every client and stops accepting", async () => {
    const h = await startServer();
    const a = await h.client();
    const b = await h.client(null);
    await sync(a);
    await h.server.shutdown();
    await Promise.all([a.closed, b.closed]);
    assert.equal(h.server.clients.size, 0);
    assert.equal(h.server.running, false);
    await assert.rejects(h.client());
    await h.stop(); // idempotent
  });

  it("lame duck: protocol-1 clients get INFO with ldm, then everyone is closed and the server stops", async () => {
    const h = await startServer({ lame_duck_duration: 60, lame_duck_grace_period: 20 });
    try {
      const p1 = await h.client({ protocol: 1 });
      const p0 = await h.client({ protocol: 0 });
      await sync(p1);
      await sync(p0);
      const done = h.server.lameDuck();
      await p1.waitFor((t) => infos(t).some((i) => i.ldm === true));
      assert.equal(h.server.lameDuckMode, true);
      await assert.rejects(h.client(null), "no new clients in lame duck mode");
      await done;
      await Promise.all([p1.closed, p0.closed]);
      assert.equal(infos(p0.text()).length, 1, "protocol 0 clients get no async INFO");
      assert.equal(h.server.running, false);
    } finally {
      await h.stop();
    }
  });

  it("acceptConnection after shutdown closes the newcomer", async () => {
    const h = await startServer();
    await h.server.shutdown();
    let closed = false;
    let written = "";
    const handler = h.server.acceptConnection({
      info: { kind: "memory", remoteHost: "x", remotePort: 1, localHost: "y", localPort: 2 },
      write(d) {
        written += new TextDecoder().decode(d);
        return true;
      },
      bufferedAmount: () => 0,
      close() {
        closed = true;
      },
    });
    await waitFor("the newcomer closed", () => closed, 2000, 1);
    assert.equal(written, "");
    handler.onClose();
  });
});
