import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkOrigin, isUpgradeRequest, rejectionResponse, validateHandshake } from "../../src/websocket/handshake.ts";
import { resolveWebSocketSettings, webSocketSettingsFor } from "../../src/websocket/settings.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
function upgrade(headers: Record<string, string> = {}, method = "GET"): Request {
  return new Request("http://127.0.0.1:8080/", {
    method,
    headers: {
      host: "127.0.0.1:8080",
      upgrade: "websocket",
      connection: "keep-alive, Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": KEY,
      ...headers,
    },
  });
}
const open = { same_origin: false, allowed_origins: [] as string[] };

describe("websocket settings", () => {
  it("fills nats-server defaults and maps port -1 to 0", () => {
    const r = resolveWebSocketSettings({ port: -1, no_tls: true });
    assert.ok(r.ok);
    assert.equal(r.value.port, 0);
    assert.equal(r.value.host, "0.0.0.0");
    assert.equal(r.value.compression, false);
    assert.equal(r.value.handshake_timeout, 2000);
    assert.ok(r.value.max_message >= 8 * 1024 * 1024);
  });
  it("reads listen host:port", () => {
    const r = resolveWebSocketSettings({ listen: "127.0.0.1:-1", no_tls: true });
    assert.ok(r.ok);
    assert.equal(r.value.host, "127.0.0.1");
    assert.equal(r.value.port, 0);
  });
  it("refuses bad origins, ports and listen strings", () => {
    const badOrigin = resolveWebSocketSettings({ no_tls: true, allowed_origins: ["not a url"] });
    assert.ok(!badOrigin.ok);
    assert.match(badOrigin.error, /allowed_origins/);
    assert.ok(!resolveWebSocketSettings({ no_tls: true, listen: "x:y" }).ok);
    assert.ok(!resolveWebSocketSettings({ no_tls: true, port: 70000 }).ok);
  });
});

describe("websocket settings from server options", () => {
  const base = { max_payload: 1024 * 1024, max_pending: 64 * 1024 * 1024 };
  const ws = {
    host: "127.0.0.1",
    port: -1,
    no_tls: true,
    same_origin: false,
    allowed_origins: [],
    compression: true,
    handshake_timeout: 2000,
  };
  it("is off without a block or with port 0, binds a free port for -1", () => {
    assert.equal(webSocketSettingsFor(base), undefined);
    assert.equal(webSocketSettingsFor({ ...base, websocket: { ...ws, port: 0 } }), undefined);
    const s = webSocketSettingsFor({ ...base, websocket: ws });
    assert.equal(s?.port, 0);
    assert.equal(s?.compression, true);
    assert.equal(s?.max_pending, 64 * 1024 * 1024);
    assert.ok((s?.max_message ?? 0) > 2 * 1024 * 1024);
  });
});

describe("websocket handshake validation", () => {
  it("accepts a valid upgrade", () => {
    assert.equal(validateHandshake(upgrade(), open), undefined);
    assert.ok(isUpgradeRequest(upgrade()));
    assert.ok(!isUpgradeRequest(new Request("http://x/varz")));
  });
  it("names what is wrong", () => {
    assert.deepEqual(validateHandshake(upgrade({}, "POST"), open), {
      status: 405,
      message: "request method must be GET",
    });
    assert.equal(validateHandshake(upgrade({ upgrade: "h2c" }), open)?.message, "invalid value for header 'Upgrade'");
    assert.equal(
      validateHandshake(upgrade({ connection: "close" }), open)?.message,
      "invalid value for header 'Connection'",
    );
    assert.equal(validateHandshake(upgrade({ "sec-websocket-version": "8" }), open)?.message, "invalid version");
    assert.equal(validateHandshake(upgrade({ "sec-websocket-key": "" }), open)?.message, "key missing");
    assert.equal(validateHandshake(upgrade({ "sec-websocket-key": "short" }), open)?.message, "invalid key");
  });
  it("answers refusals with a plain-text HTTP error", async () => {
    const res = rejectionResponse({ status: 400, message: "key missing" });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), "websocket handshake error: key missing\n");
    assert.equal(res.headers.get("sec-websocket-version"), "13");
  });
});

describe("websocket origin policy", () => {
  it("lets everything through when no policy is set, and requests without Origin always", () => {
    assert.equal(checkOrigin("http://evil.example", "127.0.0.1:8080", open), undefined);
    assert.equal(
      checkOrigin(null, "127.0.0.1:8080", { same_origin: true, allowed_origins: ["http://a.example"] }),
      undefined,
    );
  });
  it("same_origin compares host and port with the Host header", () => {
    const p = { same_origin: true, allowed_origins: [] };
    assert.equal(checkOrigin("http://127.0.0.1:8080", "127.0.0.1:8080", p), undefined);
    assert.equal(checkOrigin("http://example.com", "example.com", p), undefined);
    assert.match(checkOrigin("http://127.0.0.1:9090", "127.0.0.1:8080", p) ?? "", /not same origin/);
    assert.match(checkOrigin("http://other.example:8080", "127.0.0.1:8080", p) ?? "", /not same origin/);
  });
  it("allowed_origins matches scheme, host and port, with default ports", () => {
    const p = { same_origin: false, allowed_origins: ["http://www.example.com", "https://app.example.com:8443"] };
    assert.equal(checkOrigin("http://www.example.com:80", "x", p), undefined);
    assert.equal(checkOrigin("https://app.example.com:8443", "x", p), undefined);
    assert.match(checkOrigin("https://www.example.com", "x", p) ?? "", /not in allowed_origins/);
    assert.match(checkOrigin("https://app.example.com", "x", p) ?? "", /not in allowed_origins/);
    assert.match(checkOrigin("garbage", "x", p) ?? "", /not a valid origin/);
  });
  it("a handshake from a refused origin is a 403", () => {
    const r = validateHandshake(upgrade({ origin: "http://evil.example" }), { same_origin: true, allowed_origins: [] });
    assert.equal(r?.status, 403);
  });
});
