// One frame per message per route: further matches of the same message add queue names to its frame.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RouteOutbox } from "../../src/cluster/outbox.ts";
import { OutBuffer } from "../../src/server/outbound.ts";
import type { RoutedMsg } from "../../src/server/types.ts";
import { readJsDelivery } from "../../src/cluster/js_delivery.ts";
import { LocalMsg } from "../../src/server/local_msg.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function msg(subject: string, payload: string, reply?: string): RoutedMsg {
  return { subject, subjectBytes: te.encode(subject), reply: reply === undefined ? null : te.encode(reply), hdrSize: -1, payload: te.encode(payload) };
}

function text(o: RouteOutbox): string {
  return td.decode(o.out.buf.subarray(0, o.out.len));
}

describe("route outbox", () => {
  it("writes a message once however many plain subscriptions match", () => {
    const o = new RouteOutbox(new OutBuffer(16));
    const m = msg("a.b", "x");
    assert.equal(o.add(m, undefined), true);
    assert.equal(o.add(m, undefined), false);
    assert.equal(text(o), "RMSG $G a.b 1\r\nx\r\n");
  });

  it("adds queue groups to the message's frame", () => {
    const o = new RouteOutbox(new OutBuffer(16));
    const m = msg("a.b", "x", "r.1");
    o.add(m, undefined);
    o.add(m, te.encode("q1"));
    o.add(m, te.encode("q2"));
    assert.equal(text(o), "RMSG $G a.b + r.1 q1 q2 1\r\nx\r\n");
    const n = msg("c", "y");
    o.add(n, te.encode("q"));
    assert.equal(text(o), "RMSG $G a.b + r.1 q1 q2 1\r\nx\r\nRMSG $G c | q 1\r\ny\r\n");
  });

  it("finds the frame again after a nested publish wrote in between", () => {
    const o = new RouteOutbox(new OutBuffer(16));
    const outer = msg("svc", "req", "inbox");
    const nested = msg("inbox", "reply");
    o.add(outer, undefined);
    o.add(nested, undefined);
    o.add(outer, te.encode("workers"));
    assert.equal(text(o), "RMSG $G inbox 5\r\nreply\r\nRMSG $G svc + inbox workers 3\r\nreq\r\n");
    // The nested frame's position was updated: it can still take a queue group.
    o.add(nested, te.encode("g"));
    assert.equal(text(o), "RMSG $G svc + inbox workers 3\r\nreq\r\nRMSG $G inbox | g 5\r\nreply\r\n");
  });

  it("tells apart the messages one reused object carries in turn (LocalMsg's serial), queue groups included", () => {
    const o = new RouteOutbox(new OutBuffer(16));
    const local = new LocalMsg();
    const input = te.encode("PUB a 1\r\nx\r\nPUB b 1\r\ny\r\n");
    local.set("a", te.encode("a"), null, -1, input, 9, 10);
    assert.equal(o.add(local, te.encode("q")), true);
    assert.equal(o.add(local, te.encode("q2")), false, "the same message: one more queue group on its frame");
    local.clear();
    local.set("b", te.encode("b"), null, -1, input, 21, 22);
    assert.equal(o.add(local, undefined), true, "the next message in the same object: a frame of its own");
    assert.equal(text(o), "RMSG $G a | q q2 1\r\nx\r\nRMSG $G b 1\r\ny\r\n");
  });

  it("forgets frames after a flush", () => {
    const o = new RouteOutbox(new OutBuffer(16));
    const m = msg("a", "1");
    o.add(m, undefined);
    o.out.take();
    o.forget();
    assert.equal(o.add(m, undefined), true);
    assert.equal(text(o), "RMSG $G a 1\r\n1\r\n");
  });

  it("writes a JetStream delivery in nats-server's form: deliver subject, then ack reply @ stored subject", () => {
    // Routed by the deliver subject, shown with the stored subject.
    const ack = "$JS.ACK.S.C.1.7.3.1.0";
    const d: RoutedMsg = { ...msg("dlv.x", "m", ack), subjectBytes: te.encode("orders.1") };
    const route = new RouteOutbox(new OutBuffer(16));
    route.add(d, undefined);
    route.add(d, te.encode("q"));
    assert.equal(text(route), `RMSG $G dlv.x + ${ack}@orders.1 q 1\r\nm\r\n`);
    // Other replies with an `@` are no deliveries: as they are, both ways.
    const plain = msg("a", "p", "inbox@x");
    route.add(plain, undefined);
    assert.ok(text(route).endsWith("RMSG $G a inbox@x 1\r\np\r\n"));
    assert.equal(readJsDelivery(plain), false);
    assert.equal(td.decode(plain.reply as Uint8Array), "inbox@x");
  });

  it("reads nats-server's form: routed by the frame's subject, shown with the part after the last @", () => {
    const m = msg("_INBOX.a.1", "m", "$JS.ACK.S.C.1.7.3.1.0@orders.1");
    assert.equal(readJsDelivery(m), true);
    assert.equal(m.subject, "_INBOX.a.1");
    assert.equal(td.decode(m.subjectBytes), "orders.1");
    assert.equal(td.decode(m.reply as Uint8Array), "$JS.ACK.S.C.1.7.3.1.0");
  });
});
