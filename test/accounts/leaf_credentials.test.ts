// Leafnode remotes with `credentials` against an operator-mode hub: the leaf presents the user JWT and signs the
// hub's nonce with the user's seed. A Petrel leaf to a nats-server 2.9.10 hub, a nats-server leaf to a Petrel hub,
// and Petrel to Petrel. The JWTs are minted here with nkeys (operator -> account -> user), the hub preloads the
// account; messages cross both ways in that account.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { credsAuthenticator } from "@nats-io/nats-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { monitorJson, type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";

const enc = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A NATS JWT: claims about `subject`, issued and signed by `issuer`. */
function jwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const head = b64url(enc.encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));
  const claims = { jti: b64url(crypto.getRandomValues(new Uint8Array(16))), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  const body = b64url(enc.encode(JSON.stringify(claims)));
  return `${head}.${body}.${b64url(issuer.sign(enc.encode(`${head}.${body}`)))}`;
}

function creds(userJwt: string, seed: Uint8Array): string {
  return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(seed)}\n------END USER NKEY SEED------\n`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

const PAIRS: [ServerKind, ServerKind][] = [["nats-server", "petrel"], ["petrel", "nats-server"], ["petrel", "petrel"]];

for (const [hubKind, leafKind] of PAIRS) {
describe(`leafnode remote credentials: ${leafKind} leaf to an operator-mode ${hubKind} hub`, () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-creds-"));
  let hub: RunningServer | undefined;
  let leaf: RunningServer | undefined;
  const conns: NatsConnection[] = [];
  let credsText = "";

  before(async () => {
    const op = createOperator();
    const acc = createAccount();
    const user = createUser();
    const opJwt = jwt(op, op.getPublicKey(), "op", { type: "operator" });
    const accJwt = jwt(op, acc.getPublicKey(), "ACC", { type: "account", limits: UNLIMITED, default_permissions: { pub: {}, sub: {} } });
    const userJwt = jwt(acc, user.getPublicKey(), "u", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
    credsText = creds(userJwt, user.getSeed());
    const credsPath = join(dir, "leaf.creds");
    writeFileSync(credsPath, credsText);
    hub = await startServer(hubKind, {
      monitor: true,
      conf: `operator: "${opJwt}"\nresolver: MEMORY\nresolver_preload: {\n  ${acc.getPublicKey()}: "${accJwt}"\n}\nleafnodes { listen: "127.0.0.1:-1" }\n`,
    });
    const port = (await monitorJson<{ leaf: { port: number } }>(hub, "/varz")).leaf.port;
    leaf = await startServer(leafKind, {
      conf: `leafnodes {\n  remotes: [{ url: "nats-leaf://127.0.0.1:${port}", credentials: "${credsPath}" }]\n}\n`,
    });
    await waitFor("the leaf signed in", async () => (await monitorJson<{ leafnodes: number }>(hub!, "/leafz")).leafnodes === 1, 10_000, 50);
  });
  after(async () => {
    await closeAll(conns);
    await leaf?.stop();
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("carries messages both ways in the credentials' account", async () => {
    const onHub = await connect({ servers: `127.0.0.1:${hub!.port}`, authenticator: credsAuthenticator(enc.encode(credsText)), reconnect: false });
    const onLeaf = await connect({ servers: `127.0.0.1:${leaf!.port}`, reconnect: false });
    conns.push(onHub, onLeaf);
    const up: string[] = [];
    const down: string[] = [];
    onHub.subscribe("up", { callback: (_e, m) => void up.push(td.decode(m.data)) });
    onLeaf.subscribe("down", { callback: (_e, m) => void down.push(td.decode(m.data)) });
    await onHub.flush();
    await onLeaf.flush();
    await waitFor("both directions", async () => {
      onLeaf.publish("up", te.encode("u"));
      onHub.publish("down", te.encode("d"));
      await onLeaf.flush();
      await onHub.flush();
      await new Promise((r) => setTimeout(r, 20));
      return up.length > 0 && down.length > 0;
    }, 10_000, 0);
    assert.equal(up[0], "u");
    assert.equal(down[0], "d");
  });
});
}
