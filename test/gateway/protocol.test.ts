// The gateway protocol's pure parts: name hashes (as nats-server computes them), mapped reply subjects,
// interest-mode commands, URLs, and the cluster interest tally announced to other clusters.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  commandAccount,
  gatewayHash,
  interestModeInfo,
  parseGatewayConnect,
  parseGatewayInfo,
  parseGatewayUrl,
  parseMappedReply,
} from "../../src/gateway/protocol.ts";
import { ClusterInterest, type GatewayInterestEntry } from "../../src/gateway/interest.ts";
import type { OwnerKind, Subscription } from "../../src/server/types.ts";

describe("gateway protocol", () => {
  it("hashes names like nats-server 2.9 (jXch21 is what nats-server uses for cluster east)", async () => {
    assert.equal(await gatewayHash("east"), "jXch21");
    assert.match(await gatewayHash("west"), /^[0-9A-Za-z]{6}$/);
    assert.notEqual(await gatewayHash("west"), await gatewayHash("east"));
  });

  it("splits mapped reply subjects and refuses malformed ones", () => {
    assert.deepEqual(parseMappedReply("_GR_.jXch21.pQQJYn._INBOX.abc.def"), { cluster: "jXch21", server: "pQQJYn", reply: "_INBOX.abc.def" });
    assert.equal(parseMappedReply("_GR_.jXch21.pQQJYn."), undefined);
    assert.equal(parseMappedReply("_GR_.short.x.y"), undefined);
    assert.equal(parseMappedReply("_INBOX.abc"), undefined);
  });

  it("writes and reads the interest-mode commands with the account in base64", () => {
    const line = interestModeInfo("west", 2, "$G");
    assert.equal(line, 'INFO {"gateway":"west","gateway_cmd":2,"gateway_cmd_payload":"JEc="}\r\n');
    const info = parseGatewayInfo(line.slice(5, -2));
    assert.ok(info !== undefined);
    assert.equal(commandAccount(info), "$G");
    assert.equal(commandAccount({ gateway_cmd: 3, gateway_cmd_payload: "JFNZUw==" }), "$SYS");
  });

  it("reads nats-server's INFO and CONNECT, and refuses what is not JSON", () => {
    const info = parseGatewayInfo(
      '{"server_id":"N1","server_name":"w1","version":"2.9.10","proto":0,"go":"","host":"127.0.0.1","port":7222,"headers":true,"max_payload":1048576,"gateway":"west","gateway_urls":["127.0.0.1:7222"],"gateway_url":"127.0.0.1:7222","gateway_nrp":true,"gateway_iom":true}',
    );
    assert.equal(info?.gateway, "west");
    assert.deepEqual(info?.gateway_urls, ["127.0.0.1:7222"]);
    const c = parseGatewayConnect('{"echo":false,"verbose":false,"pedantic":false,"tls_required":false,"headers":false,"name":"N2","cluster":"","gateway":"east"}');
    assert.equal(c?.gateway, "east");
    assert.equal(parseGatewayInfo("not json"), undefined);
    assert.equal(parseGatewayConnect("[1,2]"), undefined);
  });

  it("parses gateway URLs with and without scheme and credentials", () => {
    assert.deepEqual(parseGatewayUrl("nats://u:p%40ss@10.0.0.1:7222"), { host: "10.0.0.1", port: 7222, user: "u", password: "p@ss", key: "10.0.0.1:7222" });
    assert.deepEqual(parseGatewayUrl("127.0.0.1:4000"), { host: "127.0.0.1", port: 4000, key: "127.0.0.1:4000" });
    assert.equal(parseGatewayUrl("nats://:0"), undefined);
  });
});

describe("cluster interest announced to gateways", () => {
  const owner = (kind: OwnerKind) => ({ cid: 1, kind, echo: true, deliver() {}, removeSub() {} });
  const sub = (subject: string, kind: OwnerKind, queue?: string): Subscription => ({
    subject,
    queue,
    sid: subject,
    sidBytes: new Uint8Array(0),
    owner: owner(kind),
    max: 0,
    delivered: 0,
    filtered: false,
  });

  it("announces a subject or queue group once, counts routes' subscriptions, ignores gateways'", () => {
    const seen: string[] = [];
    const ci = new ClusterInterest((added: boolean, e: GatewayInterestEntry) => seen.push(`${added ? "+" : "-"}${e.subject}${e.queue ? ` ${e.queue}` : ""}`));
    const a = sub("foo", "client");
    const b = sub("foo", "route");
    const q1 = sub("bar", "client", "q");
    const q2 = sub("bar", "internal", "q");
    ci.changed(a, true, "$G");
    ci.changed(b, true, "$G");
    ci.changed(q1, true, "$G");
    ci.changed(q2, true, "$G");
    ci.changed(sub("baz", "gateway"), true, "$G");
    assert.deepEqual(seen, ["+foo", "+bar q"]);
    ci.changed(a, false, "$G");
    ci.changed(q1, false, "$G");
    assert.deepEqual(seen, ["+foo", "+bar q"]);
    ci.changed(b, false, "$G");
    ci.changed(q2, false, "$G");
    assert.deepEqual(seen, ["+foo", "+bar q", "-foo", "-bar q"]);
    assert.equal(ci.size, 0);
  });
});
