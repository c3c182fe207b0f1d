import { describe, it } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { type AuthConfig, authenticate, authRequired, secretMatches } from "../../src/server/auth.ts";
import { loadAuthLibs } from "../../src/server/auth_libs.ts";

// bcrypt and nkeys load on demand (src/server/auth_libs.ts).
await loadAuthLibs();

const perms = { publish: { allow: ["a"] } };

describe("auth", () => {
  it("no config: nobody needs credentials", () => {
    assert.equal(authRequired(undefined), false);
    assert.equal(authRequired({ users: [] }), false);
    assert.deepEqual(authenticate(undefined, {}), { ok: true });
    assert.deepEqual(authenticate({ users: [] }, { user: "x", pass: "y" }), { ok: true });
  });
  it("token", () => {
    const cfg: AuthConfig = { token: "s3cret", users: [], permissions: perms };
    assert.equal(authRequired(cfg), true);
    assert.deepEqual(authenticate(cfg, { auth_token: "s3cret" }), { ok: true, permissions: perms });
    assert.equal(authenticate(cfg, { auth_token: "s3cre" }).ok, false);
    assert.equal(authenticate(cfg, { auth_token: "s3cret!" }).ok, false);
    assert.equal(authenticate(cfg, {}).ok, false);
    assert.equal(authenticate(cfg, { user: "s3cret", pass: "s3cret" }).ok, false);
  });
  it("single user/password", () => {
    const cfg: AuthConfig = { user: "u", password: "p", users: [] };
    assert.equal(authRequired(cfg), true);
    assert.deepEqual(authenticate(cfg, { user: "u", pass: "p" }), { ok: true, user: "u", permissions: undefined });
    assert.equal(authenticate(cfg, { user: "u", pass: "x" }).ok, false);
    assert.equal(authenticate(cfg, { user: "x", pass: "p" }).ok, false);
    assert.equal(authenticate(cfg, { user: "u" }).ok, false);
    assert.equal(authenticate(cfg, {}).ok, false);
  });
  it("users list with permissions", () => {
    const cfg: AuthConfig = {
      users: [
        { user: "alice", password: "a1", permissions: perms },
        { user: "bob", password: "b1" },
      ],
    };
    assert.deepEqual(authenticate(cfg, { user: "alice", pass: "a1" }), { ok: true, user: "alice", permissions: perms });
    assert.deepEqual(authenticate(cfg, { user: "bob", pass: "b1" }), { ok: true, user: "bob", permissions: undefined });
    assert.equal(authenticate(cfg, { user: "alice", pass: "b1" }).ok, false);
    assert.equal(authenticate(cfg, { user: "carol", pass: "x" }).ok, false);
    assert.equal(authenticate(cfg, {}).ok, false);
  });
  it("bcrypt hashes", () => {
    const hash = bcrypt.hashSync("pw", 4);
    assert.equal(secretMatches(hash, "pw"), true);
    assert.equal(secretMatches(hash, "px"), false);
    assert.equal(secretMatches(hash, undefined), false);
    assert.equal(secretMatches("plain", "plain"), true);
    assert.equal(secretMatches("plain", "plai"), false);
    const cfg: AuthConfig = { users: [{ user: "h", password: hash }] };
    assert.equal(authenticate(cfg, { user: "h", pass: "pw" }).ok, true);
    assert.equal(authenticate(cfg, { user: "h", pass: hash }).ok, false, "the hash itself is not the password");
    const tokenCfg: AuthConfig = { token: bcrypt.hashSync("tok", 4), users: [] };
    assert.equal(authenticate(tokenCfg, { auth_token: "tok" }).ok, true);
    assert.equal(authenticate(tokenCfg, { auth_token: "tok2" }).ok, false);
  });
  it("no_auth_user: clients without credentials become that user", () => {
    const cfg: AuthConfig = {
      users: [{ user: "anon", password: "x", permissions: perms }, { user: "bob", password: "b" }],
      no_auth_user: "anon",
    };
    assert.deepEqual(authenticate(cfg, {}), { ok: true, user: "anon", permissions: perms });
    assert.deepEqual(authenticate(cfg, { user: "bob", pass: "b" }), { ok: true, user: "bob", permissions: undefined });
    assert.equal(authenticate(cfg, { user: "bob", pass: "wrong" }).ok, false, "bad credentials do not fall back");
    assert.equal(authenticate({ ...cfg, no_auth_user: "ghost" }, {}).ok, false, "unknown no_auth_user grants nothing");
  });
});
