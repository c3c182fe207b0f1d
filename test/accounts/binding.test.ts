// Clients bound to accounts by their user: each account is its own subject space, internal clients live in
// the account they were created for, and $G / the system account always exist.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { frames, type Harness, startServer, sync } from "../server/harness.ts";

const enc = new TextEncoder();

const accounts = {
  A: { users: [{ user: "a", password: "pa" }, { user: "a2", password: "pa2" }] },
  B: { users: [{ user: "b", password: "pb" }] },
};

describe("accounts: clients bound by user", () => {
  let h: Harness;
  before(async () => {
    h = await startServer({}, {}, { accounts });
  });
  after(async () => {
    await h.stop();
  });

  it("has $G, $SYS and the configured accounts", () => {
    assert.deepEqual(h.server.accounts.names().sort(), ["$G", "$SYS", "A", "B"]);
    assert.equal(h.server.accounts.global.name, "$G");
    assert.equal(h.server.accounts.system.name, "$SYS");
    assert.equal(h.server.authRequired, true);
  });

  it("keeps each account's messages to its own clients", async () => {
    const a = await h.client({ user: "a", pass: "pa" });
    const a2 = await h.client({ user: "a2", pass: "pa2" });
    const b = await h.client({ user: "b", pass: "pb" });
    a.write("SUB x 1\r\n");
    b.write("SUB x 1\r\n");
    await sync(a);
    await sync(b);
    a2.write("PUB x 5\r\nfromA\r\n");
    await sync(a2);
    b.write("PUB x 5\r\nfromB\r\n");
    await sync(b);
    await sync(a);
    assert.deepEqual(frames(a.text()).map((f) => f.payload), ["fromA"]);
    assert.deepEqual(frames(b.text()).map((f) => f.payload), ["fromB"]);
    const clientsOf = (name: string) => [...h.server.clients.values()].filter((c) => c.account.name === name).length;
    assert.equal(clientsOf("A"), 2);
    assert.equal(clientsOf("B"), 1);
  });

  it("refuses a user of no account and a wrong password", async () => {
    const bad = await h.client({ user: "a", pass: "nope" });
    await bad.waitFor(/-ERR 'Authorization Violation'/);
  });

  it("binds internal clients to their account", async () => {
    const inA = h.server.createInternalClient("svc", { account: "A" });
    const seen: string[] = [];
    inA.subscribe("svc", (m) => seen.push(new TextDecoder().decode(m.payload)));
    const b = await h.client({ user: "b", pass: "pb" });
    const a = await h.client({ user: "a", pass: "pa" });
    b.write("PUB svc 1\r\nb\r\n");
    a.write("PUB svc 1\r\na\r\n");
    await sync(b);
    await sync(a);
    assert.deepEqual(seen, ["a"]);
    assert.equal(inA.account, h.server.accounts.get("A"));
    assert.equal(inA.publish("svc", enc.encode("self")), 1);
    assert.equal(h.server.createInternalClient("g").account, h.server.accounts.global);
    inA.close();
  });
});

describe("accounts: a reload relinks exports and imports", () => {
  it("stops a stream import the new configuration drops", async () => {
    const withImport = {
      A: { users: [{ user: "a", password: "pa" }], exports: [{ stream: "feed.>" }] },
      B: { users: [{ user: "b", password: "pb" }], imports: [{ stream: { account: "A", subject: "feed.>" }, prefix: "fromA" }] },
    };
    const h = await startServer({}, {}, { accounts: withImport });
    try {
      const a = await h.client({ user: "a", pass: "pa" });
      const b = await h.client({ user: "b", pass: "pb" });
      b.write("SUB fromA.> 1\r\nSUB marker 2\r\n");
      await sync(b);
      a.write("PUB feed.x 3\r\none\r\n");
      await sync(a);
      await sync(b);
      assert.deepEqual(frames(b.text()).map((f) => `${f.subject}:${f.payload}`), ["fromA.feed.x:one"]);
      h.server.reload({ ...h.server.options, accounts: { A: withImport.A, B: { users: withImport.B.users } } } as typeof h.server.options);
      a.write("PUB feed.x 3\r\ntwo\r\n");
      await sync(a);
      b.write("PUB marker 3\r\nend\r\n");
      await sync(b);
      assert.deepEqual(frames(b.text()).map((f) => `${f.subject}:${f.payload}`), ["fromA.feed.x:one", "marker:end"]);
    } finally {
      await h.stop();
    }
  });
});
