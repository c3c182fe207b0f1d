import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseConf, resolveIncludePath, sizeLiteralToNumber } from "../../src/config/conf_parser.ts";
import { type ConfMap, pathKey } from "../../src/config/types.ts";

function parse(text: string, files: Record<string, string> = {}, env: Record<string, string> = {}): ConfMap {
  const r = parseConf(text, { file: "/etc/nats/main.conf", readFile: (p) => files[p], env: (n) => env[n] });
  if (!r.ok) assert.fail(`unexpected error: ${JSON.stringify(r.error)}`);
  return r.value.value;
}

function parseError(text: string, files: Record<string, string> = {}, env: Record<string, string> = {}) {
  const r = parseConf(text, { file: "/etc/nats/main.conf", readFile: (p) => files[p], env: (n) => env[n] });
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.value.value)}`);
  return r.error;
}

describe("conf parser: assignments", () => {
  it("accepts ':', '=' and whitespace as separators", () => {
    assert.deepEqual(parse("a: 1\nb = 2\nc 3\nd:4\ne=5\nf\t6"), { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 });
  });

  it("accepts ';' and ',' as terminators and several entries per line", () => {
    assert.deepEqual(parse("a: 1; b: 2, c: 3;"), { a: 1, b: 2, c: 3 });
  });

  it("accepts quoted keys", () => {
    assert.deepEqual(parse(`"my key": 1\n'other': 2`), { "my key": 1, other: 2 });
  });

  it("keeps a later duplicate key", () => {
    assert.deepEqual(parse("port: 1\nport: 2"), { port: 2 });
  });

  it("accepts a JSON document", () => {
    assert.deepEqual(parse(`{"port": 4222, "cluster": {"name": "c", "routes": ["a", "b"]}}`), {
      port: 4222,
      cluster: { name: "c", routes: ["a", "b"] },
    });
  });

  it("treats __proto__ as an ordinary key", () => {
    const v = parse("__proto__: 1");
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal(Object.hasOwn(v, "__proto__"), true);
  });
});

describe("conf parser: blocks and arrays", () => {
  it("parses maps with and without separator, nested", () => {
    const v = parse("a {\n  b: 1\n  c { d = x }\n}\ne: { f: 2, g: 3 }\nh {}\nk{ z: 1 }");
    assert.deepEqual(v, { a: { b: 1, c: { d: "x" } }, e: { f: 2, g: 3 }, h: {}, k: { z: 1 } });
  });

  it("parses a map whose brace is on the next line", () => {
    assert.deepEqual(parse("cluster\n{\n  port: 1\n}"), { cluster: { port: 1 } });
  });

  it("parses arrays separated by commas, newlines or both", () => {
    assert.deepEqual(parse("a: [1, 2, 3]\nb: [\n  x\n  y\n]\nc = [ 'p', \"q\", ]\nd: []"), {
      a: [1, 2, 3],
      b: ["x", "y"],
      c: ["p", "q"],
      d: [],
    });
  });

  it("parses arrays of maps and nested arrays", () => {
    const v = parse(`users = [
      {user: alice, password: foo}
      {user: bob, password: bar, permissions: {publish: ["a", "b"]}}
    ]
    m: [[1, 2], [3]]`);
    assert.deepEqual(v, {
      users: [{ user: "alice", password: "foo" }, { user: "bob", password: "bar", permissions: { publish: ["a", "b"] } }],
      m: [[1, 2], [3]],
    });
  });

  it("reports an unterminated map or array with the line where it opened", () => {
    assert.equal(parseError("a: 1\nb {\n c: 1\n").line, 2);
    assert.match(parseError("a: 1\nb {\n c: 1\n").message, /unterminated map/);
    assert.equal(parseError("x = [\n 1,\n 2\n").line, 1);
  });
});

describe("conf parser: comments", () => {
  it("ignores # and // comments everywhere", () => {
    const v = parse(`# top
// also top
port: 4222 # trailing
host: h // trailing
a {
  # inside
  b: 1 // after
}
arr: [
  1 # one
  // two
  2
]`);
    assert.deepEqual(v, { port: 4222, host: "h", a: { b: 1 }, arr: [1, 2] });
  });
});

describe("conf parser: scalars", () => {
  it("parses quoted and unquoted strings", () => {
    const v = parse(`a: "hello world"\nb: 'single # not comment'\nc: bare\nd: "esc\\t\\"q\\"\\n\\x41"\ne: 'no\\escape'`);
    assert.deepEqual(v, { a: "hello world", b: "single # not comment", c: "bare", d: 'esc\t"q"\nA', e: "no\\escape" });
  });

  it("parses booleans like nats-server (true/false/yes/no/on/off, any case)", () => {
    const v = parse("a: true\nb: FALSE\nc: yes\nd: No\ne: on\nf: off\ng: 'true'");
    assert.deepEqual(v, { a: true, b: false, c: true, d: false, e: true, f: false, g: "true" });
  });

  it("parses integers, negative integers and floats", () => {
    assert.deepEqual(parse("a: 42\nb: -1\nc: 1.5\nd: -0.25\ne: 0"), { a: 42, b: -1, c: 1.5, d: -0.25, e: 0 });
  });

  it("applies size suffixes: a bare letter is decimal, with B binary (as nats-server)", () => {
    const v = parse("a: 1K\nb: 1KB\nc: 1kb\nd: 256MB\ne: 2GB\nf: 1m\ng: 1Mb\nh: 1g\ni: 4KiB\nj: 1TB");
    assert.deepEqual(v, {
      a: 1000,
      b: 1024,
      c: 1024,
      d: 256 * 1024 * 1024,
      e: 2 * 1024 ** 3,
      f: 1_000_000,
      g: 1024 * 1024,
      h: 1e9,
      i: 4096,
      j: 1024 ** 4,
    });
    assert.equal(sizeLiteralToNumber("64k"), 64000);
    assert.equal(sizeLiteralToNumber("abc"), undefined);
  });

  it("keeps durations and listen addresses as strings", () => {
    const v = parse(`a: "2s"\nb: 1h30m\nc: 500ms\nlisten: 127.0.0.1:4222\nd: "0.0.0.0:-1"\ne: localhost:4222\nf: "[::1]:4222"`);
    assert.deepEqual(v, { a: "2s", b: "1h30m", c: "500ms", listen: "127.0.0.1:4222", d: "0.0.0.0:-1", e: "localhost:4222", f: "[::1]:4222" });
  });

  it("keeps unquoted bcrypt hashes as strings", () => {
    const hash = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm7qhpJnKnXrlYQpSH7nwQZ7Nle";
    assert.deepEqual(parse(`password: ${hash}`), { password: hash });
  });

  it("rejects a key without a value and bad escapes", () => {
    assert.match(parseError("port:\nhost: x").message, /expected a value for "port"/);
    assert.match(parseError('a: "bad \\q"').message, /invalid escape/);
    assert.match(parseError('a: "open').message, /unterminated string/);
  });

  it("rejects garbage after a value, naming the line", () => {
    const e = parseError("a: 1\nb: [1] x\n");
    assert.equal(e.line, 2);
    assert.equal(e.file, "/etc/nats/main.conf");
  });
});

describe("conf parser: variables", () => {
  it("resolves variables defined earlier at any enclosing scope", () => {
    const v = parse(`TOKEN: "s3cr3t"
PORT: 4333
port: $PORT
authorization {
  INNER: inner
  token: $TOKEN
  nested { a: $INNER, b: [$PORT] }
}`);
    assert.deepEqual(v, {
      TOKEN: "s3cr3t",
      PORT: 4333,
      port: 4333,
      authorization: { INNER: "inner", token: "s3cr3t", nested: { a: "inner", b: [4333] } },
    });
  });

  it("resolves whole maps held in variables", () => {
    const v = parse("perm = { publish: \"x\" }\nu: { permissions: $perm }");
    assert.deepEqual(v.u, { permissions: { publish: "x" } });
  });

  it("takes undefined variables from the environment, typed like file values", () => {
    const v = parse("port: $PORT\nhost: $HOST\nflag: $FLAG", {}, { PORT: "4999", HOST: "10.0.0.1", FLAG: "true" });
    assert.deepEqual(v, { port: 4999, host: "10.0.0.1", flag: true });
  });

  it("prefers a file variable over the environment", () => {
    assert.deepEqual(parse("X: 1\na: $X", {}, { X: "2" }), { X: 1, a: 1 });
  });

  it("does not expand variables inside quotes", () => {
    assert.deepEqual(parse(`a: "$NOPE"`), { a: "$NOPE" });
  });

  it("fails on an undefined variable, naming it and the line", () => {
    const e = parseError("a: 1\n\nb: $MISSING\n");
    assert.equal(e.line, 3);
    assert.match(e.message, /\$MISSING/);
  });

  it("records which keys served as variables", () => {
    const r = parseConf("T: 1\na: $T\nb { V: 2, c: $V }");
    assert.ok(r.ok);
    assert.ok(r.value.usedVariables.has(pathKey(["T"])));
    assert.ok(r.value.usedVariables.has(pathKey(["b", "V"])));
    assert.ok(!r.value.usedVariables.has(pathKey(["a"])));
  });
});

describe("conf parser: include", () => {
  const files = {
    "/etc/nats/auth.conf": "authorization {\n  user: a\n  password: b\n}\n",
    "/etc/nats/sub/gws.conf": "gateways [\n  {name: A, url: \"nats://127.0.0.1:5227\"}\n]\n",
    "/etc/nats/sub/nested.conf": "include ../auth.conf\nfrom_nested: yes\n",
    "/etc/nats/bad.conf": "a: 1\nb: [\n",
    "/etc/nats/loop.conf": "include main.conf\n",
  };

  it("includes relative to the including file, at top level and in blocks", () => {
    const v = parse("port: 1\ninclude ./auth.conf\ngateway {\n  name: A\n  include 'sub/gws.conf'\n}", files);
    assert.deepEqual(v, {
      port: 1,
      authorization: { user: "a", password: "b" },
      gateway: { name: "A", gateways: [{ name: "A", url: "nats://127.0.0.1:5227" }] },
    });
  });

  it("follows nested includes relative to each file", () => {
    assert.deepEqual(parse('include "sub/nested.conf"', files), {
      authorization: { user: "a", password: "b" },
      from_nested: true,
    });
  });

  it("reports the included file's name and line for errors inside it", () => {
    const e = parseError("x: 1\ninclude bad.conf\n", files);
    assert.equal(e.file, "/etc/nats/bad.conf");
    assert.equal(e.line, 2);
  });

  it("records key locations inside included files", () => {
    const r = parseConf("port: 1\ninclude ./auth.conf", { file: "/etc/nats/main.conf", readFile: (p) => files[p as keyof typeof files] });
    assert.ok(r.ok);
    assert.deepEqual(r.value.locs.get(pathKey(["authorization", "password"])), { file: "/etc/nats/auth.conf", line: 3 });
    assert.deepEqual(r.value.locs.get(pathKey(["port"])), { file: "/etc/nats/main.conf", line: 1 });
  });

  it("fails on a missing file and on include cycles", () => {
    const missing = parseError("\ninclude nope.conf", files);
    assert.equal(missing.line, 2);
    assert.match(missing.message, /nope\.conf/);
    assert.match(parseError("include loop.conf", files).message, /cycle/);
  });

  it("resolves include paths", () => {
    assert.equal(resolveIncludePath("/a/b/c.conf", "./d.conf"), "/a/b/d.conf");
    assert.equal(resolveIncludePath("/a/b/c.conf", "../x/d.conf"), "/a/x/d.conf");
    assert.equal(resolveIncludePath("/a/b/c.conf", "/abs/d.conf"), "/abs/d.conf");
    assert.equal(resolveIncludePath("c.conf", "d.conf"), "d.conf");
    assert.equal(resolveIncludePath("conf/c.conf", "../d.conf"), "d.conf");
  });
});

describe("conf parser: locations", () => {
  it("records the line of every key and array item", () => {
    const r = parseConf("a: 1\n\ncluster {\n  port: 2\n  routes: [\n    x\n    y\n  ]\n}\n", { file: "f.conf" });
    assert.ok(r.ok);
    const line = (...p: (string | number)[]) => r.value.locs.get(pathKey(p))?.line;
    assert.equal(line("a"), 1);
    assert.equal(line("cluster"), 3);
    assert.equal(line("cluster", "port"), 4);
    assert.equal(line("cluster", "routes"), 5);
    assert.equal(line("cluster", "routes", 1), 7);
  });
});

describe("conf parser: nats-server example configs", () => {
  it("parses the cluster example (server/configs/cluster.conf style)", () => {
    const v = parse(`
# Cluster config file

port: 4242
net: apcera.me # net interface

authorization {
  user:     derek
  password: bella
  timeout:  1
}

pid_file: '/tmp/nats_cluster_test.pid'

cluster {
  host: '127.0.0.1'
  port: 4244

  authorization {
    user: route_user
    password: top_secret
    timeout: 1
  }

  # Routes are actively solicited and connected to from this server.
  routes = [
    nats-route://foo:bar@apcera.me:4245
    nats-route://foo:bar@apcera.me:4246
  ]
}
`);
    assert.equal(v.net, "apcera.me");
    assert.deepEqual((v.cluster as ConfMap).routes, ["nats-route://foo:bar@apcera.me:4245", "nats-route://foo:bar@apcera.me:4246"]);
  });

  it("parses role-based permissions held in variables (server/configs/authorization.conf style)", () => {
    const v = parse(`listen: 127.0.0.1:4222

authorization {
  super_user = {
    publish = "*"
    subscribe = ">"
  }
  req_pub_user = {
    publish = ["req.foo", "req.bar"]
    subscribe = "_INBOX.>"
  }
  default_user = {
    subscribe = "PUBLIC.>"
  }
  default_permissions: $default_user
  users = [
    {user: alice, password: foo, permissions: $super_user}
    {user: bob,   password: bar, permissions: $req_pub_user}
    {user: susan, password: baz}
  ]
}`);
    const users = (v.authorization as ConfMap).users as ConfMap[];
    assert.deepEqual(users[0].permissions, { publish: "*", subscribe: ">" });
    assert.deepEqual(users[1].permissions, { publish: ["req.foo", "req.bar"], subscribe: "_INBOX.>" });
  });

  it("parses the reload example with tls block and trailing comments", () => {
    const v = parse(`# logging options
debug:   true # enable on reload
trace:   true # enable on reload
logtime: false
log_file: "/tmp/gnatsd.log"

tls {
    cert_file: "../test/configs/certs/server-cert.pem"
    verify: true
}`);
    assert.equal(v.debug, true);
    assert.equal(v.logtime, false);
  });

  it("parses a JetStream cluster node config", () => {
    const v = parse(`server_name: n1
listen: 127.0.0.1:-1
jetstream {
  store_dir: '/tmp/js/n1'
  max_mem_store: 256MB
  max_file_store: 2GB
}
cluster {
  name: C1
  listen: 127.0.0.1:6222
  routes: [nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224]
}`);
    assert.deepEqual(v.jetstream, { store_dir: "/tmp/js/n1", max_mem_store: 256 * 1024 * 1024, max_file_store: 2 * 1024 ** 3 });
  });
});

describe("conf parser: robustness", () => {
  it("never throws on arbitrary input", () => {
    const alphabet = fc.constantFrom(..."ab1 -.:=\n\t{}[],;#/'\"$\\Kk()".split(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 80 })), (text) => {
        const r = parseConf(text, { file: "x.conf", readFile: () => "a: 1", env: () => "1" });
        return typeof r.ok === "boolean";
      }),
      { numRuns: 1500 },
    );
  });

  it("bounds nesting depth with an error", () => {
    const e = parseError("a: " + "[".repeat(5000));
    assert.match(e.message, /nested too deeply/);
  });
});
