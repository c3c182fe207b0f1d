// SIGHUP applies changed authorization to live connections, as nats-server 2.9.10 does: subscriptions that lost
// permission are removed with -ERR 'Permissions Violation for Subscription to "<subj>" (sid "<sid>")', publishes
// are checked against the new rules, a removed user is disconnected (quietly), a user whose password changed gets
// -ERR 'Authorization Violation' and is disconnected. Byte-level, the same steps against both servers.
import { it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forEachServer, monitorJson, startServer, waitFor } from "../helpers/servers.ts";
import { connectRaw, type RawClient } from "../helpers/raw.ts";

const BEFORE = `authorization {
  users = [
    { user: alice, password: a1, permissions: { publish: [">"], subscribe: ["foo", "bar", "q.>"] } }
    { user: bob, password: b2 }
    { user: carol, password: c3, permissions: { publish: ["x"] } }
    { user: dave, password: d4 }
  ]
}
`;
const AFTER = `authorization {
  users = [
    { user: alice, password: a1, permissions: { publish: ["ok.>", "foo"], subscribe: ["foo", "q.a"] } }
    { user: carol, password: c4, permissions: { publish: ["x"] } }
    { user: dave, password: d4 }
  ]
}
`;

/** Everything after the INFO line. */
const afterInfo = (c: RawClient) => c.text().replace(/^INFO [^\r]*\r\n/, "");

forEachServer(["nats-server", "petrel"], (kind) => {
  it("a reload removes denied subscriptions, checks publishes anew and drops removed users", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-reload-live-"));
    const conf = join(dir, "auth.conf");
    writeFileSync(conf, BEFORE);
    const server = await startServer(kind, { args: ["-c", conf] });
    const clients: RawClient[] = [];
    try {
      const login = async (user: string, pass: string, then = "") => {
        const c = await connectRaw(server.port);
        clients.push(c);
        await c.send(`CONNECT {"user":"${user}","pass":"${pass}","verbose":false}\r\n${then}PING\r\n`);
        await c.readUntil("PONG\r\n");
        return c;
      };
      const alice = await login("alice", "a1", "SUB foo 1\r\nSUB bar 2\r\nSUB q.> 3\r\nSUB q.a 4\r\n");
      const bob = await login("bob", "b2", "SUB foo 1\r\n");
      const carol = await login("carol", "c3");
      const dave = await login("dave", "d4");

      writeFileSync(conf, AFTER);
      process.kill(server.pid, "SIGHUP");
      // nats-server sends these in no particular order (it walks a map).
      const barErr = `-ERR 'Permissions Violation for Subscription to "bar" (sid "2")'\r\n`;
      const qErr = `-ERR 'Permissions Violation for Subscription to "q.>" (sid "3")'\r\n`;
      await alice.readUntil((t) => t.includes(barErr) && t.includes(qErr), 10_000);
      assert.equal(await bob.waitClosed(5000), true, "removed user disconnected");
      assert.equal(await carol.waitClosed(5000), true, "user with changed password disconnected");
      assert.equal(afterInfo(bob), "PONG\r\n", "quietly");
      assert.equal(afterInfo(carol), "PONG\r\n-ERR 'Authorization Violation'\r\n");

      // Publishes follow the new rules.
      await alice.send("PUB bar 1\r\nx\r\nPUB ok.1 1\r\ny\r\nPING\r\n");
      await alice.readUntil("PONG\r\n");
      // The removed subscriptions get nothing: "bar" then a marker on "foo", on the same path.
      await dave.send("PUB bar 3\r\nbar\r\nPUB q.a 2\r\nqa\r\nPUB foo 6\r\nmarker\r\nPING\r\n");
      await dave.readUntil("PONG\r\n");
      await alice.readUntil("MSG foo 1 6\r\nmarker\r\n");
      const lines = afterInfo(alice).split("\r\n");
      assert.deepEqual(lines.slice(1, 3).sort(), [barErr, qErr].map((e) => e.slice(0, -2)).sort());
      assert.equal(
        [lines[0], ...lines.slice(3)].join("\r\n"),
        "PONG\r\n" +
          `-ERR 'Permissions Violation for Publish to "bar"'\r\n` +
          "PONG\r\n" +
          "MSG q.a 4 2\r\nqa\r\n" +
          "MSG foo 1 6\r\nmarker\r\n",
      );
      await alice.expectOpen();
    } finally {
      for (const c of clients) c.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  it("a lowered max_connections closes the connections over it; /varz config_load_time moves", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-reload-max-"));
    const conf = join(dir, "max.conf");
    writeFileSync(conf, "max_connections: 10\n");
    const server = await startServer(kind, { args: ["-c", conf], monitor: true });
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await connectRaw(server.port);
        clients.push(c);
        await c.send(`CONNECT {"verbose":false}\r\nPING\r\n`);
        await c.readUntil("PONG\r\n");
      }
      const loaded = (await monitorJson(server, "/varz")).config_load_time;
      writeFileSync(conf, "max_connections: 2\n");
      process.kill(server.pid, "SIGHUP");
      const dropped = await waitFor("one connection dropped", () => {
        const gone = clients.filter((c) => c.closed());
        return gone.length > 0 ? gone : undefined;
      }, 10_000);
      assert.equal(dropped.length, 1);
      assert.equal(afterInfo(dropped[0]), "PONG\r\n-ERR 'maximum connections exceeded'\r\n");
      for (const c of clients.filter((x) => !x.closed())) await c.expectOpen();
      const v = await monitorJson(server, "/varz");
      assert.equal(v.max_connections, 2);
      assert.notEqual(v.config_load_time, loaded);
    } finally {
      for (const c of clients) c.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
