/**
 * The INFO a client gets is JSON.stringify's text of the server's INFO fields, whether the server writes it from
 * its plain-listener template (src/server/server.ts #plainClientInfo) or through JSON.stringify: same keys, same
 * order, same escapes. A field added to infoObject without the template knowing it fails here.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { OptionLayer } from "../../src/config/normalize.ts";
import { startServer } from "./harness.ts";

async function infoLine(layer: OptionLayer): Promise<{ line: string; reference: string }> {
  const h = await startServer(layer);
  try {
    const c = await h.client(null);
    const line = /^INFO .*\r\n/.exec(c.text())?.[0] ?? "";
    const got = JSON.parse(line.slice(5)) as Record<string, unknown>;
    // What clientInfo's general path builds for a client of a listener without TLS.
    const info = h.server.infoObject(false);
    if (!h.server.authRequiredFor("client")) delete info.auth_required;
    else info.auth_required = true;
    info.client_id = got.client_id;
    info.client_ip = got.client_ip;
    if (got.nonce !== undefined) info.nonce = got.nonce;
    return { line, reference: `INFO ${JSON.stringify(info)}\r\n` };
  } finally {
    await h.stop();
  }
}

describe("a client's INFO text", () => {
  for (const [name, layer] of [
    ["a plain server", {}],
    ["a named server with a custom max_payload", { server_name: "edge-7", max_payload: 65536 }],
    ["a name JSON must escape (quote, backslash, control character)", { server_name: 'a"b\\c\u0001d' }],
    ["a name with a surrogate pair and non-ASCII text", { server_name: "n\u00e9-\ud83d\ude00" }],
    ["a server requiring a password", { authorization: { user: "u", password: "p" } }],
  ] as [string, OptionLayer][]) {
    it(`is JSON.stringify's text for ${name}`, async () => {
      const { line, reference } = await infoLine(layer);
      assert.equal(line, reference);
    });
  }
});
