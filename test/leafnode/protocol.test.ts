// The leafnode wire format as nats-server 2.9 writes it (no account on LS+/LMSG), and remote URL parsing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { leafInterestLine, parseLeafConnect, parseLeafInfo, writeLeafMsg } from "../../src/leafnode/protocol.ts";
import { parseLeafUrl } from "../../src/leafnode/leafnode.ts";
import { LeafOutbox } from "../../src/leafnode/outbox.ts";
import { OutBuffer } from "../../src/server/outbound.ts";
import type { RoutedMsg } from "../../src/server/types.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function msg(subject: string, reply: string | null, payload: string, hdrSize = -1): RoutedMsg {
  return { subject, subjectBytes: te.encode(subject), reply: reply === null ? null : te.encode(reply), hdrSize, payload: te.encode(payload) };
}

describe("leafnode protocol", () => {
  it("writes interest lines without an account", () => {
    assert.equal(leafInterestLine(true, "foo", undefined, 1), "LS+ foo\r\n");
    assert.equal(leafInterestLine(true, "foo", "q", 3), "LS+ foo q 3\r\n");
    assert.equal(leafInterestLine(false, "foo", undefined, 0), "LS- foo\r\n");
    assert.equal(leafInterestLine(false, "foo", "q", 0), "LS- foo q\r\n");
  });

  it("writes LMSG and HMSG frames with reply and queue names", () => {
    const out = new OutBuffer(64);
    writeLeafMsg(out, te.encode("a.b"), null, [], -1, te.encode("hi"));
    writeLeafMsg(out, te.encode("a.b"), te.encode("r.1"), [te.encode("q")], -1, te.encode("hi"));
    writeLeafMsg(out, te.encode("a.b"), null, [te.encode("q"), te.encode("w")], 12, te.encode("NATS/1.0\r\n\r\nhi"));
    writeLeafMsg(out, te.encode("a.b"), te.encode("r"), [], -1, te.encode(""));
    assert.equal(td.decode(out.take()), "LMSG a.b 2\r\nhi\r\nLMSG a.b + r.1 q 2\r\nhi\r\nHMSG a.b | q w 12 14\r\nNATS/1.0\r\n\r\nhi\r\nLMSG a.b r 0\r\n\r\n");
  });

  it("sends a message once per connection, naming every queue group picked", () => {
    const out = new OutBuffer(64);
    const box = new LeafOutbox(out);
    const m = msg("s", "r", "x");
    assert.equal(box.add(m, undefined), true);
    assert.equal(box.add(m, te.encode("q1")), false);
    assert.equal(box.add(m, te.encode("q2")), false);
    assert.equal(box.add(msg("t", null, "y"), undefined), true);
    assert.equal(td.decode(out.take()), "LMSG s + r q1 q2 1\r\nx\r\nLMSG t 1\r\ny\r\n");
  });

  it("parses INFO, CONNECT and remote URLs", () => {
    assert.equal(parseLeafInfo('{"server_id":"N1","leafnode_urls":["h:1"]}')?.server_id, "N1");
    assert.equal(parseLeafInfo("{}"), undefined);
    assert.equal(parseLeafInfo("not json"), undefined);
    assert.equal(parseLeafConnect('{"name":"leaf","headers":true}')?.name, "leaf");
    assert.deepEqual(parseLeafUrl("nats://127.0.0.1:4000"), { host: "127.0.0.1", port: 4000 });
    assert.deepEqual(parseLeafUrl("nats-leaf://u:p@hub"), { host: "hub", port: 7422, user: "u", password: "p" });
    assert.deepEqual(parseLeafUrl("hub:7500"), { host: "hub", port: 7500 });
    assert.equal(parseLeafUrl("nats://:0"), undefined);
  });
});
