// Fail closed: every key listed in src/config/not_implemented.ts stops start-up with an error naming the key,
// its file and line — in conf and YAML, at every depth — while tuning keys only warn. The table is read from
// the module itself, so deleting an entry (when it gets implemented) removes its case here too.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadConfigText, loadConfigFormats } from "../../src/config/load.ts";
import { NOT_IMPLEMENTED, notImplementedAt, RUNTIME_NOT_IMPLEMENTED } from "../../src/config/not_implemented.ts";
import { loadServerOptions } from "../../src/cli/load_options.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

function load(text: string, file = "petrel.conf") {
  return loadConfigText(text, file, { readFile: () => undefined, env: () => undefined });
}

/** A conf text (JSON, which nats-server's syntax accepts) setting exactly the key at `pattern`, on line 1. */
function confSetting(pattern: string): { text: string; label: string } {
  const parts = pattern.replace(/\[\]/g, ".[]").split(".");
  let value: unknown = "x";
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i];
    if (p === "[]") value = [value];
    else if (p === "*") value = { ACC: value };
    else value = { [p]: value };
  }
  const label = parts.map((p) => (p === "[]" ? "[0]" : p === "*" ? "ACC" : p)).reduce((acc, p, i) =>
    p === "[0]" ? acc + p : i === 0 ? p : `${acc}.${p}`, "");
  return { text: JSON.stringify(value), label };
}

describe("fail closed: not implemented keys refuse to start", () => {
  for (const entry of NOT_IMPLEMENTED) {
    it(`${entry.path} (${entry.owner})`, () => {
      const { text, label } = confSetting(entry.path);
      const r = load(text);
      if (r.ok) assert.fail(`${entry.path} was accepted: ${JSON.stringify(r.value.warnings)}`);
      const hit = r.error.errors.find((e) => e.key === label);
      assert.ok(hit, `no error for ${label}: ${JSON.stringify(r.error.errors)}`);
      assert.equal(hit.file, "petrel.conf");
      assert.equal(hit.line, 1);
      assert.match(hit.message, new RegExp(`^${label.replace(/[.[\]]/g, "\\$&")}: .* is not implemented by Petrel yet`));
    });
  }

  it("accounts: read and checked, and imports start now that they route", () => {
    assert.deepEqual(RUNTIME_NOT_IMPLEMENTED.map((r) => r.key), []);
    const text = 'port: 1\naccounts {\n  A: { exports: [{stream: "a.>"}] }\n  B: {\n    users: [{user: b, password: b}]\n    imports: [{stream: {account: A, subject: "a.>"}}]\n  }\n}\n';
    const loaded = load(text);
    if (!loaded.ok) assert.fail(JSON.stringify(loaded.error));
    assert.deepEqual(loaded.value.refusals, []);
    for (const argv of [["-t", "-c", "s.conf"], ["-c", "s.conf"]]) {
      const cli = loadServerOptions(argv, { readFile: () => text, env: () => undefined });
      if (!cli.ok) assert.fail(cli.error.text);
    }
    // Accounts without imports (users bound to accounts, exports, JetStream) start.
    const plain = loadServerOptions(["-c", "s.conf"], {
      readFile: () => "accounts {\n  A: { users: [{user: a, password: a}], exports: [{stream: x}], jetstream: enabled }\n}\n",
      env: () => undefined,
    });
    if (!plain.ok) assert.fail(plain.error.text);
    assert.deepEqual(plain.value.options.accounts?.A.users, [{ user: "a", password: "a" }]);
    // A mistake inside is still reported first, as a configuration error.
    const bad = loadServerOptions(["-t", "-c", "s.conf"], {
      readFile: () => "accounts {\n  B: { imports: [{stream: {account: Z, subject: a}}] }\n}\n",
      env: () => undefined,
    });
    if (bad.ok) assert.fail("accepted");
    assert.match(bad.error.text, /^s\.conf:2: accounts\.B\.imports\[0\]: account "Z" is not defined/);
  });

  it("names the line of a nested key in a multi-line file, any case, and through the ws/leaf aliases", () => {
    const r = load("port: 1\ncluster {\n  name: c\n  PERMISSIONS {\n    import: x\n  }\n}\nws { no_tls: true, jwt_cookie: c }\n");
    if (r.ok) assert.fail("accepted");
    assert.deepEqual(r.error.errors.map((e) => [e.line, e.key]), [[4, "cluster.PERMISSIONS"], [8, "ws.jwt_cookie"]]);
  });

  it("refuses in YAML too", () => {
    const r = load("port: 1\noperator: /etc/op.jwt\n", "petrel.yaml");
    if (r.ok) assert.fail("accepted");
    assert.equal(r.error.file, "petrel.yaml");
    assert.equal(r.error.line, 2);
    assert.equal(r.error.key, "operator");
  });

  it("stops -t and start-up alike (the CLI path)", () => {
    for (const argv of [["-t", "-c", "s.conf"], ["-c", "s.conf"]]) {
      const r = loadServerOptions(argv, { readFile: () => "port: 1\ntrusted_keys: [\"OABC\"]\n", env: () => undefined });
      if (r.ok) assert.fail("accepted");
      assert.equal(r.error.text, 's.conf:2: trusted_keys: trusted operator keys is not implemented by Petrel yet; refusing to start without it (remove "trusted_keys" to run without it)');
    }
  });

  it("matches only the listed paths: a key of the same name elsewhere is not refused by the list", () => {
    assert.equal(notImplementedAt(["trusted"])?.path, "trusted");
    assert.equal(notImplementedAt(["leaf", "remotes", 3, "DENY_IMPORTS"])?.path, "leafnodes.remotes[].deny_imports");
    assert.equal(notImplementedAt(["accounts", "Sales", "mappings"])?.path, "accounts.*.mappings");
    assert.equal(notImplementedAt(["cluster", "authorization"]), undefined);
    assert.equal(notImplementedAt(["authorization", "users", 0, "permissions"]), undefined);
    assert.equal(notImplementedAt(["accounts", "mappings"]), undefined);
  });

  it("an unknown key inside a security block is refused (a misspelt permissions would leave a user unrestricted)", () => {
    const r = load("port: 1\nauthorization {\n  users: [\n    {user: a, password: a, permisions: {publish: x}}\n  ]\n}\naccounts {\n  A: { jetstream { max_memory_store: 1G } }\n}\n");
    if (r.ok) assert.fail("accepted");
    assert.deepEqual(r.error.errors.map((e) => [e.line, e.key, e.message]), [
      [4, "authorization.users[0].permisions", "authorization.users[0].permisions: unknown key in a security block; refusing to start rather than ignore it"],
      [8, "accounts.A.jetstream.max_memory_store", "accounts.A.jetstream.max_memory_store: unknown key in a security block; refusing to start rather than ignore it"],
    ]);
    // Elsewhere an unknown key stays a warning.
    const ok = load("port: 1\ncluster { colour: blue }\n");
    if (!ok.ok) assert.fail(JSON.stringify(ok.error));
    assert.deepEqual(ok.value.warnings, ['petrel.conf:2: unknown configuration key "cluster.colour" (ignored)']);
  });

  it("tuning keys nats-server knows keep a warning and do not stop start-up", () => {
    const r = load("port: 1\nsyslog: true\ndisable_sublist_cache: true\nleafnodes { reconnect: 2 }\n");
    if (!r.ok) assert.fail(JSON.stringify(r.error));
    assert.deepEqual(r.value.warnings, [
      'petrel.conf:2: "syslog" is not supported by Petrel yet (ignored)',
      'petrel.conf:3: "disable_sublist_cache" is not supported by Petrel yet (ignored)',
      'petrel.conf:4: "leafnodes.reconnect" is not supported by Petrel yet (ignored)',
    ]);
  });
});
