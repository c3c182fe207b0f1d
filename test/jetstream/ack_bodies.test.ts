// What counts as an ack, a nak, progress or a term, read as nats-server 2.9.10 reads an ack body: "+ACK", "+OK",
// "+WPI" and "+TERM" exactly, "-NAK" and "+NXT" as prefixes, anything else as no ack at all (the message returns
// when its ack wait runs out). The same bodies against both servers, all consumers at once.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { useJsSides } from "../helpers/js_sides.ts";

const MS = 1_000_000;
const ACK_WAIT_MS = 1500;
const BODIES = [
  "+ACK", "+OK", "+ACK ", "+NAK", "-NAK", "-NAKED", '-NAK {bad', '-NAK {"delay":"x"}', "-NAK 5x", '-NAK {"delay":-5}',
  "+WPI junk", "+TERM", "+TERM reason", "junk",
];

/** Answers the first delivery with `body`; reports how the message came back (or did not). */
async function fate(nc: NatsConnection, consumer: string, body: string): Promise<string> {
  const inbox = `in.${consumer}`;
  const sub = nc.subscribe(inbox, { timeout: 10_000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.T.${consumer}`, JSON.stringify({ batch: 2, expires: (ACK_WAIT_MS + 1000) * MS }), { reply: inbox });
  let t0 = 0;
  for await (const m of sub) {
    if (m.headers && m.data.length === 0) return `not redelivered (${m.headers.code})`;
    if (t0 === 0) {
      t0 = performance.now();
      m.respond(body);
      continue;
    }
    return performance.now() - t0 < ACK_WAIT_MS / 2 ? "redelivered at once" : "redelivered after the ack wait";
  }
  return "nothing";
}

async function transcript(nc: NatsConnection): Promise<Record<string, string>> {
  const j = (s: string, b: unknown) => nc.request(s, JSON.stringify(b), { timeout: 5000 });
  await j("$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.*"] });
  await nc.request("t.a", "x", { timeout: 5000 });
  const names = BODIES.map((_, i) => `c${i}`);
  for (const name of names) {
    await j(`$JS.API.CONSUMER.DURABLE.CREATE.T.${name}`, {
      stream_name: "T",
      config: { durable_name: name, ack_policy: "explicit", ack_wait: ACK_WAIT_MS * MS },
    });
  }
  const fates = await Promise.all(BODIES.map((b, i) => fate(nc, names[i], b)));
  return Object.fromEntries(BODIES.map((b, i) => [b, fates[i]]));
}

describe("ack bodies: nats-server vs Petrel", () => {
  const sides = useJsSides();

  it("reads each body as nats-server does", { timeout: 60_000 }, async () => {
    const [ref, ours] = await Promise.all(sides.map((s) => transcript(s.nc)));
    assert.equal(ref["+ACK "], "redelivered after the ack wait", "the reference itself: not an ack");
    assert.equal(ref["-NAKED"], "redelivered at once", "the reference itself: a nak");
    assert.deepEqual(ours, ref);
  });
});
