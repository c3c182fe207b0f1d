// The status messages that end a pull request (408/409) carry Nats-Pending-Messages / Nats-Pending-Bytes exactly as
// nats-server 2.9.10 sends them, and max_bytes counts a message as nats-server does (subject + ack reply + headers
// + payload). The same requests run against both servers and the transcripts must be equal.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { useJsSides } from "../helpers/js_sides.ts";

const MS = 1_000_000;

/** Sends one pull request and returns what arrived on its inbox, up to and including the status that ends it. */
async function pull(nc: NatsConnection, consumer: string, body: unknown): Promise<string[]> {
  const inbox = `in.${Math.random().toString(36).slice(2)}`;
  const sub = nc.subscribe(inbox, { timeout: 5000 });
  nc.publish(`$JS.API.CONSUMER.MSG.NEXT.P.${consumer}`, JSON.stringify(body), { reply: inbox });
  const out: string[] = [];
  for await (const m of sub) {
    const h = m.headers;
    if (h && m.data.length === 0 && h.code >= 100) {
      const extra = [...h.keys()].map((k) => `${k}=${h.get(k)}`).join(" ");
      const line = `${h.code} ${h.description}${extra ? " " + extra : ""}`;
      // Heartbeats: how many arrive depends on timing; what they say does not.
      if (h.code === 100 && out.at(-1) === line) continue;
      out.push(line);
      if (h.code >= 400) break;
      continue;
    }
    out.push(`msg ${m.subject} ${m.data.length}`);
    if (body && typeof body === "object" && "done_after" in body && out.length === body.done_after) break;
  }
  sub.unsubscribe();
  return out;
}

async function transcript(nc: NatsConnection): Promise<unknown[]> {
  const j = async (s: string, b: unknown) =>
    (await nc.request(s, JSON.stringify(b), { timeout: 5000 })).json<Record<string, unknown>>();
  const out: unknown[] = [];
  out.push(await j("$JS.API.STREAM.CREATE.P", { name: "P", subjects: ["p.*"] }).then((r) => r.error ?? "ok"));
  await j("$JS.API.CONSUMER.DURABLE.CREATE.P.c", { stream_name: "P", config: { durable_name: "c", ack_policy: "explicit" } });
  for (let i = 0; i < 3; i++) await nc.request("p.a", "x".repeat(100), { timeout: 5000 });
  // Nothing fits: 409 with the whole request still open.
  out.push(await pull(nc, "c", { batch: 5, max_bytes: 50 }));
  // One fits (3 + 39 + 100 = 142 bytes), the next does not.
  out.push(await pull(nc, "c", { batch: 5, max_bytes: 250, expires: 2000 * MS }));
  // Exactly fits: delivered, and the request ends without a status.
  out.push(await pull(nc, "c", { batch: 5, max_bytes: 142, expires: 2000 * MS, done_after: 1 }));
  const info = await j("$JS.API.CONSUMER.INFO.P.c", {});
  out.push({ num_waiting: info.num_waiting });
  // no_wait that got something ends with 408 and what it had left.
  out.push(await pull(nc, "c", { batch: 5, no_wait: true }));
  out.push(await pull(nc, "c", { batch: 5, max_bytes: 1000, expires: 300 * MS }));
  out.push(await pull(nc, "c", { batch: 5, no_wait: true }));
  // Idle heartbeats of a waiting request name the last delivered consumer and stream sequences.
  out.push(await pull(nc, "c", { batch: 2, expires: 450 * MS, idle_heartbeat: 100 * MS }));
  return out;
}

describe("pull request status headers: nats-server vs Petrel", () => {
  const sides = useJsSides();

  it("408/409 that end a request carry the same pending counts", async () => {
    const ref = await transcript(sides[0].nc);
    const ours = await transcript(sides[1].nc);
    assert.deepEqual(ref, [
      "ok",
      ["409 Message Size Exceeds MaxBytes Nats-Pending-Messages=5 Nats-Pending-Bytes=50"],
      ["msg p.a 100", "409 Message Size Exceeds MaxBytes Nats-Pending-Messages=4 Nats-Pending-Bytes=108"],
      ["msg p.a 100"],
      { num_waiting: 0 },
      ["msg p.a 100", "408 Request Timeout Nats-Pending-Messages=4 Nats-Pending-Bytes=0"],
      ["408 Request Timeout Nats-Pending-Messages=5 Nats-Pending-Bytes=1000"],
      ["404 No Messages"],
      [
        "100 Idle Heartbeat Nats-Last-Consumer=3 Nats-Last-Stream=3",
        "408 Request Timeout Nats-Pending-Messages=2 Nats-Pending-Bytes=0",
      ],
    ], "nats-server 2.9.10 itself (the reference this test pins)");
    assert.deepEqual(ours, ref);
  });
});
