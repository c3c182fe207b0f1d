// Bad and borderline pull requests get the status nats-server 2.9.10 gives (code and text), the same requests
// to both servers: Go's decode errors for wrongly typed fields, heartbeat limits, the consumer's request limits,
// a push consumer asked to pull, and a full waiting list that first sheds requests nobody waits for.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { useJsSides } from "../helpers/js_sides.ts";

const MS = 1_000_000;

/** Sends one pull request and returns its first answer (a message or a status); every step ends on its own. */
async function pull(nc: NatsConnection, consumer: string, body: string): Promise<string> {
  const inbox = `in.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox, { max: 1, timeout: 5000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.P.${consumer}`, body, { reply: inbox });
  for await (const m of sub) {
    if (!m.headers) return `msg ${m.subject}`;
    const extra = [...m.headers.keys()].map((k) => `${k}=${m.headers?.get(k)}`).join(" ");
    return `${m.headers.code} ${m.headers.description}${extra ? " " + extra : ""}`.trim();
  }
  return "nothing";
}

async function transcript(nc: NatsConnection): Promise<string[]> {
  const j = (s: string, b: unknown) => nc.request(s, JSON.stringify(b), { timeout: 5000 });
  await j("$JS.API.STREAM.CREATE.P", { name: "P", subjects: ["p.*"] });
  await j("$JS.API.CONSUMER.DURABLE.CREATE.P.c", {
    stream_name: "P",
    config: { durable_name: "c", ack_policy: "explicit", max_batch: 5, max_expires: 2000 * MS, max_bytes: 500 },
  });
  await j("$JS.API.CONSUMER.DURABLE.CREATE.P.one", {
    stream_name: "P",
    config: { durable_name: "one", ack_policy: "explicit", max_waiting: 1 },
  });
  await j("$JS.API.CONSUMER.DURABLE.CREATE.P.push", { stream_name: "P", config: { durable_name: "push", deliver_subject: "dp" } });
  const out: string[] = [];
  const step = async (label: string, consumer: string, body: string) => out.push(`${label}: ${await pull(nc, consumer, body)}`);
  await step("push consumer", "push", "1");
  await step("expires as a string", "c", '{"expires":"x"}');
  await step("no_wait as a number", "c", '{"no_wait":1}');
  await step("fractional batch", "c", '{"batch":1.5}');
  await step("heartbeat as a string", "c", '{"idle_heartbeat":"1s"}');
  await step("heartbeat without expiry", "c", '{"batch":1,"idle_heartbeat":200000000}');
  await step("heartbeat over half the expiry", "c", '{"batch":1,"expires":1000000000,"idle_heartbeat":600000000}');
  await step("batch over max_batch", "c", '{"batch":6}');
  await step("expires over max_expires", "c", '{"batch":1,"expires":3000000000}');
  await step("max_bytes over the limit", "c", '{"batch":1,"max_bytes":600}');
  await step("no_wait, nothing there", "c", '{"batch":0,"no_wait":true}');
  await step("no_wait with expires waits for it", "c", '{"batch":3,"no_wait":true,"expires":200000000}');
  // A full waiting list: a request whose requester is gone is shed for the new one (then it times out).
  nc.publish("$JS.API.CONSUMER.MSG.NEXT.P.one", '{"batch":1,"expires":5000000000}', { reply: "nobody.listens" });
  await nc.flush();
  await step("full, but the waiting one has no listener", "one", '{"batch":1,"expires":200000000}');
  const held = nc.subscribe("held.inbox");
  nc.publish("$JS.API.CONSUMER.MSG.NEXT.P.one", '{"batch":1,"expires":5000000000}', { reply: "held.inbox" });
  await nc.flush();
  await step("full, the waiting one still listens", "one", '{"batch":1,"expires":200000000}');
  held.unsubscribe();
  await nc.request("p.a", "x", { timeout: 5000 });
  await nc.request("p.b", "y", { timeout: 5000 });
  await step("text that is no number asks for one", "c", "abc");
  await step("negative max_bytes is no limit", "c", '{"max_bytes":-1,"no_wait":true}');
  return out;
}

describe("pull requests, bad and borderline: nats-server vs Petrel", () => {
  const sides = useJsSides();

  it("answers each as nats-server does", { timeout: 60_000 }, async () => {
    const ref = await transcript(sides[0].nc);
    const ours = await transcript(sides[1].nc);
    assert.equal(ref[0], "push consumer: 409 Consumer is push based", "the reference itself");
    assert.equal(ref.at(-3), "full, the waiting one still listens: 409 Exceeded MaxWaiting");
    assert.deepEqual(ours, ref);
  });
});
