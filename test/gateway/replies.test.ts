// Reply routing across gateways, on a bare server: responses to a tracked (formerly mapped) reply go back
// under the mapped subject to the cluster that sent the request, responses published to a mapped subject
// go to the cluster its hash names (or are unwrapped when it names ours), and stop() forgets everything.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { applyDefaults } from "../../src/config/normalize.ts";
import { Server } from "../../src/server/server.ts";
import type { RoutedMsg, SubOwner } from "../../src/server/types.ts";
import { GatewayReplies } from "../../src/gateway/replies.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

const enc = new TextEncoder();

function msgOn(subject: string): RoutedMsg {
  return { subject, subjectBytes: enc.encode(subject), reply: null, hdrSize: -1, payload: enc.encode("r") };
}

describe("gateway replies", () => {
  const server = new Server(applyDefaults({}));
  const toWest: string[] = [];
  const here: string[] = [];
  const replies = new GatewayReplies({
    server,
    clusterHash: "EASTxx",
    outboundByHash: (h) => (h === "WESTxx" ? { sendReply: (m: RoutedMsg, a) => toWest.push(`${a.name}:${m.subject}`) } : undefined),
    deliverHere: (m, a) => here.push(`${a.name}:${m.subject}`),
  });
  const client: SubOwner = { cid: 99, kind: "client", echo: true, deliver() {}, removeSub() {} };

  it("sends responses to a tracked reply back under the mapped subject", () => {
    replies.start();
    replies.track(server.accounts.global, "_GR_.WESTxx.srv001._INBOX.a", "_INBOX.a", "WESTxx");
    assert.equal(replies.isTracked(server.accounts.global, "_INBOX.a"), true);
    assert.equal(replies.isTracked(server.accounts.global, "_INBOX.b"), false);
    assert.equal(replies.isTracked(server.accounts.system, "_INBOX.a"), false, "tracked in its account only");
    server.accounts.global.deliver(msgOn("_INBOX.a"), client);
    assert.deepEqual(toWest, ["$G:_GR_.WESTxx.srv001._INBOX.a"]);
  });

  it("routes mapped subjects by cluster hash, unwrapping our own", () => {
    server.accounts.global.deliver(msgOn("_GR_.WESTxx.srv002._INBOX.c"), client);
    server.accounts.global.deliver(msgOn("_GR_.EASTxx.srv003._INBOX.d"), client);
    server.accounts.global.deliver(msgOn("_GR_.NOBODY.srv004._INBOX.e"), client);
    assert.deepEqual(toWest, ["$G:_GR_.WESTxx.srv001._INBOX.a", "$G:_GR_.WESTxx.srv002._INBOX.c"]);
    assert.deepEqual(here, ["$G:_INBOX.d"]);
    server.accounts.system.deliver(msgOn("_GR_.EASTxx.srv003._INBOX.s"), client);
    assert.deepEqual(here, ["$G:_INBOX.d", "$SYS:_INBOX.s"], "mapped subjects are caught in every account");
  });

  it("forgets tracked replies and its subscriptions on stop", () => {
    replies.stop();
    assert.equal(replies.trackedCount, 0);
    assert.equal(server.numSubscriptions, 0);
    server.accounts.global.deliver(msgOn("_INBOX.a"), client);
    assert.equal(toWest.length, 2);
  });
});
