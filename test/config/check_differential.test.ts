// Differential: the same conf files through nats-server 2.9.10 and through Petrel's configuration check; both
// accept or both refuse. nats-server's `-t` only parses, some of its checks run when it starts (an undefined
// system_account, a no_auth_user naming nobody, websocket without TLS), so for those it is started and must
// fail at once. Petrel's verdict is what its `-t` runs (loadServerOptions, in process for speed); the last test
// runs the real `-t` of both binaries and compares exit codes and messages.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createUser } from "@nats-io/nkeys";
import { loadServerOptions } from "../../src/cli/load_options.ts";
import { MOD_TS, NATS_SERVER_BIN } from "../helpers/servers.ts";
import { loadConfigFormats } from "../../src/config/load.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

interface Case {
  name: string;
  conf: string;
  accept: boolean;
  /** nats-server finds this only when starting, not with -t. */
  atStart?: boolean;
}

const dir = mkdtempSync(join(tmpdir(), "petrel-check-"));
const UK = createUser().getPublicKey();
const AK = createAccount().getPublicKey();
const EXP_A = 'A: { exports: [{stream: "q.>"}, {service: "s.>"}] }';
const EXP_ALL = 'A: { exports: [{stream: ">"}, {service: ">"}] }';
const imp = (kind: string, subject: string, extra: string) =>
  `accounts { ${EXP_ALL}, B: { imports: [{${kind}: {account: A, subject: "${subject}"}, ${extra}}] } }`;

const CASES: Case[] = [
  // --- accepted by both ---
  {
    name: "full accounts",
    accept: true,
    conf: `accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [{stream: "a.>"}, {service: "req.>", accounts: [B], response_type: stream, response_threshold: "1s"}]
    jetstream: enabled
  }
  B: {
    users: [{user: b, password: b, permissions: {publish: "x"}}]
    imports: [{stream: {account: A, subject: "a.>"}, prefix: "x"}, {service: {account: A, subject: "req.x"}, to: "svc.x"}]
    jetstream { max_mem: 1G, max_file: 10G, max_streams: 10, max_consumers: 100 }
  }
}
system_account: A
no_auth_user: a`,
  },
  { name: "list form", accept: true, conf: "accounts: [A, B]" },
  { name: "stream import with to", accept: true, conf: `accounts { ${EXP_A}, B: { imports: [{stream: {account: A, subject: "q.>"}, to: "r.>"}] } }` },
  { name: "response aliases", accept: true, conf: 'accounts { A: { exports: [{service: "q.>", response: chunk, threshold: "2s"}, {service: "r", response_type: single}] } }' },
  { name: "jetstream disabled", accept: true, conf: "accounts { A: { jetstream: disabled }, B: { jetstream: false } }" },
  { name: "jetstream limit aliases", accept: true, conf: "accounts { A: { jetstream: { max_memory: 1G, max_store: 2GB, streams: 10, consumers: 5 } } }" },
  { name: "nkey user with permissions", accept: true, conf: `accounts { A: { users: [{nkey: ${UK}, permissions: {publish: x}}] } }` },
  { name: "default permissions", accept: true, conf: 'accounts { A: { default_permissions: { publish: "x" }, users: [{user: a, password: a}] } }' },
  { name: "import from itself", accept: true, conf: 'accounts { A: { exports: [{stream: "q.>"}], imports: [{stream: {account: A, subject: "q.>"}}] } }' },
  { name: "import narrower than export", accept: true, conf: `accounts { ${EXP_A}, B: { imports: [{stream: {account: A, subject: "q.a.*"}}, {service: {account: A, subject: "s.x"}}] } }` },
  { name: "private export to the importer", accept: true, conf: 'accounts { A: { exports: [{service: "q", accounts: [B]}] }, B: { imports: [{service: {account: A, subject: "q"}}] } }' },
  { name: "defined system account", accept: true, conf: "system_account: SYS\naccounts { SYS: { users: [{user: s, password: s}] } }" },
  { name: "implicit $SYS", accept: true, conf: 'system_account: "$SYS"\naccounts { A: {} }' },
  { name: "no_auth_user in an account", accept: true, conf: "no_auth_user: a\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "no_auth_user in authorization", accept: true, conf: "no_auth_user: a\nauthorization { users: [{user: a, password: a}] }" },
  { name: "authorization users and account users", accept: true, conf: "authorization { users: [{user: x, password: x}] }\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "chain of imports without a cycle", accept: true, conf: 'accounts { A: { exports: [{stream: "q.>"}] }, B: { exports: [{stream: "q.>"}], imports: [{stream: {account: A, subject: "q.>"}}] }, C: { imports: [{stream: {account: B, subject: "q.>"}}] } }' },
  { name: "queue-qualified subscribe permission", accept: true, conf: 'authorization { users: [{user: a, password: a, permissions: {subscribe: "a.b q"}}] }' },
  { name: "variable inside accounts", accept: true, conf: "accounts {\n  PASS: secret\n  A: { users: [{user: a, password: $PASS}] }\n}" },
  { name: "websocket with no_tls", accept: true, conf: "websocket { port: -1, no_tls: true }" },
  { name: "service import with a prefix (ignored)", accept: true, conf: imp("service", "a.b", 'prefix: "x"') },
  { name: "service import to a literal from a wildcard", accept: true, conf: imp("service", "a.b", 'to: "x.*"') },
  { name: "service import mapping >", accept: true, conf: imp("service", "a.>", 'to: "x.>"') },
  { name: "service import mapping $2.$1", accept: true, conf: imp("service", "a.*.*", 'to: "x.$2.$1"') },
  { name: "service import mapping *.*", accept: true, conf: imp("service", "a.*.*", 'to: "x.*.*"') },
  { name: "stream import mapping * in another place", accept: true, conf: imp("stream", "a.*", 'to: "x.*.y"') },
  { name: "stream import mapping >", accept: true, conf: imp("stream", "a.>", 'to: "x.>"') },
  { name: "stream import mapping wildcard()", accept: true, conf: imp("stream", "a.*.*", 'to: "x.{{wildcard(2)}}.{{wildcard(1)}}"') },
  // --- refused by both ---
  { name: "import from undefined account", accept: false, conf: 'accounts { B: { imports: [{stream: {account: Z, subject: "a.>"}}] } }' },
  { name: "service import not exported", accept: false, conf: 'accounts { A: { exports: [{service: "q.a"}] }, B: { imports: [{service: {account: A, subject: "q.b"}}] } }' },
  { name: "stream import not exported at all", accept: false, conf: 'accounts { A: { users: [{user: a, password: a}] }, B: { imports: [{stream: {account: A, subject: "a.>"}}] } }' },
  { name: "service export private to another account", accept: false, conf: 'accounts { A: { exports: [{service: "q.a", accounts: [C]}] }, B: { imports: [{service: {account: A, subject: "q.a"}}] }, C: {} }' },
  { name: "stream export private to another account", accept: false, conf: 'accounts { A: { exports: [{stream: "q.a", accounts: [C]}] }, B: { imports: [{stream: {account: A, subject: "q.a"}}] }, C: {} }' },
  { name: "import wider than export", accept: false, conf: 'accounts { A: { exports: [{stream: "q.*"}] }, B: { imports: [{stream: {account: A, subject: "q.>"}}] } }' },
  { name: "export to undefined account", accept: false, conf: 'accounts { A: { exports: [{stream: "q.a", accounts: [Z]}] } }' },
  { name: "service import cycle", accept: false, conf: 'accounts { A: { exports: [{service: "q.>"}], imports: [{service: {account: B, subject: "q.>"}}] }, B: { exports: [{service: "q.>"}], imports: [{service: {account: A, subject: "q.>"}}] } }' },
  { name: "stream import cycle", accept: false, conf: 'accounts { A: { exports: [{stream: "q.>"}], imports: [{stream: {account: B, subject: "q.>"}}] }, B: { exports: [{stream: "q.>"}], imports: [{stream: {account: A, subject: "q.>"}}] } }' },
  { name: "user in two accounts", accept: false, conf: "accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: a, password: b}] } }" },
  { name: "nkey in two accounts", accept: false, conf: `accounts { A: { users: [{nkey: ${UK}}] }, B: { users: [{nkey: ${UK}}] } }` },
  { name: "user in authorization and an account", accept: false, conf: "authorization { users: [{user: a, password: a}] }\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "single authorization user and account users", accept: false, conf: "authorization { user: x, password: y }\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "token and account users", accept: false, conf: "authorization { token: x }\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "duplicate in list form", accept: false, conf: "accounts: [A, A]" },
  { name: "reserved $G", accept: false, conf: 'accounts { "$G": {} }' },
  { name: "unknown response type", accept: false, conf: 'accounts { A: { exports: [{service: "q.>", response_type: foo}] } }' },
  { name: "response type on a stream", accept: false, conf: 'accounts { A: { exports: [{stream: "q.>", response_type: stream}] } }' },
  { name: "numeric response threshold", accept: false, conf: 'accounts { A: { exports: [{service: "q.>", response_threshold: 5}] } }' },
  { name: "stream and service in one export", accept: false, conf: 'accounts { A: { exports: [{service: "q.>", stream: "r.>"}] } }' },
  { name: "import without account", accept: false, conf: 'accounts { A: { exports: [{service: "q.>"}] }, B: { imports: [{service: {subject: "q.>"}}] } }' },
  { name: "bad jetstream word", accept: false, conf: "accounts { A: { jetstream: maybe } }" },
  { name: "invalid user nkey", accept: false, conf: "accounts { A: { users: [{nkey: UABC}] } }" },
  { name: "account nkey as user", accept: false, conf: `accounts { A: { users: [{nkey: ${AK}}] } }` },
  { name: "nkey user with password", accept: false, conf: `accounts { A: { users: [{nkey: ${UK}, password: x}] } }` },
  { name: "user without a name", accept: false, conf: "accounts { A: { users: [{password: x}] } }" },
  { name: "duplicate service import subject", accept: false, conf: 'accounts { A: { exports: [{service: "q.>"}] }, B: { imports: [{service: {account: A, subject: "q.a"}}, {service: {account: A, subject: "q.b"}, to: "q.a"}] } }' },
  { name: "stream import prefix with a wildcard", accept: false, conf: imp("stream", "a.b", 'prefix: "p.*"') },
  { name: "stream import prefix with >", accept: false, conf: imp("stream", "a.b", 'prefix: "p.>"') },
  { name: "service import to a literal needing a wildcard", accept: false, conf: imp("service", "a.*", 'to: "b.c"') },
  { name: "service import to * from >", accept: false, conf: imp("service", "a.>", 'to: "x.*"') },
  { name: "stream import dropping a wildcard", accept: false, conf: imp("stream", "a.*", 'to: "b.c"') },
  { name: "stream import to > from *", accept: false, conf: imp("stream", "a.*", 'to: "x.>"') },
  { name: "export accounts not a list", accept: false, conf: 'accounts { A: { exports: [{stream: "a", accounts: B}] }, B: {} }' },
  { name: "account not a map", accept: false, conf: "accounts { A: 1 }" },
  { name: "users not a list", accept: false, conf: "accounts { A: { users: {user: a} } }" },
  { name: "import from $SYS not defined", accept: false, conf: 'accounts { A: { imports: [{service: {account: "$SYS", subject: "$SYS.REQ.>"}}] } }' },
  { name: "unknown key in an account", accept: false, conf: "accounts { A: { foo: 1 } }" },
  { name: "unknown key in account jetstream", accept: false, conf: "accounts { A: { jetstream: { max_memory_store: 1G } } }" },
  { name: "misspelt permissions of an account user", accept: false, conf: 'accounts { A: { users: [{user: a, password: a, permisions: {publish: "x"}}] } }' },
  { name: "misspelt permissions in authorization", accept: false, conf: 'authorization { users: [{user: a, password: a, permissions: {publsh: "x"}}] }' },
  { name: "user bound to an account in authorization", accept: false, conf: "authorization { users: [{user: a, password: a, account: A}] }\naccounts { A: {} }" },
  { name: "invalid publish permission subject", accept: false, conf: 'authorization { users: [{user: a, password: a, permissions: {publish: "a..b"}}] }' },
  { name: "invalid deny subject in an account user", accept: false, conf: 'accounts { A: { users: [{user: a, password: a, permissions: {subscribe: {deny: ["a b c"]}}}] } }' },
  { name: "invalid default permissions in an account", accept: false, conf: 'accounts { A: { default_permissions: {publish: "x..y"}, users: [{user: a, password: a}] } }' },
  { name: "invalid single-user permissions", accept: false, conf: 'authorization { user: a, password: a, permissions: {subscribe: ">.a"} }' },
  // --- refused by nats-server only when it starts; by Petrel already when checking ---
  { name: "undefined system account", accept: false, atStart: true, conf: "system_account: ZZ\naccounts { A: {} }" },
  { name: "undefined system account, no accounts", accept: false, atStart: true, conf: "system_account: ZZ" },
  { name: "no_auth_user naming nobody", accept: false, atStart: true, conf: "no_auth_user: nobody\naccounts { A: { users: [{user: a, password: a}] } }" },
  { name: "no_auth_user without users", accept: false, atStart: true, conf: "no_auth_user: nobody" },
  { name: "websocket without tls or no_tls", accept: false, atStart: true, conf: "websocket { port: -1 }" },
  { name: "JetStream on the system account", accept: false, atStart: true, conf: `jetstream: { store_dir: "${dir}/js" }\naccounts { "$SYS": { jetstream: enabled } }` },
];


function confFile(name: string, text: string): string {
  const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, "_")}.conf`);
  writeFileSync(file, `${text}\n`);
  return file;
}

/** nats-server's verdict: `-t`, or (atStart) a real start that must fail at once. */
function natsServerAccepts(c: Case, file: string): { ok: boolean; out: string } {
  const args = c.atStart ? ["-c", file, "-a", "127.0.0.1", "-p", "-1"] : ["-t", "-c", file];
  const r = spawnSync(NATS_SERVER_BIN, args, { encoding: "utf8", timeout: 5000 });
  // A server that is still running after the timeout started fine.
  if (r.signal !== null) return { ok: true, out: r.stderr };
  return { ok: r.status === 0, out: r.stderr };
}

function petrelAccepts(file: string): { ok: boolean; out: string } {
  const r = loadServerOptions(["-t", "-c", file], { readFile: (p) => readFileSync(p, "utf8"), env: () => undefined });
  return r.ok ? { ok: true, out: r.value.warnings.join("\n") } : { ok: false, out: r.error.all.join("\n") };
}

describe("differential: configuration checks, nats-server 2.9.10 vs Petrel", () => {
  for (const c of CASES) {
    it(`${c.accept ? "both accept" : "both refuse"}: ${c.name}`, () => {
      const file = confFile(c.name, c.conf);
      const ns = natsServerAccepts(c, file);
      const pe = petrelAccepts(file);
      assert.equal(ns.ok, c.accept, `nats-server: ${ns.out}`);
      assert.equal(pe.ok, c.accept, `petrel: ${pe.out}`);
      if (!pe.ok) {
        // Petrel's refusal names the file and a line.
        assert.match(pe.out, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:[1-9]\\d*: `));
      }
    });
  }

  it("the real -t: same exit codes and message shapes as nats-server", () => {
    const petrel = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
      ? { cmd: (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath(), prefix: ["run", "-A", MOD_TS] }
      : { cmd: process.execPath, prefix: ["run", MOD_TS] };
    const good = confFile("t_good", "port: -1\nauthorization { users: [{user: a, password: a}] }\nno_auth_user: a");
    const bad = confFile("t_bad", "port: -1\nno_auth_user: nobody\nauthorization {\n  users: [{user: a, password: a}, {user: a, password: b}]\n}");
    const goodAccounts = confFile("t_good_acc", 'accounts {\n  A: { users: [{user: a, password: a}], exports: [{stream: "a.>"}], jetstream: enabled }\n  B: { users: [{user: b, password: b}] }\n}\nno_auth_user: b');
    const badAccounts = confFile("t_bad_acc", "accounts {\n  A: { users: [{user: a, password: a}] }\n  B: {\n    users: [{user: a, password: b}]\n  }\n}");
    const cases = [[good, true, 4], [bad, false, 4], [goodAccounts, true, 0], [badAccounts, false, 4]] as const;
    for (const [file, ok, line] of cases) {
      const ns = spawnSync(NATS_SERVER_BIN, ["-t", "-c", file], { encoding: "utf8", timeout: 10_000 });
      const pe = spawnSync(petrel.cmd, [...petrel.prefix, "-t", "-c", file], { encoding: "utf8", timeout: 60_000 });
      assert.equal(ns.status, ok ? 0 : 1, ns.stderr);
      assert.equal(pe.status, ns.status, `petrel: ${pe.stderr}`);
      if (ok) {
        assert.equal(ns.stderr.trim(), `nats-server: configuration file ${file} is valid`);
        assert.equal(pe.stderr.trim(), ns.stderr.trim());
      } else {
        assert.match(ns.stderr, new RegExp(`^nats-server: ${file}:\\d+:\\d+: `));
        assert.match(pe.stderr, new RegExp(`^nats-server: ${file}:${line}: [^\\n]*duplicate user "a"`));
      }
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));
});
