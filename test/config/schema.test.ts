import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadConfigText, loadConfigFormats } from "../../src/config/load.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { DEFAULTS, type ServerOptions } from "../../src/config/schema.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

function load(text: string, file = "petrel.conf", files: Record<string, string> = {}) {
  return loadConfigText(text, file, { readFile: (p) => files[p], env: () => undefined });
}

function options(text: string, file = "petrel.conf"): { options: ServerOptions; warnings: string[] } {
  const r = load(text, file);
  if (!r.ok) assert.fail(`unexpected error: ${JSON.stringify(r.error)}`);
  return { options: applyDefaults(r.value.layer), warnings: r.value.warnings };
}

function errorOf(text: string, file = "petrel.conf", files: Record<string, string> = {}) {
  const r = load(text, file, files);
  if (r.ok) assert.fail("expected a configuration error");
  return r.error;
}

describe("options: defaults", () => {
  it("matches nats-server's defaults for an empty file", () => {
    const { options: o, warnings } = options("");
    assert.deepEqual(warnings, []);
    assert.deepEqual(o, {
      server_name: "",
      host: "0.0.0.0",
      port: 4222,
      http_host: "0.0.0.0",
      http_port: 0,
      max_payload: 1048576,
      max_pending: 67108864,
      max_control_line: 4096,
      max_connections: 65536,
      max_subscriptions: 0,
      ping_interval: 120000,
      ping_max: 2,
      write_deadline: 10000,
      auth_timeout: 2000,
      lame_duck_duration: 120000,
      lame_duck_grace_period: 10000,
      debug: false,
      trace: false,
      logtime: true,
    });
    assert.equal(DEFAULTS.port, 4222);
  });
});

describe("options: top level", () => {
  it("reads every top-level key, converting sizes and durations", () => {
    const { options: o, warnings } = options(`
server_name: hub-1
host: 127.0.0.1
port: -1
client_advertise: "edge.example.com:4222"
http: "127.0.0.2:8222"
max_payload: 2MB
max_pending: 128MB
max_control_line: 8KB
max_connections: 100
max_subscriptions: 1000
ping_interval: "30s"
ping_max: 5
write_deadline: "2s"
lame_duck_duration: "1m"
lame_duck_grace_period: "5s"
debug: true
trace: on
logtime: false
log_file: "/var/log/petrel.log"
pid_file: /run/petrel.pid
ports_file_dir: /tmp
no_auth_user: guest
authorization { timeout: 0.5, users: [{user: guest}] }
`);
    assert.deepEqual(warnings, []);
    assert.equal(o.server_name, "hub-1");
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.port, -1);
    assert.equal(o.client_advertise, "edge.example.com:4222");
    assert.equal(o.http_host, "127.0.0.2");
    assert.equal(o.http_port, 8222);
    assert.equal(o.max_payload, 2 * 1024 * 1024);
    assert.equal(o.max_pending, 128 * 1024 * 1024);
    assert.equal(o.max_control_line, 8192);
    assert.equal(o.max_connections, 100);
    assert.equal(o.max_subscriptions, 1000);
    assert.equal(o.ping_interval, 30_000);
    assert.equal(o.ping_max, 5);
    assert.equal(o.write_deadline, 2000);
    assert.equal(o.lame_duck_duration, 60_000);
    assert.equal(o.lame_duck_grace_period, 5000);
    assert.equal(o.debug, true);
    assert.equal(o.trace, true);
    assert.equal(o.logtime, false);
    assert.equal(o.log_file, "/var/log/petrel.log");
    assert.equal(o.pid_file, "/run/petrel.pid");
    assert.equal(o.ports_file_dir, "/tmp");
    assert.equal(o.no_auth_user, "guest");
    assert.equal(o.auth_timeout, 500);
  });

  it("accepts nats-server's aliases", () => {
    const { options: o } = options(`net: 10.0.0.1
monitor_port: 8333
max_conn: 7
max_subs: 9
logfile: a.log
pidfile: a.pid`);
    assert.equal(o.host, "10.0.0.1");
    assert.equal(o.http_host, "10.0.0.1");
    assert.equal(o.http_port, 8333);
    assert.equal(o.max_connections, 7);
    assert.equal(o.max_subscriptions, 9);
    assert.equal(o.log_file, "a.log");
    assert.equal(o.pid_file, "a.pid");
  });

  it("reads listen host:port, -1 ports and integer-second durations", () => {
    const { options: o } = options("listen: 127.0.0.1:-1\nhttp_port: -1\nping_interval: 60\nwrite_deadline: 3");
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.port, -1);
    assert.equal(o.http_port, -1);
    assert.equal(o.ping_interval, 60_000);
    assert.equal(o.write_deadline, 3000);
  });

  it("matches keys case-insensitively, as nats-server does", () => {
    const { options: o, warnings } = options("Port: 4333\nDEBUG: true");
    assert.deepEqual(warnings, []);
    assert.equal(o.port, 4333);
    assert.equal(o.debug, true);
  });
});

describe("options: errors name file, line, key, value and expectation", () => {
  it("a bad size", () => {
    const e = errorOf("port: 4222\n\nmax_payload: abc\n");
    assert.equal(e.file, "petrel.conf");
    assert.equal(e.line, 3);
    assert.equal(e.key, "max_payload");
    assert.equal(e.message, 'max_payload: expected a size (e.g. 1MB), got "abc"');
  });

  it("a bad port", () => {
    const e = errorOf("port: 99999");
    assert.equal(e.line, 1);
    assert.match(e.message, /^port: expected a port number .*got 99999$/);
  });

  it("a bad duration, boolean, listen and nested value", () => {
    assert.match(errorOf('ping_interval: "soon"').message, /ping_interval: expected a duration .* got "soon"/);
    assert.match(errorOf("debug: maybe").message, /debug: expected a boolean .* got "maybe"/);
    assert.match(errorOf("listen: 'myhost:http'").message, /listen: expected a listen address/);
    const nested = errorOf("cluster {\n  name: c\n  port: big\n}");
    assert.equal(nested.line, 3);
    assert.match(nested.message, /^cluster\.port: expected a port number .* got "big"$/);
  });

  it("a block of the wrong type", () => {
    const e = errorOf("cluster: 5");
    assert.match(e.message, /^cluster: expected a map .* got 5$/);
  });

  it("an error inside an array item points at the item", () => {
    const e = errorOf(`authorization {
  users = [
    {user: a, password: b}
    {user: c, permissions: {publish: {allow: {x: 1}}}}
  ]
}`);
    assert.equal(e.line, 4);
    assert.match(e.message, /^authorization\.users\[1\]\.permissions\.publish\.allow: expected a string or a list of strings, got a map$/);
  });

  it("an error in an included file names that file", () => {
    const e = errorOf("include ./limits.conf\n", "/etc/petrel.conf", { "/etc/petrel.conf": "", "/etc/limits.conf": "\nmax_payload: 'lots'\n" });
    assert.equal(e.file, "/etc/limits.conf");
    assert.equal(e.line, 2);
  });

  it("reports every problem, first one first", () => {
    const r = load("port: x\ndebug: 3");
    assert.ok(!r.ok);
    assert.equal(r.error.errors.length, 2);
    assert.equal(r.error.line, 1);
  });

  it("rejects user/password together with a token, and users with a single user", () => {
    assert.match(errorOf("authorization { user: a, password: b, token: t }").message, /token/);
    assert.match(errorOf("authorization { user: a, users: [{user: b}] }").message, /users list/);
    assert.match(errorOf("authorization { users: [{user: b}, {user: b}] }").message, /duplicate user "b"/);
    assert.match(errorOf("authorization { users: [{password: b}] }").message, /needs "user"/);
  });

  it("a syntax error is reported with file and line", () => {
    const e = errorOf("a: 1\nb: {\n");
    assert.equal(e.file, "petrel.conf");
    assert.equal(e.line, 2);
  });
});

describe("options: warnings", () => {
  it("warns about unknown keys with file:line, at any depth", () => {
    const { warnings } = options("port: 1\nfoo: bar\ncluster {\n  name: c\n  colour: blue\n}");
    assert.deepEqual(warnings, [
      'petrel.conf:2: unknown configuration key "foo" (ignored)',
      'petrel.conf:5: unknown configuration key "cluster.colour" (ignored)',
    ]);
  });

  it("does not warn about keys used as variables", () => {
    const { warnings } = options("PORT: 4555\nport: $PORT");
    assert.deepEqual(warnings, []);
  });

  it("warns about accepted but unsupported tuning keys", () => {
    const { warnings } = options("port: 1\nsyslog: true\njetstream { unique_tag: az }");
    assert.deepEqual(warnings, [
      'petrel.conf:2: "syslog" is not supported by Petrel yet (ignored)',
      'petrel.conf:3: "jetstream.unique_tag" is not supported by Petrel yet (ignored)',
    ]);
  });

  it("reads the tls block (seconds to ms, verify_and_map implies verify)", () => {
    const { options: o, warnings } = options("tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify_and_map: true, timeout: 0.5, min_version: \"1.3\" }");
    assert.deepEqual(warnings, []);
    assert.deepEqual(o.tls, {
      cert_file: "c.pem",
      key_file: "k.pem",
      ca_file: "ca.pem",
      verify: true,
      verify_and_map: true,
      insecure: false,
      timeout: 500,
      min_version: "TLSv1.3",
    });
  });
});

describe("options: authorization", () => {
  it("reads a single user, a token, and permissions in every form", () => {
    assert.deepEqual(options("authorization { user: u, pass: p }").options.authorization, {
      user: "u",
      password: "p",
      users: [],
    });
    assert.deepEqual(options("authorization { token: $2a$11$abc }").options.authorization, {
      token: "$2a$11$abc",
      users: [],
    });
    const { options: o } = options(`authorization {
  permissions { pub: "a.>", sub: ["b", "c"] }
  users = [
    {user: x, password: y, permissions: {publish: {allow: ["p"], deny: "q"}, subscribe: {deny: ["r"]}, allow_responses: true}}
    {user: z, password: w, permissions: {publish: "p", allow_responses: {max: 5, expires: "1m"}}}
    {user: d, password: e}
  ]
}`);
    assert.deepEqual(o.authorization?.permissions, { publish: { allow: ["a.>"] }, subscribe: { allow: ["b", "c"] } });
    assert.deepEqual(o.authorization?.users, [
      {
        user: "x",
        password: "y",
        permissions: {
          publish: { allow: ["p"], deny: ["q"] },
          subscribe: { deny: ["r"] },
          allow_responses: { max: 1, expires: 120_000 },
        },
      },
      { user: "z", password: "w", permissions: { publish: { allow: ["p"] }, allow_responses: { max: 5, expires: 60_000 } } },
      // Users without permissions get the block's (default) permissions, as in nats-server.
      { user: "d", password: "e", permissions: { publish: { allow: ["a.>"] }, subscribe: { allow: ["b", "c"] } } },
    ]);
  });

  it("applies default_permissions to users without their own", () => {
    const { options: o } = options(`authorization {
  default_user = { subscribe = "PUBLIC.>" }
  default_permissions: $default_user
  users = [ {user: susan, password: baz} ]
}`);
    assert.deepEqual(o.authorization?.users, [{ user: "susan", password: "baz", permissions: { subscribe: { allow: ["PUBLIC.>"] } } }]);
  });
});

describe("options: cluster, gateway, jetstream, websocket, leafnodes", () => {
  it("reads a cluster block", () => {
    const { options: o } = options(`cluster {
  name: C1
  listen: 127.0.0.1:-1
  advertise: "10.0.0.1:6222"
  no_advertise: true
  routes: [nats://a:6222, nats://b:6222]
  authorization { user: r, password: s, timeout: 3 }
}`);
    assert.deepEqual(o.cluster, {
      name: "C1",
      host: "127.0.0.1",
      port: -1,
      advertise: "10.0.0.1:6222",
      no_advertise: true,
      routes: ["nats://a:6222", "nats://b:6222"],
      authorization: { user: "r", password: "s", timeout: 3000 },
      connect_retries: 0,
    });
  });

  it("reads cluster host/port separately, with defaults", () => {
    assert.deepEqual(options("cluster { port: 6222 }").options.cluster, {
      host: "0.0.0.0",
      port: 6222,
      no_advertise: false,
      routes: [],
      connect_retries: 0,
    });
  });

  it("reads jetstream in its short and long forms", () => {
    for (const v of ["enabled", "true", "yes", "on", "enable"]) {
      assert.equal(options(`jetstream: ${v}`).options.jetstream?.enabled, true, v);
    }
    assert.equal(options("jetstream: disabled").options.jetstream?.enabled, false);
    assert.equal(options("jetstream: false").options.jetstream?.enabled, false);
    assert.deepEqual(options(`jetstream {
  store_dir: "/data/js"
  max_memory_store: 1GB
  max_file_store: 10GB
  domain: hub
  sync_interval: always
  storage: sqlite
}`).options.jetstream, {
      enabled: true,
      store_dir: "/data/js",
      max_memory_store: 1024 ** 3,
      max_file_store: 10 * 1024 ** 3,
      domain: "hub",
      sync_interval: "always",
      storage: "sqlite",
    });
    assert.deepEqual(options("jetstream { enabled: false, max_mem: 1K, sync_interval: \"2m\" }").options.jetstream, {
      enabled: false,
      store_dir: "",
      max_memory_store: 1000,
      max_file_store: -1,
      sync_interval: 120_000,
      storage: "file",
    });
    assert.equal(options("store_dir: /x\njetstream: true").options.jetstream?.store_dir, "/x");
    assert.match(errorOf("jetstream: sometimes").message, /jetstream: expected a map, a boolean, "enabled" or "disabled"/);
    assert.match(errorOf("jetstream { storage: tape }").message, /jetstream\.storage: expected one of/);
  });

  it("reads a gateway block", () => {
    const { options: o } = options(`gateway {
  name: A
  listen: "127.0.0.1:5227"
  gateways: [
    {name: A, url: "nats://127.0.0.1:5227"}
    {name: B, urls: ["nats://127.0.0.1:5228", "nats://127.0.0.1:5229"]}
  ]
}`);
    assert.deepEqual(o.gateway, {
      name: "A",
      host: "127.0.0.1",
      port: 5227,
      gateways: [
        { name: "A", urls: ["nats://127.0.0.1:5227"] },
        { name: "B", urls: ["nats://127.0.0.1:5228", "nats://127.0.0.1:5229"] },
      ],
      reject_unknown_cluster: false,
    });
    assert.match(errorOf("gateway { port: 1 }").message, /name.* is required/);
  });

  it("reads websocket (and its ws alias)", () => {
    const ws = `{
  listen: "127.0.0.1:-1"
  no_tls: true
  same_origin: true
  allowed_origins: ["https://a.example"]
  compression: true
  handshake_timeout: "5s"
}`;
    const expected = {
      host: "127.0.0.1",
      port: -1,
      no_tls: true,
      same_origin: true,
      allowed_origins: ["https://a.example"],
      compression: true,
      handshake_timeout: 5000,
    };
    assert.deepEqual(options(`websocket ${ws}`).options.websocket, expected);
    assert.deepEqual(options(`ws ${ws}`).options.websocket, expected);
    const e = errorOf("port: 1\nwebsocket { port: 8080 }");
    assert.equal(e.line, 2);
    assert.match(e.message, /websocket: websocket requires TLS configuration \(a tls \{\} block\) or no_tls: true/);
    assert.match(errorOf("websocket { port: 8080, tls { cert_file: c, key_file: k, ca_file: a, verify: true } }").message, /verify.*not implemented/);
  });

  it("reads leafnodes (and its leaf alias)", () => {
    const leaf = `{
  listen: 7422
  remotes = [
    {url: "nats-leaf://hub:7422"}
    {urls: ["nats-leaf://h1:7422", "nats-leaf://h2:7422"]}
  ]
}`;
    const expected = {
      host: "0.0.0.0",
      port: 7422,
      no_advertise: false,
      remotes: [
        { urls: ["nats-leaf://hub:7422"] },
        { urls: ["nats-leaf://h1:7422", "nats-leaf://h2:7422"] },
      ],
    };
    assert.deepEqual(options(`leafnodes ${leaf}`).options.leafnodes, expected);
    assert.deepEqual(options(`leaf ${leaf}`).options.leafnodes, expected);
    assert.match(errorOf("leafnodes { remotes: [ {no_advertise: true} ] }").message, /leafnodes\.remotes\[0\]/);
  });
});

describe("options: YAML", () => {
  const conf = `server_name: y1
listen: "127.0.0.1:4333"
http: 8222
max_payload: 2MB
ping_interval: "30s"
debug: true
authorization {
  timeout: 1.5
  users = [
    {user: a, password: p, permissions: {publish: ["x.>"], subscribe: {allow: ["y"], deny: ["z"]}}}
  ]
}
cluster {
  name: C
  listen: "0.0.0.0:-1"
  routes: ["nats://a:6222", "nats://b:6222"]
}
jetstream {
  store_dir: "/data"
  max_file_store: 1GB
}
websocket {
  port: -1
  no_tls: true
}
`;
  const yaml = `server_name: y1
listen: "127.0.0.1:4333"
http: 8222
max_payload: 2MB
ping_interval: 30s
debug: true
authorization:
  timeout: 1.5
  users:
    - user: a
      password: p
      permissions:
        publish: ["x.>"]
        subscribe:
          allow: [y]
          deny: [z]
cluster:
  name: C
  listen: "0.0.0.0:-1"
  routes:
    - nats://a:6222
    - nats://b:6222
jetstream:
  store_dir: /data
  max_file_store: 1GB
websocket:
  port: -1
  no_tls: true
`;

  it("gives the same options as the equivalent conf file", () => {
    const fromConf = options(conf, "petrel.conf");
    const fromYaml = options(yaml, "petrel.yaml");
    assert.deepEqual(fromYaml.options, fromConf.options);
    assert.deepEqual(fromYaml.warnings, []);
    assert.equal(fromYaml.options.max_payload, 2 * 1024 * 1024);
    assert.equal(options(yaml, "petrel.yml").options.server_name, "y1");
  });

  it("reports YAML value errors and unknown keys with file:line", () => {
    const e = errorOf("port: 4222\ncluster:\n  name: c\n  port: nope\n", "petrel.yaml");
    assert.equal(e.file, "petrel.yaml");
    assert.equal(e.line, 4);
    assert.match(e.message, /^cluster\.port: expected a port number .* got "nope"$/);
    const { warnings } = options("port: 1\nwhatever: 2\n", "petrel.yml");
    assert.deepEqual(warnings, ['petrel.yml:2: unknown configuration key "whatever" (ignored)']);
  });

  it("reports YAML syntax errors and empty values with file:line", () => {
    const e = errorOf("port: 4222\ncluster: [a\n  b: : c\n", "petrel.yaml");
    assert.equal(e.file, "petrel.yaml");
    assert.ok(e.line >= 2, `line ${e.line}`);
    const empty = errorOf("port:\n", "petrel.yaml");
    assert.equal(empty.line, 1);
    assert.match(errorOf("- a\n- b\n", "petrel.yaml").message, /top level must be a map/);
  });

  it("accepts yes/no/on/off strings as booleans in YAML", () => {
    assert.equal(options("debug: yes\ntrace: on\n", "p.yaml").options.trace, true);
  });
});

describe("options: TLS and operator blocks", () => {
  it("reads tls {} in cluster, gateway (and a gateway remote), leafnodes (and a remote) and websocket", () => {
    const t = "tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true }";
    const o = options(`cluster { port: -1, ${t} }\ngateway { name: g, port: -1, ${t}, gateways: [ { name: h, url: "nats://127.0.0.1:7222", tls { ca_file: x.pem } } ] }\nleafnodes { port: -1, ${t}, remotes: [ { url: "tls://127.0.0.1:7422", tls { ca_file: x.pem } } ] }\nwebsocket { port: -1, tls { cert_file: c.pem, key_file: k.pem } }`).options;
    assert.equal(o.cluster?.tls?.verify, true);
    assert.equal(o.gateway?.tls?.ca_file, "ca.pem");
    assert.equal(o.gateway?.gateways[0].tls?.ca_file, "x.pem");
    assert.equal(o.leafnodes?.tls?.cert_file, "c.pem");
    assert.equal(o.leafnodes?.remotes[0].tls?.ca_file, "x.pem");
    assert.equal(o.websocket?.tls?.key_file, "k.pem");
  });

  it("refuses tls keys Petrel does not implement, websocket no_tls with tls, and half a certificate", () => {
    assert.match(errorOf("tls { cert_file: c, key_file: k, cipher_suites: [a] }").message, /cipher_suites/);
    assert.match(errorOf("websocket { port: -1, no_tls: true, tls { cert_file: c, key_file: k } }").message, /contradict/);
    assert.match(errorOf("tls { cert_file: c }").message, /cert_file and key_file/);
  });

  it("reads operator mode: MEMORY or a full resolver; refuses the cache resolver and operator mode without a resolver", () => {
    const mem = options("operator: eyJa.eyJb.c\nresolver: MEMORY\nresolver_preload: { AAA: \"eyJx.eyJy.z\" }").options;
    assert.deepEqual(mem.operator, { operators: ["eyJa.eyJb.c"], resolver: "MEMORY", resolver_preload: { AAA: "eyJx.eyJy.z" } });
    const full = options("operator: /op.jwt\nresolver { type: full, dir: /var/jwt, interval: \"2m\" }").options;
    assert.deepEqual(full.operator?.resolver, { type: "full", dir: "/var/jwt", allow_delete: false });
    assert.match(errorOf("operator: /op.jwt\nresolver { type: cache, dir: /var/jwt }").message, /only MEMORY and/);
    assert.match(errorOf("operator: /op.jwt").message, /needs a resolver/);
    assert.match(errorOf("resolver: MEMORY").message, /only valid in operator mode/);
  });
});
