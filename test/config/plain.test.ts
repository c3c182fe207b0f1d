// The zod-free check of plain config files (src/config/plain.ts) gives exactly what the full check gives: the
// plain keys are schema.ts's keys with the very same check functions, and over generated files (plain keys in any
// case, good and bad values, blocks and keys that are not plain, duplicates) loading with the plain check and
// loading with the full check only come back equal: options, warnings, refusals, errors and locations.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { isPlainConfText, loadConfigFormats, loadConfigText } from "../../src/config/load.ts";
import { parseConf } from "../../src/config/conf_parser.ts";
import {
  checkPlain,
  plainNeedsAuthLibs,
  PLAIN_AUTHORIZATION_KEYS,
  PLAIN_BLOCKS,
  PLAIN_CLUSTER_KEYS,
  PLAIN_JETSTREAM_KEYS,
  PLAIN_LEAFNODES_KEYS,
  PLAIN_TOP_KEYS,
  PLAIN_WEBSOCKET_KEYS,
  SCHEMA_TOP_KEYS,
} from "../../src/config/plain.ts";
import bcrypt from "bcryptjs";
import { errors } from "@nats-io/transport-node";
import { startServer } from "../helpers/servers.ts";
import { connectTo } from "../helpers/nats.ts";
import { jetstreamShortForm, type LeafCheck } from "../../src/config/leaf_checks.ts";
import { rawConfigSchema } from "../../src/config/schema.ts";
import type { ConfPath } from "../../src/config/types.ts";
import { notImplementedAt } from "../../src/config/not_implemented.ts";

await loadConfigFormats();

const io = { readFile: () => undefined, env: () => undefined };

/** The check function a schema.ts leaf (`opt(z.custom(fn))`) runs. */
function leafFn(schema: z.ZodType): unknown {
  assert.ok(schema instanceof z.ZodOptional, "a plain key is optional in the schema");
  const inner = schema.unwrap();
  assert.ok(inner instanceof z.ZodCustom, "a plain key is a z.custom leaf in the schema");
  return inner._zod.def.fn;
}

/** A block's shape in the schema, and its preprocess function (a short form) if it has one. */
function blockParts(name: string): { transform?: unknown; shape: Record<string, z.ZodType> } {
  const block = (rawConfigSchema.shape as Record<string, z.ZodType>)[name];
  assert.ok(block instanceof z.ZodOptional);
  const inner = block.unwrap();
  if (inner instanceof z.ZodObject) return { shape: inner.shape as Record<string, z.ZodType> };
  assert.ok(inner instanceof z.ZodPipe);
  const pre = inner.in;
  assert.ok(pre instanceof z.ZodTransform);
  const obj = inner.out;
  assert.ok(obj instanceof z.ZodObject);
  return { transform: pre._zod.def.transform, shape: obj.shape as Record<string, z.ZodType> };
}

describe("config/plain: the plain keys are schema.ts's, with the same checks", () => {
  it("top-level keys", () => {
    const shape = rawConfigSchema.shape as Record<string, z.ZodType>;
    for (const key of Object.keys(shape)) assert.equal(key, key.toLowerCase(), "schema keys are lower-case");
    assert.deepEqual([...SCHEMA_TOP_KEYS].sort(), Object.keys(shape).sort(), "plain.ts's SCHEMA_TOP_KEYS is the schema's keys");
    for (const [key, check] of Object.entries(PLAIN_TOP_KEYS)) {
      assert.ok(Object.hasOwn(shape, key), key);
      assert.equal(leafFn(shape[key]), check.test, key);
      assert.equal(notImplementedAt([key]), undefined, `${key} is not a refused key`);
    }
    assert.equal(notImplementedAt(["jetstream"]), undefined);
  });
  it("blocks: jetstream (and its short form), cluster, authorization, websocket, leafnodes", () => {
    assert.equal(PLAIN_BLOCKS.jetstream.keys, PLAIN_JETSTREAM_KEYS);
    assert.equal(PLAIN_BLOCKS.cluster.keys, PLAIN_CLUSTER_KEYS);
    assert.equal(PLAIN_BLOCKS.authorization.keys, PLAIN_AUTHORIZATION_KEYS);
    assert.equal(PLAIN_BLOCKS.websocket.keys, PLAIN_WEBSOCKET_KEYS);
    assert.equal(PLAIN_BLOCKS.ws.keys, PLAIN_WEBSOCKET_KEYS);
    assert.equal(PLAIN_BLOCKS.leafnodes.keys, PLAIN_LEAFNODES_KEYS);
    assert.equal(PLAIN_BLOCKS.leaf.keys, PLAIN_LEAFNODES_KEYS);
    // The generated files below cover every plain block.
    assert.deepEqual(Object.keys(PLAIN_BLOCKS).sort(), [...PLAIN_BLOCK_NAMES].sort());
    for (const [name, block] of Object.entries(PLAIN_BLOCKS)) {
      assert.equal(Object.hasOwn(PLAIN_TOP_KEYS, name), false, name);
      assert.equal(notImplementedAt([name]), undefined);
      const { transform, shape } = blockParts(name);
      assert.equal(transform, block.shortForm, `${name}: the same short form`);
      for (const key of Object.keys(shape)) assert.equal(key, key.toLowerCase());
      for (const [key, check] of Object.entries(block.keys)) {
        assert.ok(Object.hasOwn(shape, key), `${name}.${key}`);
        assert.equal(leafFn(shape[key]), check.test, `${name}.${key}`);
        assert.equal(notImplementedAt([name, key]), undefined, `${name}.${key} is not a refused key`);
      }
    }
    assert.equal(PLAIN_BLOCKS.jetstream.shortForm, jetstreamShortForm);
  });
});

// --- generated files ---------------------------------------------------------------------------------------

/** An unquoted conf literal. */
interface Raw {
  raw: string;
}
type Gen = string | number | boolean | Raw | Gen[] | { [k: string]: Gen };

const scalar: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom<Gen>(
    "abc", "", "1MB", "2s", "1m30s", "127.0.0.1:4222", "127.0.0.1", ":4222", "always", "file", "sqlite", "memory",
    "disk", "enabled", "disabled", "true", "off", "maybe", "-1", "/tmp/x",
  ),
  fc.constantFrom<Gen>({ raw: "1MB" }, { raw: "64KB" }, { raw: "1k" }, { raw: "2s" }, { raw: "enabled" }, { raw: "yes" }),
  // references to the variables the generator may define (an undefined one is a parse error on both paths)
  fc.constantFrom<Gen>({ raw: "$VPORT" }, { raw: "$vname" }, { raw: "$Mqtt" }),
  fc.constantFrom(-2, -1, 0, 1, 4222, 65535, 65536, 1.5, 1e20),
  fc.boolean(),
);
const value: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 2 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("port", "x", "listen"), scalar, { maxKeys: 2 }) },
);

const anyCase = (key: string) =>
  fc.constantFrom(key, key.toUpperCase(), key[0].toUpperCase() + key.slice(1));

const NOT_PLAIN_TOP = ["foo", "mqtt", "trusted", "no_auth_user", "gateway", "accounts", "https", "tls", "system_account"];
/** The blocks the generator below writes (checked against PLAIN_BLOCKS above). */
const PLAIN_BLOCK_NAMES = ["jetstream", "cluster", "authorization", "websocket", "ws", "leafnodes", "leaf"];
const NOT_PLAIN_AUTHORIZATION = ["users", "permissions", "nkeys", "auth_callout", "foo"];
const NOT_PLAIN_CLUSTER = ["authorization", "tls", "pool_size", "permissions", "foo"];
const NOT_PLAIN_JS = ["unique_tag", "limits", "bar", "key"];

const SCALARS: Gen[] = [
  "abc", "", "1MB", "2s", "1m30s", "127.0.0.1:4222", "127.0.0.1", ":4222", "always", "file", "sqlite", "memory",
  "disk", "enabled", "disabled", "true", "off", "maybe", "-1", "/tmp/x", -2, -1, 0, 1, 4222, 65535, 65536, 1.5,
  1e20, true, false, ["a", "b"], [1, "x"],
];
/** Mostly a value the key's check accepts (so that many files are plain), sometimes anything. */
const entryFor = (table: Readonly<Record<string, LeafCheck>>) =>
  fc.constantFrom(...Object.keys(table)).chain((key) => {
    const good = SCALARS.filter((v) => table[key].test(v));
    return fc.tuple(
      anyCase(key),
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...good) },
        { weight: 1, arbitrary: value },
        { weight: 1, arbitrary: fc.constantFrom<Gen>({ raw: "$VPORT" }, { raw: "$vname" }, { raw: "$Mqtt" }) },
      ),
    );
  });

const jsEntry: fc.Arbitrary<[string, Gen]> = fc.oneof(
  { weight: 8, arbitrary: entryFor(PLAIN_JETSTREAM_KEYS) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NOT_PLAIN_JS), value) },
);
const jetstream: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.array(jsEntry, { maxLength: 3 }).map((entries) => Object.fromEntries(entries) as Gen) },
  { weight: 1, arbitrary: scalar },
);
const clusterEntry: fc.Arbitrary<[string, Gen]> = fc.oneof(
  { weight: 8, arbitrary: entryFor(PLAIN_CLUSTER_KEYS) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NOT_PLAIN_CLUSTER), value) },
);
const cluster: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.array(clusterEntry, { maxLength: 3 }).map((entries) => Object.fromEntries(entries) as Gen) },
  { weight: 1, arbitrary: scalar },
);
const blockOf = (keys: Readonly<Record<string, LeafCheck>>, notPlain: string[]): fc.Arbitrary<Gen> => {
  const e: fc.Arbitrary<[string, Gen]> = fc.oneof(
    { weight: 8, arbitrary: entryFor(keys) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...notPlain), value) },
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.array(e, { maxLength: 3 }).map((entries) => Object.fromEntries(entries) as Gen) },
    { weight: 1, arbitrary: scalar },
  );
};
const websocket = blockOf(PLAIN_WEBSOCKET_KEYS, ["tls", "authorization", "jwt_cookie", "no_auth_user", "foo"]);
const leafnodes = blockOf(PLAIN_LEAFNODES_KEYS, ["remotes", "authorization", "tls", "reconnect", "foo"]);
const authorizationEntry: fc.Arbitrary<[string, Gen]> = fc.oneof(
  { weight: 8, arbitrary: entryFor(PLAIN_AUTHORIZATION_KEYS) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NOT_PLAIN_AUTHORIZATION), value) },
);
const authorization: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.array(authorizationEntry, { maxLength: 3 }).map((entries) => Object.fromEntries(entries) as Gen) },
  { weight: 1, arbitrary: scalar },
);
const entry: fc.Arbitrary<[string, Gen]> = fc.oneof(
  { weight: 16, arbitrary: entryFor(PLAIN_TOP_KEYS) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NOT_PLAIN_TOP), value) },
  { weight: 2, arbitrary: fc.tuple(anyCase("jetstream"), jetstream) },
  { weight: 2, arbitrary: fc.tuple(anyCase("cluster"), cluster) },
  { weight: 2, arbitrary: fc.tuple(anyCase("authorization"), authorization) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("websocket", "ws", "WebSocket"), websocket) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("leafnodes", "leaf", "LeafNodes"), leafnodes) },
  // variables: plain names, one that is a schema key (Mqtt is the mqtt option), one that is a refused key
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom("VPORT", "vname", "Mqtt", "Trusted"), fc.constantFrom<Gen>(4222, "n1", true, "OABC")) },
);

function literal(v: Gen, indent: string): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => literal(x, indent)).join(", ")}]`;
  if ("raw" in v && typeof v.raw === "string") return v.raw;
  const inner = Object.entries(v).map(([k, x]) => `${indent}  ${k}: ${literal(x, indent + "  ")}\n`).join("");
  return `{\n${inner}${indent}}`;
}

const render = (entries: [string, Gen][]) => entries.map(([k, v]) => `${k}: ${literal(v, "")}\n`).join("");

function pathsOf(entries: [string, Gen][]): ConfPath[] {
  const out: ConfPath[] = [["nope"], ["jetstream", "x", "y"]];
  for (const [k, v] of entries) {
    out.push([k.toLowerCase()]);
    if (typeof v === "object" && v !== null && !Array.isArray(v) && !("raw" in v)) {
      for (const c of Object.keys(v)) out.push([k.toLowerCase(), c.toLowerCase()]);
    }
  }
  return out;
}

describe("config/plain: loading a generated file with and without the plain check", () => {
  it("gives the same result, and takes the plain path for a good share of them", () => {
    let plainTaken = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 6 }), (entries) => {
        runs++;
        const text = render(entries);
        const parsed = parseConf(text, { file: "p.conf" });
        if (parsed.ok && checkPlain(parsed.value) !== undefined) {
          plainTaken++;
          assert.equal(isPlainConfText(text, "p.conf"), true);
        }
        const a = loadConfigText(text, "p.conf", io);
        const b = loadConfigText(text, "p.conf", io, { plain: false });
        assert.equal(a.ok, b.ok, text);
        if (!a.ok || !b.ok) {
          assert.deepEqual(a, b, text);
          return;
        }
        assert.deepEqual(a.value.layer, b.value.layer, text);
        assert.deepEqual(a.value.warnings, b.value.warnings, text);
        assert.deepEqual(a.value.refusals, b.value.refusals, text);
        for (const p of pathsOf(entries)) assert.deepEqual(a.value.locate(p), b.value.locate(p), `${text}\n${JSON.stringify(p)}`);
      }),
      { numRuns: 500, seed: 14 },
    );
    // Not vacuous: many generated files are plain (and many are not).
    assert.ok(plainTaken > runs / 8 && plainTaken < runs * 0.9, `plain ${plainTaken} of ${runs}`);
    console.log(`plain ${plainTaken} of ${runs}`);
  });
});

describe("config/plain: which files are plain", () => {
  it("the bench scenarios' files and the usual small ones are", () => {
    const yes = [
      'server_name: "b-n1"\nport: 4222\nhost: "127.0.0.1"\nhttp: "127.0.0.1:8222"\n',
      'server_name: "b-n1"\nport: 4222\nhost: "127.0.0.1"\njetstream {\n  store_dir: "/tmp/js"\n}\n',
      "listen: 0.0.0.0:4222\nmax_payload: 1MB\nwrite_deadline: \"10s\"\njetstream: enabled\n",
      "Port = 4222\nJetStream { Max_File_Store: 1GB, max_memory_store: -1 }\n",
      'PASS: "s3cret"\nP: 4222\nport: $P\nauthorization { user: a, password: $PASS }\n',
      "authorization { token: t }\n",
      "websocket { port: 8080, no_tls: true, same_origin: false }\nleafnodes { listen: 127.0.0.1:7422 }\n",
      "authorization {\n  user: a\n  password: \"$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm7qhpJnKnXrlYQpSH7nwQZ7Nle\"\n  timeout: 2\n}\n",
      'port: 4222\ncluster {\n  name: "bench"\n  listen: "127.0.0.1:6222"\n  routes: [\n    "nats-route://127.0.0.1:6223"\n  ]\n}\n',
    ];
    for (const text of yes) assert.equal(isPlainConfText(text, "a.conf"), true, text);
  });
  it("files with another block, an include, a variable, an unknown key or a bad value are not", () => {
    const no = [
      'port: 4222\ncluster {\n  name: "c"\n  authorization { user: a, password: b }\n}\n',
      'port: 4222\ngateway {\n  name: "g"\n  listen: "127.0.0.1:7222"\n}\n',
      "port: 4222\ninclude ./other.conf\n",
      "TLS: 1\nport: $TLS\n",
      "Mqtt: 4222\nport: $Mqtt\n",
      "port: $ENV_PORT\n",
      "port: 4222\nfoo: 1\n",
      "port: 4222\nmqtt { port: 1883 }\n",
      "port: 4222\ntrusted: OABC\n",
      "port: 70000\n",
      "jetstream { store_dir: /tmp/x, unique_tag: az }\n",
      "authorization { users: [ { user: a, password: b } ] }\n",
      "authorization { user: a, password: b, permissions: { publish: \"x\" } }\n",
      "authorization { nkeys: [] }\n",
      "websocket { port: 443, tls { cert_file: a, key_file: b } }\n",
      'leafnodes { remotes: [ { url: "nats://127.0.0.1:7422" } ] }\n',
    ];
    for (const text of no) assert.equal(isPlainConfText(text, "a.conf"), false, text);
    // With file and environment access, a plain file may include another and read the environment.
    const io = {
      readFile: (p: string) => (p === "/etc/nats/limits.conf" ? "max_payload: 1MB\n" : p === "/etc/nats/bad.conf" ? "foo: 1\n" : undefined),
      env: (n: string) => (n === "ENV_PORT" ? "4333" : undefined),
    };
    assert.equal(isPlainConfText("port: $ENV_PORT\ninclude ./limits.conf\n", "/etc/nats/a.conf", io), true);
    assert.equal(isPlainConfText("port: $OTHER\n", "/etc/nats/a.conf", io), false);
    assert.equal(isPlainConfText("port: 1\ninclude ./bad.conf\n", "/etc/nats/a.conf", io), false);
    const throwing = { readFile: (): string => { throw new Error("EISDIR"); } };
    assert.equal(isPlainConfText("port: 1\ninclude ./dir\n", "/etc/nats/a.conf", throwing), false);
    assert.equal(isPlainConfText("port: 4222\n", "a.yaml"), false, "YAML goes through the full check");
  });
  it("a plain file needs the password libraries only for a bcrypt hash", () => {
    const check = (text: string) => {
      const parsed = parseConf(text, { file: "a.conf" });
      assert.ok(parsed.ok);
      const plain = checkPlain(parsed.value);
      assert.ok(plain !== undefined, text);
      return plainNeedsAuthLibs(plain);
    };
    assert.equal(check('authorization { user: a, password: "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm7qhpJnKnXrlYQpSH7nwQZ7Nle" }'), true);
    assert.equal(check('authorization { token: "$2b$04$abc" }'), true);
    assert.equal(check('authorization { user: a, password: "hunter2" }\nserver_name: "nkey-operator-include"'), false);
    assert.equal(check("port: 4222\n"), false);
  });
  it("an error in a plain-looking file is the full check's, word for word", () => {
    const r = loadConfigText("port: 4222\n\nmax_payload: abc\n", "petrel.conf", io);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.message, 'max_payload: expected a size (e.g. 1MB), got "abc"');
  });
});

describe("config/plain: a server started from a plain file", () => {
  it("checks a bcrypt-hashed password from the environment (the password libraries load without the schemas)", async () => {
    const hash = bcrypt.hashSync("hunter2", bcrypt.genSaltSync(4));
    const conf = `authorization {\n  user: dave\n  password: $DAVE_PASSWORD\n}\n`;
    const env = { DAVE_PASSWORD: hash };
    assert.equal(isPlainConfText(conf, "server.conf", { env: (n) => env[n as keyof typeof env] }), true);
    const server = await startServer("petrel", { conf, env });
    try {
      const nc = await connectTo(server, { user: "dave", pass: "hunter2" });
      await nc.flush();
      await nc.close();
      await assert.rejects(connectTo(server, { user: "dave", pass: "hunter3" }), (e: unknown) => e instanceof errors.AuthorizationError);
    } finally {
      await server.stop();
    }
  });
});
