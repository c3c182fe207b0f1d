// Route protocol framing: RMSG/HMSG with reply and queue names, RS+/RS- lines, route URLs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { interestLine, parseRouteConnect, parseRouteInfo, queueNames, routedArgs, type RoutedArgsOut, writeRoutedMsg } from "../../src/cluster/protocol.ts";
import { parseRouteUrl } from "../../src/cluster/urls.ts";
import { OutBuffer } from "../../src/server/outbound.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function frame(reply: string | null, queues: string[], hdr: number, payload: string): string {
  const out = new OutBuffer(8);
  writeRoutedMsg(out, te.encode("foo.bar"), reply === null ? null : te.encode(reply), queues.map((q) => te.encode(q)), hdr, te.encode(payload));
  return td.decode(out.buf.subarray(0, out.len));
}

/** Split a control line the way the parser does. */
function split(line: string) {
  const bytes = te.encode(line);
  const starts = new Int32Array(32);
  const ends = new Int32Array(32);
  let count = 0;
  const re = /\S+/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) {
    starts[count] = m.index;
    ends[count] = m.index + m[0].length;
    count++;
  }
  return { line: bytes, starts, ends, count };
}

/** Split a control line the way the parser does and read its optional part. */
function readArgs(line: string, sizes: number) {
  const { line: bytes, starts, ends, count } = split(line);
  const ra = routedArgs(bytes, starts, ends, count, 3, sizes);
  if (ra === undefined) return undefined;
  const word = (i: number) => line.slice(starts[i], ends[i]);
  const queues: string[] = [];
  for (let i = ra.queueFrom; i < ra.queueTo; i++) queues.push(word(i));
  return { reply: ra.reply >= 0 ? word(ra.reply) : null, queues };
}

describe("route framing", () => {
  it("writes the four RMSG forms nats-server uses", () => {
    assert.equal(frame(null, [], -1, "hi"), "RMSG $G foo.bar 2\r\nhi\r\n");
    assert.equal(frame("_INBOX.1", [], -1, "hi"), "RMSG $G foo.bar _INBOX.1 2\r\nhi\r\n");
    assert.equal(frame("_INBOX.1", ["q1", "q2"], -1, "hi"), "RMSG $G foo.bar + _INBOX.1 q1 q2 2\r\nhi\r\n");
    assert.equal(frame(null, ["q1"], -1, "hi"), "RMSG $G foo.bar | q1 2\r\nhi\r\n");
  });

  it("writes HMSG with header and total sizes", () => {
    const hdr = "NATS/1.0\r\n\r\n";
    assert.equal(frame("r", [], hdr.length, hdr + "x"), `HMSG $G foo.bar r 12 13\r\n${hdr}x\r\n`);
  });

  it("reads reply and queue names back", () => {
    assert.deepEqual(readArgs("RMSG $G foo 5", 1), { reply: null, queues: [] });
    assert.deepEqual(readArgs("RMSG $G foo bar 5", 1), { reply: "bar", queues: [] });
    assert.deepEqual(readArgs("RMSG $G foo + bar q1 q2 5", 1), { reply: "bar", queues: ["q1", "q2"] });
    assert.deepEqual(readArgs("RMSG $G foo | q1 q2 5", 1), { reply: null, queues: ["q1", "q2"] });
    assert.deepEqual(readArgs("HMSG $G foo | q1 3 5", 2), { reply: null, queues: ["q1"] });
    assert.equal(readArgs("RMSG $G foo x y 5", 1), undefined);
  });

  it("a link's one RoutedArgsOut and queue list are filled again for each frame", () => {
    const into: RoutedArgsOut = { reply: -1, queueFrom: 0, queueTo: 0 };
    const list: string[] = [];
    const read = (line: string) => {
      const a = split(line);
      const ra = routedArgs(a.line, a.starts, a.ends, a.count, 3, 1, into);
      if (ra === undefined) return undefined;
      const q = queueNames(a, ra, list);
      return { ra, reply: ra.reply >= 0 ? line.split(" ")[ra.reply] : null, queues: q === undefined ? undefined : [...q], list: q };
    };
    const a = read("RMSG $G foo + _INBOX.1 q1 q2 5");
    assert.equal(a?.ra, into, "the link's object, not one per frame");
    assert.equal(a?.list, list, "the link's list, not one per frame");
    assert.deepEqual([a?.reply, a?.queues], ["_INBOX.1", ["q1", "q2"]]);
    const b = read("RMSG $G foo | q3 5");
    assert.equal(b?.list, list);
    assert.deepEqual([b?.reply, b?.queues], [null, ["q3"]], "the list is emptied before it is filled");
    const c = read("RMSG $G foo _INBOX.2 5");
    assert.deepEqual([c?.reply, c?.queues], ["_INBOX.2", undefined]);
    const d = read("RMSG $G foo 5");
    assert.notEqual(d?.ra, into, "a frame with neither reply nor queues gets the shared answer");
    assert.deepEqual([d?.reply, d?.queues], [null, undefined]);
  });

  it("writes RS+/RS- with queue weights", () => {
    assert.equal(interestLine(true, "foo.*", undefined, 1), "RS+ $G foo.*\r\n");
    assert.equal(interestLine(true, "foo", "workers", 3), "RS+ $G foo workers 3\r\n");
    assert.equal(interestLine(false, "foo", "workers", 0), "RS- $G foo workers\r\n");
    assert.equal(interestLine(false, "foo", undefined, 0), "RS- $G foo\r\n");
  });
});

describe("route handshake JSON", () => {
  it("accepts nats-server's route INFO and CONNECT", () => {
    const info = parseRouteInfo('{"server_id":"NABC","server_name":"A","version":"2.9.10","proto":2,"go":"go1.19.8","host":"127.0.0.1","port":14921,"headers":true,"max_payload":1048576,"nonce":"x","cluster":"c1","connect_urls":["127.0.0.1:14911"],"lnoc":true}');
    assert.equal(info?.server_id, "NABC");
    assert.deepEqual(info?.connect_urls, ["127.0.0.1:14911"]);
    const c = parseRouteConnect('{"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NB7J","cluster":"c1","lnoc":true}');
    assert.equal(c?.name, "NB7J");
    assert.equal(c?.cluster, "c1");
  });

  it("rejects garbage", () => {
    assert.equal(parseRouteInfo("not json"), undefined);
    assert.equal(parseRouteInfo('{"port":1}'), undefined);
    assert.equal(parseRouteConnect('{"name":5}'), undefined);
  });
});

describe("route URLs", () => {
  it("parses the spellings nats-server accepts", () => {
    assert.deepEqual(parseRouteUrl("nats-route://127.0.0.1:6222"), { host: "127.0.0.1", port: 6222, text: "nats-route://127.0.0.1:6222" });
    assert.deepEqual(parseRouteUrl("nats://ruser:T0p@h1:4248"), { host: "h1", port: 4248, user: "ruser", password: "T0p", text: "nats://ruser:T0p@h1:4248" });
    assert.equal(parseRouteUrl("localhost:7000")?.port, 7000);
    assert.equal(parseRouteUrl("nats://[::1]:7000")?.host, "::1");
    assert.equal(parseRouteUrl("nats://h:99999"), undefined);
  });
});
