// The server checks CONNECT by hand (no zod on the client path); the zod schema stays the reference for the
// shape. Both must accept and reject the same documents and give the same options.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConnect } from "../../src/server/connect.ts";
import { ConnectSchema } from "../../src/server/connect_schema.ts";

const docs: string[] = [
  "{}",
  '{"verbose":false,"pedantic":false,"tls_required":false,"name":"n","lang":"go","version":"1.2","protocol":1}',
  '{"echo":true,"headers":true,"no_responders":true,"user":"u","pass":"p","auth_token":"t","jwt":"j","nkey":"k","sig":"s"}',
  '{"verbose":"yes"}',
  '{"verbose":null}',
  '{"user":5}',
  '{"protocol":"1"}',
  '{"protocol":1.5}',
  '{"unknown":{"nested":[1,2]},"name":"x"}',
  "[]",
  "null",
  '"text"',
  "42",
  "{not json",
  '{"sig":["a"]}',
  '{"headers":1}',
];

describe("CONNECT parsing", () => {
  it("agrees with the zod schema on accepted and refused documents", () => {
    for (const d of docs) {
      let raw: unknown;
      let ref: unknown;
      try {
        raw = JSON.parse(d);
        const r = ConnectSchema.safeParse(raw);
        ref = r.success ? r.data : undefined;
      } catch {
        ref = undefined;
      }
      assert.deepEqual(parseConnect(d), ref, d);
    }
  });
});
