// Operator mode (JWT authentication), differential against nats-server 2.9: an operator, accounts preloaded into
// the MEMORY resolver, users with .creds files as the official client loads them. Keys and JWTs are made at test
// time with @nats-io/nkeys and @nats-io/jwt. Checked: the chain, account isolation, permissions from the claims,
// expired, revoked and foreign users, a wrong nonce signature, and a user dropped when its JWT expires.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credsAuthenticator, errors, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { connectRaw, readInfo } from "../helpers/raw.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { forEachServer, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { collect, connectTo, te } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "petrel-jwt-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

interface World {
  conf: string;
  operator: KeyPair;
  sys: KeyPair;
  limits: Record<string, unknown>;
  /** The conf without the resolver line and preload, for other resolvers. */
  trustConf(resolver: string, preload: [KeyPair, string][]): string;
  sysJwt: string;
  aJwt: string;
  /** An account that allows one connection. */
  accountC: KeyPair;
  operatorFile: string;
  accountA: KeyPair;
  accountB: KeyPair;
  /** A user of an account the resolver does not know (signed by another operator). */
  strangerCreds: Uint8Array;
  revokedCreds: Uint8Array;
  expiredCreds: Uint8Array;
  creds(account: KeyPair, opts?: Parameters<typeof encodeUser>[3], exp?: number): Promise<{ creds: Uint8Array; jwt: string; user: KeyPair }>;
}

async function makeWorld(): Promise<World> {
  const op = createOperator();
  const sys = createAccount();
  const a = createAccount();
  const b = createAccount();
  const opJwt = await encodeOperator("OP", op, { system_account: sys.getPublicKey() });
  const operatorFile = join(dir, "op.jwt");
  writeFileSync(operatorFile, opJwt);
  const creds = async (account: KeyPair, opts: Parameters<typeof encodeUser>[3] = {}, exp?: number) => {
    const user = createUser();
    const jwt = await encodeUser("u", user, account, opts, exp !== undefined ? { exp } : {});
    return { creds: fmtCreds(jwt, user), jwt, user };
  };
  const revoked = await creds(a);
  // revocations: users whose JWT was issued at or before this time are refused
  const revokeAt = Math.floor(Date.now() / 1000) + 5;
  // a JWT without limits allows no connections (nats-server reads missing limits as 0)
  const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, leaf: -1, wildcards: true };
  const sysJwt = await encodeAccount("SYS", sys, { limits }, { signer: op });
  const aJwt = await encodeAccount("A", a, { limits, revocations: { [revoked.user.getPublicKey()]: revokeAt } }, { signer: op });
  const bJwt = await encodeAccount("B", b, { limits }, { signer: op });
  const c = createAccount();
  const cJwt = await encodeAccount("C", c, { limits: { ...limits, conn: 1 } }, { signer: op });
  const otherOp = createOperator();
  const stranger = createAccount();
  await encodeAccount("S", stranger, {}, { signer: otherOp });
  const expired = await creds(a, {}, Math.floor(Date.now() / 1000) - 60);
  const conf = `operator: ${JSON.stringify(operatorFile)}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n` +
    `  ${sys.getPublicKey()}: "${sysJwt}"\n  ${a.getPublicKey()}: "${aJwt}"\n  ${b.getPublicKey()}: "${bJwt}"\n  ${c.getPublicKey()}: "${cJwt}"\n}\n`;
  const trustConf = (resolver: string, preload: [KeyPair, string][]) =>
    `operator: ${JSON.stringify(operatorFile)}\nsystem_account: ${sys.getPublicKey()}\nresolver: ${resolver}\nresolver_preload: {\n` +
    preload.map(([k, j]) => `  ${k.getPublicKey()}: "${j}"\n`).join("") + "}\n";
  return {
    conf,
    operator: op,
    sys,
    limits,
    trustConf,
    sysJwt,
    aJwt,
    operatorFile,
    accountA: a,
    accountB: b,
    accountC: c,
    strangerCreds: (await creds(stranger)).creds,
    revokedCreds: revoked.creds,
    expiredCreds: expired.creds,
    creds,
  };
}

const world = await makeWorld();

async function assertRefused(server: RunningServer, creds: Uint8Array): Promise<void> {
  await assert.rejects(connectTo(server, { authenticator: credsAuthenticator(creds) }), (e: unknown) => {
    assert.ok(e instanceof errors.AuthorizationError, `expected an authorization error, got ${String(e)}`);
    return true;
  });
}

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("operator mode with a MEMORY resolver", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: world.conf });
    });
    after(() => server?.stop());

    it("accepts users of preloaded accounts (.creds) and keeps accounts apart", async () => {
      const a1 = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountA)).creds) });
      const a2 = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountA)).creds) });
      const b1 = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountB)).creds) });
      try {
        assert.equal(a1.info?.auth_required, true);
        assert.ok(typeof a1.info?.nonce === "string");
        const inA = collect(a2, "shared.>");
        const inB = collect(b1, "shared.>");
        await a2.flush();
        await b1.flush();
        a1.publish("shared.x", te.encode("for A"));
        await inA.until(1);
        // B's marker, published in B after A's message, arrives; A's message never does
        const bSelf = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountB)).creds) });
        bSelf.publish("shared.marker", te.encode("marker"));
        await inB.until(1);
        assert.deepEqual(inB.msgs.map((m) => m.subject), ["shared.marker"]);
        await bSelf.close();
      } finally {
        await Promise.all([a1.close(), a2.close(), b1.close()]);
      }
    });

    it("applies the user's permissions from its JWT", async () => {
      const { creds } = await world.creds(world.accountA, { pub: { allow: ["ok.>"] }, sub: { allow: ["ok.>", "_INBOX.>"] } });
      const nc = await connectTo(server, { authenticator: credsAuthenticator(creds) });
      const errs: Error[] = [];
      (async () => {
        for await (const s of nc.status()) if (s.type === "error") errs.push(s.error);
      })().catch(() => {});
      try {
        const got = collect(nc, "ok.1");
        await nc.flush();
        nc.publish("denied.1", te.encode("x"));
        nc.publish("ok.1", te.encode("y"));
        await got.until(1);
        await nc.flush();
        assert.ok(errs.some((e) => /Permissions Violation for Publish to "denied.1"/i.test(e.message)), errs.map(String).join());
      } finally {
        await nc.close();
      }
    });

    it("refuses an expired user, a revoked user, and a user of an account the resolver does not know", async () => {
      await assertRefused(server, world.expiredCreds);
      await assertRefused(server, world.revokedCreds);
      await assertRefused(server, world.strangerCreds);
    });

    it("refuses a nonce signed by another key, and a client without a JWT", async () => {
      const { jwt } = await world.creds(world.accountA);
      const wrong = createUser();
      const c = await connectRaw(server.port);
      const info = await readInfo(c);
      const sig = Buffer.from(wrong.sign(te.encode(String(info.nonce)))).toString("base64url");
      await c.send(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false })}\r\nPING\r\n`);
      await c.readUntil("-ERR 'Authorization Violation'\r\n");
      await c.expectClosed();
      const plain = await connectRaw(server.port);
      await readInfo(plain);
      await plain.send('CONNECT {"verbose":false}\r\nPING\r\n');
      await plain.readUntil("-ERR 'Authorization Violation'\r\n");
    });

    it("admits a bearer-token user without a nonce signature, and no other user without one", async () => {
      const { jwt } = await world.creds(world.accountA, { bearer_token: true });
      const nc = await connectTo(server, { authenticator: jwtAuthenticator(jwt) });
      await nc.flush();
      await nc.close();
      const plain = await world.creds(world.accountA);
      await assert.rejects(connectTo(server, { authenticator: jwtAuthenticator(plain.jwt) }));
    });

    it("holds an account to its connection limit", async () => {
      const first = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountC)).creds) });
      try {
        const { jwt, user } = await world.creds(world.accountC);
        const c = await connectRaw(server.port);
        const info = await readInfo(c);
        const sig = Buffer.from(user.sign(te.encode(String(info.nonce)))).toString("base64url");
        await c.send(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false })}\r\nPING\r\n`);
        await c.readUntil("-ERR 'maximum account active connections exceeded'\r\n");
        await c.expectClosed();
      } finally {
        await first.close();
      }
    });

    for (const subs of [1, 0]) {
      it(`applies the user's subs (${subs}) and payload limits`, async () => {
        const { jwt, user } = await world.creds(world.accountA, { subs, payload: 8 });
        const c = await connectRaw(server.port);
        const info = await readInfo(c);
        const sig = Buffer.from(user.sign(te.encode(String(info.nonce)))).toString("base64url");
        await c.send(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false })}\r\nSUB a 1\r\nSUB b 2\r\nPING\r\n`);
        const text = await c.readUntil("PONG\r\n");
        const errs = text.split("\r\n").filter((l) => l.startsWith("-ERR"));
        // 0 allows none (nats-server reads it so; -1 is "no limit"). nats-server with subs: 0 sometimes sends one
        // more such -ERR of its own around the PONG: for it, at least the two SUBs must be refused.
        const refused = subs === 1 ? 1 : 2;
        const want = Array(refused).fill("-ERR 'maximum subscriptions exceeded'");
        if (kind === "petrel") assert.deepEqual(errs, want, text);
        else assert.deepEqual(errs.slice(0, refused), want, text);
        try {
          await c.send("PUB a 12\r\n0123456789ab\r\n");
          await c.readUntil("-ERR 'Maximum Payload Violation'\r\n");
        } catch (e) {
          // nats-server with subs: 0 sometimes closes the connection itself after that late -ERR of its own (seen in
          // a full npm test): the payload check never comes. Petrel must answer it.
          const all = c.text();
          const after = all.slice(all.indexOf("PONG\r\n"));
          if (kind === "petrel" || subs !== 0 || !c.closed() || !after.includes("-ERR 'maximum subscriptions exceeded'")) throw e;
        }
        await c.expectClosed();
      });
    }

    it("drops a user when its JWT expires, telling it why", async () => {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const { jwt, user } = await world.creds(world.accountA, {}, exp);
      const c = await connectRaw(server.port);
      const info = await readInfo(c);
      const sig = Buffer.from(user.sign(te.encode(String(info.nonce)))).toString("base64url");
      await c.send(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false })}\r\nPING\r\n`);
      await c.readUntil("PONG\r\n");
      await c.readUntil("-ERR 'User Authentication Expired'\r\n", 5000);
      await c.expectClosed();
    });
  });

  describe("operator mode start-up", () => {
    it("stops when the operator file cannot be read", async () => {
      const conf = world.conf.replace(JSON.stringify(world.operatorFile), JSON.stringify(join(dir, "missing.jwt")));
      await assert.rejects(startServer(kind, { conf, startTimeoutMs: 8000 }), (e: Error) => {
        assert.match(e.message, /missing\.jwt/);
        return true;
      });
    });
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("the full resolver ($SYS.REQ.CLAIMS.UPDATE)", () => {
    const jwtDir = join(dir, `jwt-${kind}`);
    const conf = () => world.trustConf(`{ type: full, dir: ${JSON.stringify(jwtDir)} }`, [[world.sys, world.sysJwt], [world.accountA, world.aJwt]]);
    let server: RunningServer;
    before(async () => {
      server = await startServer(kind, { conf: conf() });
    });
    after(() => server?.stop());

    it("learns a new account pushed by a system user, keeps it across a restart, and applies revocations live", async () => {
      const d = createAccount();
      const dJwt = await encodeAccount("D", d, { limits: world.limits }, { signer: world.operator });
      const dUser = await world.creds(d);
      await assertRefused(server, dUser.creds);
      const sysUser = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.sys)).creds) });
      try {
        const r = await sysUser.request("$SYS.REQ.CLAIMS.UPDATE", te.encode(dJwt), { timeout: 3000 });
        const body = JSON.parse(new TextDecoder().decode(r.data)) as { data?: { account: string; code: number; message: string } };
        assert.equal(body.data?.code, 200, JSON.stringify(body));
        assert.equal(body.data?.account, d.getPublicKey());
        const nc = await connectTo(server, { authenticator: credsAuthenticator(dUser.creds) });
        await nc.close();

        // a connected user of A, then A's JWT revokes it: the server drops it
        const victim = await world.creds(world.accountA);
        const c = await connectRaw(server.port);
        const info = await readInfo(c);
        const sig = Buffer.from(victim.user.sign(te.encode(String(info.nonce)))).toString("base64url");
        await c.send(`CONNECT ${JSON.stringify({ jwt: victim.jwt, sig, verbose: false, pedantic: false })}\r\nPING\r\n`);
        await c.readUntil("PONG\r\n");
        // a newer JWT needs a later issue time (seconds)
        const issued = JSON.parse(Buffer.from(world.aJwt.split(".")[1], "base64url").toString()).iat as number;
        while (Math.floor(Date.now() / 1000) <= issued) await new Promise((r) => setTimeout(r, 100));
        const revoking = await encodeAccount("A", world.accountA, {
          limits: world.limits,
          revocations: { [victim.user.getPublicKey()]: Math.floor(Date.now() / 1000) + 5 },
        }, { signer: world.operator });
        const r2 = await sysUser.request(`$SYS.REQ.ACCOUNT.${world.accountA.getPublicKey()}.CLAIMS.UPDATE`, te.encode(revoking), { timeout: 3000 });
        assert.match(new TextDecoder().decode(r2.data), /"code":200/);
        await c.expectClosed(5000);
        await assertRefused(server, victim.creds);
        // a user the new JWT does not revoke is still welcome
        const other = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountA)).creds) });
        await other.close();
      } finally {
        await sysUser.close();
      }
      // the pushed account survives a restart (the directory keeps it)
      await server.stop();
      server = await startServer(kind, { conf: conf() });
      const again = await connectTo(server, { authenticator: credsAuthenticator(dUser.creds) });
      await again.close();
    });

    it("never admits users of an account JWT signed by an operator it does not trust", async () => {
      const sysUser = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.sys)).creds) });
      try {
        const x = createAccount();
        const xJwt = await encodeAccount("X", x, { limits: world.limits }, { signer: createOperator() });
        // nats-server answers "jwt updated" and refuses the account's users later; Petrel refuses the update
        const r = await sysUser.request("$SYS.REQ.CLAIMS.UPDATE", te.encode(xJwt), { timeout: 3000 });
        const body = JSON.parse(new TextDecoder().decode(r.data)) as { error?: { code: number }; data?: unknown };
        if (kind === "petrel") assert.ok(body.error !== undefined && body.error.code >= 400, JSON.stringify(body));
        await assertRefused(server, (await world.creds(x)).creds);
      } finally {
        await sysUser.close();
      }
    });
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("JetStream from the account JWT", () => {
    let server: RunningServer;
    let jsAccount: KeyPair;
    before(async () => {
      jsAccount = createAccount();
      const jsLimits = { ...world.limits, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
      const jJwt = await encodeAccount("J", jsAccount, { limits: jsLimits }, { signer: world.operator });
      const conf = world.trustConf("MEMORY", [[world.sys, world.sysJwt], [world.accountA, world.aJwt], [jsAccount, jJwt]]);
      server = await startServer(kind, { conf, jetstream: true });
    });
    after(() => server?.stop());

    it("is on for an account whose JWT grants storage and off for one whose JWT does not", async () => {
      const j = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(jsAccount)).creds) });
      const a = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(world.accountA)).creds) });
      try {
        const jsm = await jetstreamManager(j);
        const si = await jsm.streams.add({ name: "JWTS", subjects: ["jwt.>"] });
        assert.equal(si.config.name, "JWTS");
        await assert.rejects(jetstreamManager(a).then((m) => m.streams.add({ name: "NOPE", subjects: ["nope.>"] })), (e: Error) => {
          assert.match(e.message, /not enabled for account/i);
          return true;
        });
      } finally {
        await Promise.all([j.close(), a.close()]);
      }
    });
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("exports and imports from the account JWTs", () => {
    let server: RunningServer;
    let exporter: KeyPair;
    let importer: KeyPair;
    before(async () => {
      exporter = createAccount();
      importer = createAccount();
      const eJwt = await encodeAccount("E", exporter, {
        limits: world.limits,
        exports: [{ name: "svc", subject: "svc.>", type: "service" }, { name: "feed", subject: "feed.>", type: "stream" }],
      }, { signer: world.operator });
      const iJwt = await encodeAccount("I", importer, {
        limits: world.limits,
        imports: [
          { name: "svc", subject: "svc.echo", account: exporter.getPublicKey(), type: "service" },
          { name: "feed", subject: "feed.>", account: exporter.getPublicKey(), type: "stream" },
          { name: "nothing", subject: "secret.>", account: exporter.getPublicKey(), type: "stream" },
        ],
      }, { signer: world.operator });
      const conf = world.trustConf("MEMORY", [[world.sys, world.sysJwt], [exporter, eJwt], [importer, iJwt]]);
      server = await startServer(kind, { conf });
    });
    after(() => server?.stop());

    it("answers an imported service and delivers an imported stream; what is not exported stays put", async () => {
      const e = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(exporter)).creds) });
      const i = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(importer)).creds) });
      try {
        e.subscribe("svc.echo", { callback: (_err, m) => void m.respond(te.encode(`echo:${m.string()}`)) });
        await e.flush();
        const r = await i.request("svc.echo", te.encode("hi"), { timeout: 3000 });
        assert.equal(r.string(), "echo:hi");
        const feed = collect(i, "feed.>");
        const secret = collect(i, "secret.>");
        await i.flush();
        e.publish("secret.x", te.encode("no"));
        e.publish("feed.x", te.encode("yes"));
        await feed.until(1);
        assert.equal(feed.msgs[0].string(), "yes");
        assert.equal(secret.msgs.length, 0, "secret.> was never exported");
      } finally {
        await Promise.all([e.close(), i.close()]);
      }
    });
  });
});

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("signing keys", () => {
    it("accepts an account signed by an operator signing key and a user signed by an account signing key", async () => {
      const op = createOperator();
      const opSk = createOperator();
      const sys = createAccount();
      const acc = createAccount();
      const accSk = createAccount();
      const opJwt = await encodeOperator("OP2", op, { system_account: sys.getPublicKey(), signing_keys: [opSk.getPublicKey()] });
      const sysJwt = await encodeAccount("SYS", sys, { limits: world.limits }, { signer: opSk });
      const accJwt = await encodeAccount("S", acc, { limits: world.limits, signing_keys: [accSk.getPublicKey()] }, { signer: opSk });
      const conf = `operator: ${opJwt}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n  ${sys.getPublicKey()}: "${sysJwt}"\n  ${acc.getPublicKey()}: "${accJwt}"\n}\n`;
      const server = await startServer(kind, { conf });
      try {
        const user = createUser();
        const jwt = await encodeUser("scoped", user, acc, {}, { signer: accSk });
        const nc = await connectTo(server, { authenticator: credsAuthenticator(fmtCreds(jwt, user)) });
        await nc.flush();
        await nc.close();
        // signed by a key the account does not list: refused
        const rogue = createAccount();
        const ru = createUser();
        const bad = await encodeUser("rogue", ru, acc, {}, { signer: rogue });
        await assertRefused(server, fmtCreds(bad, ru));
      } finally {
        await server.stop();
      }
    });
  });
});

describe("petrel only: operator mode across a reload (SIGHUP)", () => {
  // nats-server 2.9 closes these clients on a reload in operator mode; Petrel keeps them and their imports.
  it("keeps imports and a connection under an account connection limit", async () => {
    const exporter = createAccount();
    const importer = createAccount();
    const eJwt = await encodeAccount("E", exporter, { limits: world.limits, exports: [{ name: "svc", subject: "svc.>", type: "service" }] }, { signer: world.operator });
    const iJwt = await encodeAccount("I", importer, {
      limits: { ...world.limits, conn: 1 },
      imports: [{ name: "svc", subject: "svc.echo", account: exporter.getPublicKey(), type: "service" }],
    }, { signer: world.operator });
    const server = await startServer("petrel", { conf: world.trustConf("MEMORY", [[world.sys, world.sysJwt], [exporter, eJwt], [importer, iJwt]]) });
    const e = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(exporter)).creds) });
    const i = await connectTo(server, { authenticator: credsAuthenticator((await world.creds(importer)).creds) });
    try {
      e.subscribe("svc.echo", { callback: (_err, m) => void m.respond(te.encode(`echo:${m.string()}`)) });
      await e.flush();
      const before = server.logs().length;
      process.kill(server.pid, "SIGHUP");
      await waitFor("the reload", () => /Reloaded server configuration/.test(server.logs().slice(before)), 5000, 20);
      const r = await i.request("svc.echo", te.encode("again"), { timeout: 3000 });
      assert.equal(r.string(), "echo:again");
    } finally {
      await Promise.all([e.close(), i.close()]);
      await server.stop();
    }
  });
});

describe("petrel only", () => {
  let nc: NatsConnection | undefined;
  after(() => nc?.close());

  it("refuses a resolver it does not implement instead of ignoring it", async () => {
    const conf = world.conf.replace("resolver: MEMORY", "resolver: { type: cache, dir: \"/tmp/jwt\" }");
    await assert.rejects(startServer("petrel", { conf, startTimeoutMs: 8000 }), (e: Error) => {
      assert.match(e.message, /resolver: only MEMORY and \{ type: full, dir \}/);
      return true;
    });
  });
});
