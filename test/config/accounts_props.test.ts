// Bad input never crashes the configuration check: random accounts blocks built from the keys nats-server
// knows (and wrong value types in every place) come back as options or as errors with file:line, never a throw.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadConfigText } from "../../src/config/load.ts";
import { accountsOptionsSchema } from "../../src/config/account_options.ts";
import { applyDefaults } from "../../src/config/normalize.ts";
import { loadConfigFormats } from "../../src/config/load.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

const KEYS = [
  "users", "exports", "imports", "jetstream", "default_permissions", "user", "password", "nkey", "permissions",
  "publish", "subscribe", "allow", "deny", "stream", "service", "accounts", "account", "subject", "prefix", "to",
  "response_type", "response_threshold", "max_mem", "max_file", "max_streams", "max_consumers", "enabled",
];
const NAMES = ["A", "B", "C", "$G", "$SYS"];

const scalar = fc.oneof(
  fc.constantFrom("a.>", "q.*", "a", "x.y", "enabled", "disabled", "stream", "chunked", "1s", "", "a..b", ">", "A", "B"),
  fc.integer({ min: -2, max: 5 }),
  fc.boolean(),
);

const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalar, tie("list"), tie("map")),
  list: fc.array(tie("v"), { maxLength: 3 }),
  map: fc.dictionary(fc.constantFrom(...KEYS), tie("v"), { maxKeys: 4 }),
})).v;

const accounts = fc.oneof(
  fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: 3 }),
  fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
  value,
);

describe("accounts: random blocks never crash the check", () => {
  it("returns options that satisfy their schema, or errors naming file and line", () => {
    fc.assert(
      fc.property(accounts, fc.option(fc.constantFrom(...NAMES)), (acc, sys) => {
        const conf: Record<string, unknown> = { accounts: acc };
        if (sys !== null) conf.system_account = sys;
        const r = loadConfigText(JSON.stringify(conf), "p.conf", { readFile: () => undefined, env: () => undefined });
        if (r.ok) {
          const o = applyDefaults(r.value.layer);
          assert.equal(accountsOptionsSchema.safeParse(o.accounts).success, true);
        } else {
          for (const e of r.error.errors) {
            assert.equal(e.file, "p.conf");
            assert.ok(e.message.length > 0);
          }
        }
      }),
      { numRuns: 400, seed: 9 },
    );
  });
});
