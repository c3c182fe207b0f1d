// accounts {}, system_account and no_auth_user: conf and YAML read into the typed options the server consumes,
// and nats-server 2.9's start-up checks, each error naming file, line and key.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createAccount, createUser } from "@nats-io/nkeys";
import { loadConfigText, loadConfigFormats } from "../../src/config/load.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { accountsOptionsSchema } from "../../src/config/account_options.ts";
import { checkAccountsOptions } from "../../src/config/accounts.ts";
import { startPetrel } from "../../mod.ts";
import type { ServerOptions } from "../../src/config/schema.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

function load(text: string, file = "petrel.conf") {
  return loadConfigText(text, file, { readFile: () => undefined, env: () => undefined });
}

function options(text: string, file = "petrel.conf"): { options: ServerOptions; warnings: string[] } {
  const r = load(text, file);
  if (!r.ok) assert.fail(`unexpected error: ${JSON.stringify(r.error)}`);
  return { options: applyDefaults(r.value.layer), warnings: r.value.warnings };
}

function errorOf(text: string, file = "petrel.conf") {
  const r = load(text, file);
  if (r.ok) assert.fail("expected a configuration error");
  return r.error;
}

const FULL_CONF = `accounts {
  A: {
    users: [
      {user: a, password: pa}
      {user: a2, password: pa2, permissions: {publish: "a.>", subscribe: {allow: ["a.>"], deny: "a.secret"}}}
    ]
    exports: [
      {stream: "a.>"}
      {service: "req.>", accounts: [B], response_type: stream, response_threshold: "1s"}
      {service: "one", response: chunk}
    ]
    jetstream: enabled
  }
  B: {
    default_permissions: {publish: "x.>"}
    users: [{user: b, password: pb}]
    imports: [
      {stream: {account: A, subject: "a.>"}, prefix: "from_a"}
      {service: {account: A, subject: "req.x"}, to: "svc.x"}
      {service: {account: A, subject: "req.y"}}
    ]
    jetstream { max_mem: 1G, max_file: 10GB, max_streams: 10, max_consumers: 100 }
  }
  C: { jetstream: disabled }
}
system_account: A
no_auth_user: a
`;

const FULL_EXPECTED = {
  A: {
    users: [
      { user: "a", password: "pa" },
      {
        user: "a2",
        password: "pa2",
        permissions: { publish: { allow: ["a.>"] }, subscribe: { allow: ["a.>"], deny: ["a.secret"] } },
      },
    ],
    exports: [
      { stream: "a.>" },
      { service: "req.>", accounts: ["B"], response_type: "stream", response_threshold: 1000 },
      { service: "one", response_type: "chunked", response_threshold: 120_000 },
    ],
    imports: [],
    jetstream: { max_mem: -1, max_file: -1, max_streams: -1, max_consumers: -1 },
  },
  B: {
    users: [{ user: "b", password: "pb", permissions: { publish: { allow: ["x.>"] } } }],
    exports: [],
    imports: [
      { stream: { account: "A", subject: "a.>" }, prefix: "from_a" },
      { service: { account: "A", subject: "req.x" }, to: "svc.x" },
      { service: { account: "A", subject: "req.y" } },
    ],
    jetstream: { max_mem: 1_000_000_000, max_file: 10 * 1024 ** 3, max_streams: 10, max_consumers: 100 },
  },
  C: { users: [], exports: [], imports: [] },
};

describe("accounts: reading", () => {
  it("reads users, exports, imports and jetstream into the typed options", () => {
    const { options: o, warnings } = options(FULL_CONF);
    assert.deepEqual(warnings, []);
    assert.deepEqual(o.accounts, FULL_EXPECTED);
    assert.equal(o.system_account, "A");
    assert.equal(o.no_auth_user, "a");
    // The options satisfy their own schema (what an embedder would check hand-written options with).
    assert.equal(accountsOptionsSchema.safeParse(o.accounts).success, true);
  });

  it("reads the same configuration written in YAML", () => {
    const yaml = `accounts:
  A:
    users:
      - {user: a, password: pa}
      - user: a2
        password: pa2
        permissions:
          publish: "a.>"
          subscribe: {allow: ["a.>"], deny: "a.secret"}
    exports:
      - stream: "a.>"
      - {service: "req.>", accounts: [B], response_type: stream, response_threshold: "1s"}
      - {service: one, response: chunk}
    jetstream: enabled
  B:
    default_permissions: {publish: "x.>"}
    users: [{user: b, password: pb}]
    imports:
      - {stream: {account: A, subject: "a.>"}, prefix: from_a}
      - {service: {account: A, subject: req.x}, to: svc.x}
      - service: {account: A, subject: req.y}
    jetstream: {max_mem: 1000000000, max_file: 10GB, max_streams: 10, max_consumers: 100}
  C: {jetstream: disabled}
system_account: A
no_auth_user: a
`;
    const { options: o, warnings } = options(yaml, "petrel.yaml");
    assert.deepEqual(warnings, []);
    assert.deepEqual(o.accounts, FULL_EXPECTED);
    assert.equal(o.system_account, "A");
  });

  it("accepts the list form, keys in any case, and account names keep their case", () => {
    assert.deepEqual(options("accounts: [A, b]").options.accounts, {
      A: { users: [], exports: [], imports: [] },
      b: { users: [], exports: [], imports: [] },
    });
    const { options: o, warnings } = options("Accounts { Sales: { USERS: [{User: s, Password: p}], JetStream: ENABLED } }");
    assert.deepEqual(warnings, []);
    assert.deepEqual(o.accounts?.Sales.users, [{ user: "s", password: "p" }]);
    assert.equal(o.accounts?.Sales.jetstream?.max_mem, -1);
  });

  it("reads nkey users inside accounts, with permissions", () => {
    const pub = createUser().getPublicKey();
    const { options: o } = options(`accounts { A: { users: [{nkey: ${pub}, permissions: {subscribe: "a.>"}}] } }`);
    assert.deepEqual(o.accounts?.A.users, [{ user: pub, nkey: pub, permissions: { subscribe: { allow: ["a.>"] } } }]);
  });

  it("reads jetstream limits under every nats-server spelling; absent limits are -1", () => {
    const { options: o } = options("accounts { A: { jetstream { mem: 1K, store: 2K, streams: 3, consumers: 4 } }, B: { jetstream { max_memory: 5 } }, C: { jetstream: true } }");
    assert.deepEqual(o.accounts?.A.jetstream, { max_mem: 1000, max_file: 2000, max_streams: 3, max_consumers: 4 });
    assert.deepEqual(o.accounts?.B.jetstream, { max_mem: 5, max_file: -1, max_streams: -1, max_consumers: -1 });
    assert.deepEqual(o.accounts?.C.jetstream, { max_mem: -1, max_file: -1, max_streams: -1, max_consumers: -1 });
  });

  it("maps imports with 'to' (wildcards kept in order, or named), and ignores 'prefix' on a service import as nats-server", () => {
    const base = 'A: { exports: [{stream: "q.>"}, {service: "s.>"}] }';
    const { options: o } = options(`accounts { ${base}, B: { imports: [
      {stream: {account: A, subject: "q.>"}, to: "r.>"}
      {stream: {account: A, subject: "q.*.*"}, to: "t.$2.$1"}
      {service: {account: A, subject: "s.x"}, to: "svc.x", prefix: ignored}
      {service: {account: A, subject: "s.*"}, to: "svc.*.all"}
    ] } }`);
    assert.deepEqual(o.accounts?.B.imports, [
      { stream: { account: "A", subject: "q.>" }, to: "r.>" },
      { stream: { account: "A", subject: "q.*.*" }, to: "t.$2.$1" },
      { service: { account: "A", subject: "s.x" }, to: "svc.x" },
      { service: { account: "A", subject: "s.*" }, to: "svc.*.all" },
    ]);
  });

  it("allows system_account $SYS without defining it, and imports covered by a wider export", () => {
    const { options: o } = options('system_account: "$SYS"\naccounts { A: { exports: [{stream: "q.>"}] }, B: { imports: [{stream: {account: A, subject: "q.a.*"}}] } }');
    assert.equal(o.system_account, "$SYS");
  });

  it("skips variables defined inside the accounts block, as nats-server", () => {
    const { options: o, warnings } = options("accounts {\n  PASS: secret\n  A: { users: [{user: a, password: $PASS}] }\n}\n");
    assert.deepEqual(warnings, []);
    assert.deepEqual(o.accounts, { A: { users: [{ user: "a", password: "secret" }], exports: [], imports: [] } });
  });

  it("leaves accounts out of the options when the file has none", () => {
    const { options: o } = options("port: 1");
    assert.equal(o.accounts, undefined);
    assert.equal(o.system_account, undefined);
  });
});

describe("accounts: start-up errors name file, line and key", () => {
  const cases: [string, string, number, RegExp][] = [
    [
      "an import from an undefined account",
      'accounts {\n  B: {\n    imports: [\n      {stream: {account: Z, subject: "a.>"}}\n    ]\n  }\n}',
      4,
      /accounts\.B\.imports\[0\]: account "Z" is not defined \(stream import\)/,
    ],
    [
      "a service import of a subject the exporter does not export",
      'accounts {\n  A: { exports: [{service: "q.a"}] }\n  B: { imports: [{service: {account: A, subject: "q.b"}}] }\n}',
      3,
      /accounts\.B\.imports\[0\]: service import "q\.b" from account "A" is not authorized/,
    ],
    [
      "a stream import of a private export for other accounts",
      'accounts {\n  A: { exports: [{stream: "q.a", accounts: [C]}] }\n  B: { imports: [{stream: {account: A, subject: "q.a"}}] }\n  C: {}\n}',
      3,
      /stream import "q\.a" from account "A" is not authorized/,
    ],
    [
      "an import wider than the export",
      'accounts {\n  A: { exports: [{stream: "q.*"}] }\n  B: { imports: [{stream: {account: A, subject: "q.>"}}] }\n}',
      3,
      /not authorized/,
    ],
    [
      "an export to an undefined account",
      'accounts {\n  A: {\n    exports: [{stream: "q.a", accounts: [Z]}]\n  }\n}',
      3,
      /accounts\.A\.exports\[0\]: account "Z" is not defined \(stream export\)/,
    ],
    [
      "a cycle of service imports",
      'accounts {\n  A: { exports: [{service: "q.>"}], imports: [{service: {account: B, subject: "q.>"}}] }\n  B: {\n    exports: [{service: "q.>"}]\n    imports: [{service: {account: A, subject: "q.>"}}]\n  }\n}',
      5,
      /accounts\.B\.imports\[0\]: service import "q\.>" from account "A" forms a cycle/,
    ],
    [
      "a cycle of stream imports through a third account",
      'accounts {\n  A: { exports: [{stream: "q.>"}], imports: [{stream: {account: C, subject: "q.>"}}] }\n  B: { exports: [{stream: "q.>"}], imports: [{stream: {account: A, subject: "q.>"}}] }\n  C: { exports: [{stream: "q.>"}], imports: [{stream: {account: B, subject: "q.>"}}] }\n}',
      4,
      /accounts\.C\.imports\[0\]: stream import "q\.>" from account "B" forms a cycle/,
    ],
    [
      "a user in two accounts",
      "accounts {\n  A: { users: [{user: a, password: a}] }\n  B: { users: [{user: a, password: b}] }\n}",
      3,
      /accounts\.B\.users\[0\]: duplicate user "a" \(already defined in account "A"\)/,
    ],
    [
      "a user in authorization and in an account",
      "authorization { users: [{user: a, password: a}] }\naccounts {\n  A: { users: [{user: a, password: a}] }\n}",
      3,
      /duplicate user "a" \(already defined in authorization\.users\)/,
    ],
    [
      "a single authorization user alongside account users",
      "authorization { user: x, password: y }\naccounts {\n  A: { users: [{user: a, password: a}] }\n}",
      3,
      /cannot have a single user\/password in authorization and users in accounts/,
    ],
    [
      "a system_account that is not defined",
      "accounts { A: {} }\nsystem_account: ZZ",
      2,
      /system_account: account "ZZ" is not defined/,
    ],
    [
      "a no_auth_user that names no user",
      "accounts { A: { users: [{user: a, password: a}] } }\nno_auth_user: nobody",
      2,
      /no_auth_user: "nobody" is not a user/,
    ],
    ["a no_auth_user without any users", "port: 1\nno_auth_user: nobody", 2, /no users are defined/],
    ["the reserved $G", 'accounts {\n  "$G": {}\n}', 2, /"\$G" is a reserved account/],
    ["a duplicate name in the list form", "accounts: [A, B, A]", 1, /duplicate account entry "A"/],
    ["an unknown response type", 'accounts {\n  A: { exports: [{service: "q", response_type: foo}] }\n}', 2, /accounts\.A\.exports\[0\]\.response_type: expected a response type/],
    ["a response type on a stream", 'accounts {\n  A: { exports: [{stream: "q", response_type: stream}] }\n}', 2, /apply to services, not streams/],
    ["a numeric response threshold", 'accounts {\n  A: { exports: [{service: "q", response_threshold: 5}] }\n}', 2, /response_threshold: expected a duration string/],
    ["an export with stream and service", 'accounts {\n  A: { exports: [{service: "q", stream: "r"}] }\n}', 2, /both "stream" and "service"/],
    ["an import without an account", 'accounts {\n  A: { exports: [{service: "q"}] }\n  B: { imports: [{service: {subject: "q"}}] }\n}', 3, /expected an account name and a subject/],
    ["a bad jetstream word", "accounts {\n  A: { jetstream: maybe }\n}", 2, /accounts\.A\.jetstream: expected "enabled", "disabled"/],
    ["an invalid user nkey", "accounts {\n  A: { users: [{nkey: UABC}] }\n}", 2, /not a valid public nkey for a user/],
    ["an account nkey given as a user", `accounts {\n  A: { users: [{nkey: ${createAccount().getPublicKey()}}] }\n}`, 2, /not a valid public nkey for a user/],
    ["an nkey user with a password", `accounts {\n  A: { users: [{nkey: ${createUser().getPublicKey()}, password: x}] }\n}`, 2, /nkey users do not take usernames or passwords/],
    ["a user without a name", "accounts {\n  A: { users: [{password: x}] }\n}", 2, /needs "user" or "nkey"/],
    ["a stream import with prefix and to", 'accounts {\n  A: { exports: [{stream: "q.>"}] }\n  B: { imports: [{stream: {account: A, subject: "q.>"}, to: "r.>", prefix: p}] }\n}', 3, /cannot have both "prefix" and "to"/],
    ["a prefix with a wildcard", 'accounts {\n  A: { exports: [{stream: "q.>"}] }\n  B: { imports: [{stream: {account: A, subject: "q.a"}, prefix: "p.*"}] }\n}', 3, /prefix: "p\.\*" must not contain wildcards/],
    ["a stream import dropping a wildcard", 'accounts {\n  A: { exports: [{stream: "q.>"}] }\n  B: { imports: [{stream: {account: A, subject: "q.*"}, to: "r.x"}] }\n}', 3, /imports\[0\]\.to: cannot map "q\.\*" to "r\.x": not using all of the token wildcard/],
    ["a mapping naming a wildcard that does not exist", 'accounts {\n  A: { exports: [{stream: "q.>"}] }\n  B: { imports: [{stream: {account: A, subject: "q.*"}, to: "r.$2"}] }\n}', 3, /wildcard 2 does not exist in the source \(it has 1\)/],
    ["an invalid deny subject (a typo must not deny nothing)", "accounts {\n  A: {\n    users: [{user: a, password: a, permissions: {subscribe: {deny: \"a b c\"}}}]\n  }\n}", 3, /accounts\.A\.users\[0\]: permissions\.subscribe\.deny: subject "a b c" is not a valid subject/],
    [
      "two service imports on the same local subject",
      'accounts {\n  A: { exports: [{service: "q.>"}] }\n  B: { imports: [{service: {account: A, subject: "q.a"}}, {service: {account: A, subject: "q.b"}, to: "q.a"}] }\n}',
      3,
      /duplicate service import subject "q\.a"/,
    ],
  ];
  for (const [what, text, line, re] of cases) {
    it(what, () => {
      const e = errorOf(text);
      const all = e.errors.map((x) => `${x.file}:${x.line}: ${x.message}`).join("\n");
      assert.match(all, re);
      const hit = e.errors.find((x) => re.test(x.message));
      assert.equal(hit?.file, "petrel.conf", all);
      assert.equal(hit?.line, line, all);
    });
  }

  it("reports YAML errors with the YAML file's line", () => {
    const e = errorOf("accounts:\n  B:\n    imports:\n      - stream: {account: Z, subject: a}\n", "petrel.yml");
    assert.equal(e.file, "petrel.yml");
    assert.equal(e.line, 4);
    assert.match(e.message, /account "Z" is not defined/);
  });

  it("accepts an import from the account itself, as nats-server does", () => {
    options('accounts { A: { exports: [{stream: "q.>"}], imports: [{stream: {account: A, subject: "q.>"}, prefix: p}] } }');
  });
});

describe("accounts: options built in code (embedding API)", () => {
  it("runs the same checks on typed options; arrays may be left out", () => {
    assert.deepEqual(checkAccountsOptions({ accounts: { A: { users: [{ user: "a" }] }, B: {} }, system_account: "A" }), []);
    assert.deepEqual(
      checkAccountsOptions({
        accounts: {
          A: { users: [{ user: "a" }], exports: [{ stream: "q.a" }] },
          B: { users: [{ user: "a" }], imports: [{ stream: { account: "A", subject: "q.b" } }, { service: { account: "Z", subject: "x" } }] },
        },
        system_account: "S",
      }),
      [
        'accounts.B.users: duplicate user "a" (already defined in account "A")',
        'accounts.B.imports[0]: stream import "q.b" from account "A" is not authorized: no stream export of "A" covers it for account "B"',
        'accounts.B.imports[1]: account "Z" is not defined (service import)',
        'system_account: account "S" is not defined in accounts',
      ],
    );
    assert.match(checkAccountsOptions({ accounts: { A: { users: "a" } } })[0], /^accounts\.A\.users: /);
  });

  it("startPetrel refuses inconsistent accounts before listening", async () => {
    await assert.rejects(
      startPetrel({ options: { host: "127.0.0.1", port: -1, accounts: { B: { imports: [{ stream: { account: "Z", subject: "a" } }] } } } }),
      /accounts\.B\.imports\[0\]: account "Z" is not defined/,
    );
  });
});
