import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type LoadedOptions, loadServerOptions, resolveOptions } from "../../src/cli/load_options.ts";
import { loadConfigFormats } from "../../src/config/load.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

function io(files: Record<string, string>, env: Record<string, string> = {}) {
  return { readFile: (p: string) => files[p], env: (n: string) => env[n] };
}

function load(argv: string[], files: Record<string, string> = {}, env: Record<string, string> = {}): LoadedOptions {
  const r = loadServerOptions(argv, io(files, env));
  if (!r.ok) assert.fail(`unexpected error: ${r.error.text}`);
  return r.value;
}

describe("loadServerOptions", () => {
  it("runs with defaults and no config file", () => {
    const r = load([]);
    assert.equal(r.action, "run");
    assert.equal(r.options.port, 4222);
    assert.equal(r.configFile, undefined);
    assert.deepEqual(r.warnings, []);
  });

  it("flags override the config file", () => {
    const files = {
      "/etc/p.conf": `port: 4000
host: 10.0.0.1
debug: false
server_name: from-file
authorization { user: fu, password: fp, timeout: 3 }
cluster { name: FILE, listen: 0.0.0.0:6222, routes: [nats://x:6222] }
jetstream { store_dir: /file, max_mem: 1G }
`,
    };
    const r = load(
      ["-c", "/etc/p.conf", "-p", "-1", "-D", "-n", "from-flag", "--user", "cu", "--cluster_name", "FLAG", "-sd", "/flag"],
      files,
    );
    assert.equal(r.configFile, "/etc/p.conf");
    const o = r.options;
    assert.equal(o.port, -1);
    assert.equal(o.host, "10.0.0.1");
    assert.equal(o.debug, true);
    assert.equal(o.server_name, "from-flag");
    assert.deepEqual(o.authorization, { user: "cu", password: "fp", users: [] });
    assert.equal(o.auth_timeout, 3000);
    assert.equal(o.cluster?.name, "FLAG");
    assert.equal(o.cluster?.port, 6222);
    assert.deepEqual(o.cluster?.routes, ["nats://x:6222"]);
    assert.equal(o.jetstream?.store_dir, "/flag");
    assert.equal(o.jetstream?.max_memory_store, 1e9);
    assert.equal(o.jetstream?.enabled, true);
  });

  it("-a moves the monitoring host too, unless http sets it", () => {
    assert.equal(load(["-a", "127.0.0.1", "-m", "8222"]).options.http_host, "127.0.0.1");
    const files = { "p.conf": 'http: "0.0.0.0:8222"' };
    const o = load(["-c", "p.conf", "-a", "127.0.0.1"], files).options;
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.http_host, "0.0.0.0");
  });

  it("-js enables JetStream with defaults", () => {
    assert.deepEqual(load(["-js"]).options.jetstream, {
      enabled: true,
      store_dir: "",
      max_memory_store: -1,
      max_file_store: -1,
      storage: "file",
    });
  });

  it("chooses the format by extension", () => {
    const files = { "/c/p.yaml": "port: 4555\ncluster:\n  name: Y\n", "/c/p.yml": "port: 4556\n", "/c/p.cfg": "port = 4557" };
    assert.equal(load(["-c", "/c/p.yaml"], files).options.port, 4555);
    assert.equal(load(["-c", "/c/p.yaml"], files).options.cluster?.name, "Y");
    assert.equal(load(["-c", "/c/p.yml"], files).options.port, 4556);
    assert.equal(load(["-c", "/c/p.cfg"], files).options.port, 4557);
  });

  it("resolves includes and environment variables through the injected io", () => {
    const files = { "/etc/nats/main.conf": "include auth.conf\nport: $NATS_PORT", "/etc/nats/auth.conf": "authorization { token: t }" };
    const o = load(["-c", "/etc/nats/main.conf"], files, { NATS_PORT: "4999" }).options;
    assert.equal(o.port, 4999);
    assert.equal(o.authorization?.token, "t");
  });

  it("returns warnings from the file and from flags", () => {
    const r = load(["-c", "w.conf", "--syslog"], { "w.conf": "port: 1\nfoo: 2\n" });
    assert.deepEqual(r.warnings, ['w.conf:2: unknown configuration key "foo" (ignored)', "flag -syslog is not supported by Petrel yet (ignored)"]);
  });

  it("refuses --user or --auth next to users in accounts, as nats-server", () => {
    const files = { "a.conf": "accounts { A: { users: [{user: a, password: a}] } }\n" };
    const user = loadServerOptions(["-c", "a.conf", "--user", "x", "--pass", "y"], io(files));
    assert.ok(!user.ok);
    assert.equal(user.error.text, "--user: cannot have a single user/password and users in accounts");
    const token = loadServerOptions(["-c", "a.conf", "--auth", "t"], io(files));
    assert.ok(!token.ok);
    assert.equal(token.error.text, "--auth: cannot have a token and users in accounts");
    assert.ok(loadServerOptions(["-c", "a.conf"], io(files)).ok);
  });

  it("refuses JetStream on the system account once JetStream is on, from the file or -js (as nats-server)", () => {
    const conf = "system_account: SYS\naccounts {\n  SYS: { jetstream: enabled }\n}\n";
    assert.ok(loadServerOptions(["-c", "s.conf"], io({ "s.conf": conf })).ok);
    const js = loadServerOptions(["-c", "s.conf", "-js"], io({ "s.conf": conf }));
    assert.ok(!js.ok);
    assert.equal(js.error.text, "s.conf:3: accounts.SYS.jetstream: JetStream cannot be enabled on the system account");
    const inFile = loadServerOptions(["-c", "s.conf"], io({ "s.conf": 'jetstream: enabled\naccounts {\n  "$SYS": { jetstream: enabled }\n}\n' }));
    assert.ok(!inFile.ok);
    assert.match(inFile.error.text, /^s\.conf:3: accounts\.\$SYS\.jetstream: JetStream cannot be enabled/);
  });

  it("does not read the config file for help and version", () => {
    assert.equal(load(["-c", "missing.conf", "-h"]).action, "help");
    assert.equal(load(["-c", "missing.conf", "--version"]).action, "version");
  });

  it("fails with a printable message naming file and line", () => {
    const r = loadServerOptions(["-c", "petrel.conf"], io({ "petrel.conf": "port: 4222\n\n\nmax_payload: abc\n" }));
    assert.ok(!r.ok);
    assert.equal(r.error.text, 'petrel.conf:4: max_payload: expected a size (e.g. 1MB), got "abc"');
    assert.equal(r.error.file, "petrel.conf");
    assert.equal(r.error.line, 4);
    assert.equal(r.error.key, "max_payload");
  });

  it("fails on a missing config file, a syntax error and an unknown flag", () => {
    const missing = loadServerOptions(["-c", "nope.conf"], io({}));
    assert.ok(!missing.ok);
    assert.match(missing.error.text, /nope\.conf: cannot read/);
    const syntax = loadServerOptions(["-c", "s.conf"], io({ "s.conf": "a {\n" }));
    assert.ok(!syntax.ok);
    assert.match(syntax.error.text, /^s\.conf:1: unterminated map/);
    const flag = loadServerOptions(["--wat"], io({}));
    assert.ok(!flag.ok);
    assert.equal(flag.error.text, "flag provided but not defined: -wat");
  });

  it("fails when flags and file combine into a user/password plus token", () => {
    const r = loadServerOptions(["-c", "a.conf", "--user", "u"], io({ "a.conf": "authorization { token: t }" }));
    assert.ok(!r.ok);
    assert.match(r.error.text, /token/);
  });
});

describe("resolveOptions", () => {
  it("merges blocks key by key with flags winning", () => {
    const r = resolveOptions({ port: 1, cluster: { name: "a", port: 2 } }, { cluster: { port: 3 } });
    assert.ok(r.ok);
    assert.equal(r.options.port, 1);
    assert.deepEqual([r.options.cluster?.name, r.options.cluster?.port], ["a", 3]);
  });

  it("works without a config file", () => {
    const r = resolveOptions(undefined, { port: 5 });
    assert.ok(r.ok);
    assert.equal(r.options.port, 5);
  });
});
