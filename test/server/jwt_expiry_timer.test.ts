/**
 * A user JWT's expiry, in process: the client is told nats-server's `-ERR 'User Authentication Expired'` and dropped
 * when its JWT expires, on a light timer (src/runtime/light_timers.ts): on Deno 2.9 a runtime setTimeout loads
 * Node's timer layer for the life of the process (+2-3 MB; bench/RESULTS.md `denotimers2`). The differential
 * test of the expiry against nats-server is in test/tls/operator.test.ts.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { encodeAccount, encodeOperator, encodeUser } from "@nats-io/jwt";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";
import { connectRaw, readInfo } from "../helpers/raw.ts";

const te = new TextEncoder();

describe("a user JWT's expiry (operator mode, in process)", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-jwt-exp-"));
  let petrel: Petrel;
  let account: KeyPair;

  before(async () => {
    const op = createOperator();
    const sys = createAccount();
    account = createAccount();
    const opFile = join(dir, "op.jwt");
    writeFileSync(opFile, await encodeOperator("OP", op, { system_account: sys.getPublicKey() }));
    const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, leaf: -1, wildcards: true };
    const sysJwt = await encodeAccount("SYS", sys, { limits }, { signer: op });
    const aJwt = await encodeAccount("A", account, { limits }, { signer: op });
    const conf = join(dir, "op.conf");
    writeFileSync(
      conf,
      `operator: ${JSON.stringify(opFile)}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n` +
        `  ${sys.getPublicKey()}: "${sysJwt}"\n  ${account.getPublicKey()}: "${aJwt}"\n}\n`,
    );
    petrel = await startPetrel({ args: ["-c", conf, "-a", "127.0.0.1", "-p", "-1"] });
  });

  after(async () => {
    await petrel.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connects a user of the account (JWT expiring at `exp`, seconds, if given); light timers the CONNECT added. */
  const login = async (exp?: number) => {
    const user = createUser();
    const jwt = await encodeUser("u", user, account, {}, exp !== undefined ? { exp } : {});
    const c = await connectRaw(petrel.server.clientPort);
    const info = await readInfo(c);
    const sig = Buffer.from(user.sign(te.encode(String(info.nonce)))).toString("base64url");
    // Between the INFO and the PONG: the authentication deadline goes, an expiry comes.
    const before = lightTimersPending();
    await c.send(`CONNECT ${JSON.stringify({ jwt, sig, verbose: false, pedantic: false })}\r\nPING\r\n`);
    await c.readUntil("PONG\r\n");
    return { c, added: lightTimersPending() - before };
  };

  it("drops the client with nats-server's error when its JWT expires, on a light timer", async () => {
    const plain = await login();
    const expiring = await login(Math.floor(Date.now() / 1000) + 2);
    try {
      assert.equal(expiring.added, plain.added + 1, "the expiry is one light timer");
      await expiring.c.readUntil("-ERR 'User Authentication Expired'\r\n", 10_000);
      await expiring.c.expectClosed();
      await plain.c.expectOpen();
    } finally {
      plain.c.close();
      expiring.c.close();
    }
  });
});
