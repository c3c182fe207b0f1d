// Authentication and authorization through the official client: flags, conf blocks, bcrypt, permissions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { errors, type NatsConnection, nkeyAuthenticator, type Status } from "@nats-io/transport-node";
import { createUser } from "@nats-io/nkeys";
import { connectRaw, readInfo } from "../helpers/raw.ts";
import { forEachServer, type RunningServer, sleep, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, collect, connectTo, markerThrough, td, te } from "../helpers/nats.ts";

async function assertAuthRejected(p: Promise<NatsConnection>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof errors.AuthorizationError, `expected AuthorizationError, got ${String(err)}`);
    assert.match(String(err.message), /authorization violation/i);
    return true;
  });
}

/** Collects the async errors the server reports on a connection (permission violations arrive this way). */
function watchErrors(nc: NatsConnection): Error[] {
  const out: Error[] = [];
  (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type === "error") out.push(s.error);
    }
  })().catch(() => {});
  return out;
}

async function assertUsable(nc: NatsConnection): Promise<void> {
  const got = collect(nc, "auth.ok");
  await nc.flush();
  nc.publish("auth.ok", te.encode("x"));
  await got.until(1);
  got.sub.unsubscribe();
}

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("user/password from flags", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { args: ["--user", "alice", "--pass", "s3cret"] });
    });
    after(() => server?.stop());

    it("accepts the right credentials and rejects wrong or missing ones", async () => {
      const nc = await connectTo(server, { user: "alice", pass: "s3cret" });
      assert.equal(nc.info?.auth_required, true);
      await assertUsable(nc);
      await nc.close();
      await assertAuthRejected(connectTo(server, { user: "alice", pass: "wrong" }));
      await assertAuthRejected(connectTo(server, { user: "bob", pass: "s3cret" }));
      await assertAuthRejected(connectTo(server));
    });
  });

  describe("authorization {} in conf", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: "authorization {\n  user: carol\n  password: \"pw with spaces\"\n}\n" });
    });
    after(() => server?.stop());

    it("accepts the conf user and rejects others", async () => {
      const nc = await connectTo(server, { user: "carol", pass: "pw with spaces" });
      await assertUsable(nc);
      await nc.close();
      await assertAuthRejected(connectTo(server, { user: "carol", pass: "pw" }));
    });
  });

  describe("flags override the config file", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, {
        conf: "authorization { user: a, password: b }\nmax_payload: 2048\nserver_name: from-conf\n",
        args: ["--user", "x", "--pass", "y", "-n", "from-flag"],
      });
    });
    after(() => server?.stop());

    it("uses --user/--pass and -n over the conf, keeps the conf's other settings", async () => {
      const nc = await connectTo(server, { user: "x", pass: "y" });
      assert.equal(nc.info?.server_name, "from-flag");
      assert.equal(nc.info?.max_payload, 2048);
      await assertUsable(nc);
      await nc.close();
      await assertAuthRejected(connectTo(server, { user: "a", pass: "b" }));
    });
  });

  describe("token from --auth", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { args: ["--auth", "tok-123"] });
    });
    after(() => server?.stop());

    it("accepts the token and rejects a wrong one", async () => {
      const nc = await connectTo(server, { token: "tok-123" });
      assert.equal(nc.info?.auth_required, true);
      await assertUsable(nc);
      await nc.close();
      await assertAuthRejected(connectTo(server, { token: "tok-124" }));
      await assertAuthRejected(connectTo(server, { user: "tok-123", pass: "tok-123" }));
    });
  });

  describe("bcrypt-hashed passwords in conf", () => {
    let server: RunningServer;
    before(async () => {
      // bcryptjs writes $2b$; `nats server passwd` (Go) writes $2a$. Same algorithm, both must work.
      const hash2b = bcrypt.hashSync("hunter2", bcrypt.genSaltSync(6));
      const hash2a = bcrypt.hashSync("swordfish", bcrypt.genSaltSync(6)).replace(/^\$2b\$/, "$2a$");
      assert.match(hash2b, /^\$2b\$06\$/);
      server = await startServer(kind, {
        conf: `authorization {
  users = [
    { user: dave, password: "${hash2b}" }
    { user: erin, password: "${hash2a}" }
  ]
}
`,
      });
    });
    after(() => server?.stop());

    it("checks the clear password against the hash", async () => {
      const nc = await connectTo(server, { user: "dave", pass: "hunter2" });
      await assertUsable(nc);
      await nc.close();
      const nc2 = await connectTo(server, { user: "erin", pass: "swordfish" });
      await assertUsable(nc2);
      await nc2.close();
      await assertAuthRejected(connectTo(server, { user: "dave", pass: "hunter3" }));
      await assertAuthRejected(connectTo(server, { user: "erin", pass: "hunter2" }));
    });
  });

  describe("nkey users", () => {
    let server: RunningServer;
    const user = createUser();
    const stranger = createUser();
    before(async () => {
      server = await startServer(kind, {
        conf: `authorization {\n  users = [\n    { nkey: ${user.getPublicKey()} }\n  ]\n}\n`,
      });
    });
    after(() => server?.stop());

    it("sends a nonce in INFO and accepts a signed nonce from a known nkey only", async () => {
      const c = await connectRaw(server.port);
      const info = await readInfo(c);
      c.close();
      assert.equal(info.auth_required, true);
      assert.equal(typeof info.nonce, "string");
      assert.ok(String(info.nonce).length > 0);
      const nc = await connectTo(server, { authenticator: nkeyAuthenticator(user.getSeed()) });
      await assertUsable(nc);
      await nc.close();
      await assertAuthRejected(connectTo(server, { authenticator: nkeyAuthenticator(stranger.getSeed()) }));
      await assertAuthRejected(connectTo(server));
    });
  });

  describe("multiple users with permissions", () => {
    let server: RunningServer;
    let admin: NatsConnection;
    let limited: NatsConnection;
    let limitedErrors: Error[];
    before(async () => {
      server = await startServer(kind, {
        conf: `
authorization {
  users = [
    { user: admin, password: a }
    {
      user: limited
      password: l
      permissions: {
        publish: { allow: ["pub.>", "_INBOX.>"], deny: ["pub.secret"] }
        subscribe: { allow: ["sub.>", "_INBOX.>"], deny: ["sub.secret"] }
      }
    }
  ]
}
`,
      });
      admin = await connectTo(server, { user: "admin", pass: "a" });
      limited = await connectTo(server, { user: "limited", pass: "l" });
      limitedErrors = watchErrors(limited);
    });
    after(async () => {
      await closeAll([admin, limited]);
      await server?.stop();
    });

    it("delivers what is allowed", async () => {
      const got = collect(admin, "pub.open");
      const mine = collect(limited, "sub.open");
      await Promise.all([admin.flush(), limited.flush()]);
      limited.publish("pub.open", te.encode("1"));
      admin.publish("sub.open", te.encode("2"));
      await got.until(1);
      await mine.until(1);
      got.sub.unsubscribe();
      mine.sub.unsubscribe();
    });

    it("rejects a denied publish with a permission error and never delivers it", async () => {
      const watch = collect(admin, "pub.>");
      const other = collect(admin, "elsewhere");
      await admin.flush();
      limited.publish("pub.secret", te.encode("no"));
      limited.publish("elsewhere", te.encode("no"));
      limited.publish("pub.fine", te.encode("yes"));
      await limited.flush();
      await watch.until(1);
      await waitFor("two permission errors", () => limitedErrors.length >= 2, 2000, 10).catch(() => {});
      // The denied publishes came before the allowed one on limited's connection: had one been routed, it would
      // be ahead of this marker on the same path.
      await markerThrough(limited, admin, 5000, "_INBOX.marker");
      assert.deepEqual(watch.msgs.map((m) => m.subject), ["pub.fine"]);
      assert.equal(other.msgs.length, 0);
      const perms = limitedErrors.filter((e) => e instanceof errors.PermissionViolationError);
      assert.deepEqual(
        perms.map((e) => [e.operation, e.subject, e.message]),
        [
          ["publish", "pub.secret", `Permissions Violation for Publish to "pub.secret"`],
          ["publish", "elsewhere", `Permissions Violation for Publish to "elsewhere"`],
        ],
      );
      assert.ok(!limited.isClosed(), "a permission violation keeps the connection open");
      watch.sub.unsubscribe();
      other.sub.unsubscribe();
      limitedErrors.length = 0;
    });

    it("rejects a denied subscription with a permission error and never delivers to it", async () => {
      const denied = collect(limited, "sub.secret");
      const outside = collect(limited, "nope.x");
      await limited.flush();
      const closedWith = await Promise.race([denied.sub.closed, sleep(2000).then(() => "timeout")]);
      assert.ok(closedWith instanceof errors.PermissionViolationError, `sub.closed resolved with ${String(closedWith)}`);
      assert.equal(closedWith.operation, "subscription");
      assert.equal(closedWith.subject, "sub.secret");
      assert.equal(closedWith.message, `Permissions Violation for Subscription to "sub.secret"`);
      const closedOutside = await Promise.race([outside.sub.closed, sleep(2000).then(() => "timeout")]);
      assert.ok(closedOutside instanceof errors.PermissionViolationError, `sub.closed resolved with ${String(closedOutside)}`);
      admin.publish("sub.secret", te.encode("hidden"));
      admin.publish("nope.x", te.encode("hidden"));
      await admin.flush();
      await markerThrough(admin, limited, 5000, "_INBOX.marker");
      assert.equal(denied.msgs.length, 0);
      assert.equal(outside.msgs.length, 0);
      assert.ok(!limited.isClosed());
      // Still usable for what is allowed.
      const reply = collect(limited, "sub.after");
      await limited.flush();
      admin.publish("sub.after", te.encode("ok"));
      await reply.until(1);
      assert.equal(td.decode(reply.msgs[0].data), "ok");
      limitedErrors.length = 0;
    });
  });
});
