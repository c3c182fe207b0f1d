// configMayNeedAuthLibs decides whether a config file loads nkeys/bcrypt/operator code: it must say yes to every
// text that can reach them (directly, through an include or through a variable) and no to a plain file.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { configMayNeedAuthLibs } from "../../src/config/auth_need.ts";

describe("configMayNeedAuthLibs", () => {
  it("says yes to nkey users, bcrypt hashes, operators, includes and variables", () => {
    const yes = [
      "authorization { users = [ { nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 } ] }",
      "accounts { A { users: [ {NKEY: UA...} ] } }",
      "authorization { users = [ { user: a, password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm7qhpJnKnXrlYQpSH7nwQZ7Nle } ] }",
      'authorization { token: "$2b$04$abc" }',
      "operator: /etc/nats/op.jwt\nresolver: MEMORY",
      "trusted_keys: [ OABC ]",
      "include ./auth.conf",
      "authorization { password: $PASS }",
      "authorization { password: ${PASS} }",
      "resolver_preload { ACC: eyJ0 }",
    ];
    for (const text of yes) assert.equal(configMayNeedAuthLibs(text), true, text);
  });

  it("says no to a plain file, plain passwords and tokens", () => {
    const no = [
      'server_name: "b-n1"\nport: 4222\nhost: "127.0.0.1"\nhttp: "127.0.0.1:8222"\n',
      'cluster { name: "bench", listen: "127.0.0.1:6222", routes: ["nats-route://127.0.0.1:6223"] }\njetstream { store_dir: "/tmp/js" }',
      "authorization { users = [ { user: alice, password: a1 } ] token: s3cret }",
    ];
    for (const text of no) assert.equal(configMayNeedAuthLibs(text), false, text);
  });
});
