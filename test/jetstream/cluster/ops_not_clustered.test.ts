// Cluster operations asked of a server running JetStream alone, against nats-server 2.9.10 and Petrel side by
// side: stream peer removal and leader step-downs get 503/10010 "JetStream clustering support required" (any
// stream name), SERVER.REMOVE and META.LEADER.STEPDOWN get no answer at all (an $JS.API.INFO sent after each on
// the same reply subject is the first answer), and nothing changes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { useJsSides } from "../../helpers/js_sides.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The first answer on a fresh inbox to `subject`, then to an $JS.API.INFO marker sent after it. */
async function firstAnswer(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: 1 });
  nc.publish(subject, enc.encode(JSON.stringify(body)), { reply: inbox });
  nc.publish("$JS.API.INFO", new Uint8Array(), { reply: inbox });
  for await (const m of sub) return JSON.parse(dec.decode(m.data)) as Record<string, unknown>;
  throw new Error("no answer");
}

describe("cluster operations on a non-clustered server (differential)", () => {
  const sides = useJsSides();

  it("answers 10010 where nats-server does and stays silent where it does", { timeout: 30_000 }, async () => {
    const results: Array<Array<unknown>> = [];
    for (const side of sides) {
      const jsm = await jetstreamManager(side.nc);
      await jsm.streams.add({ name: "ALONE", subjects: ["alone.>"] });
      const out: unknown[] = [];
      for (
        const [subject, body] of [
          ["$JS.API.STREAM.PEER.REMOVE.ALONE", { peer: "x" }],
          ["$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: "x" }],
          ["$JS.API.STREAM.LEADER.STEPDOWN.ALONE", {}],
          ["$JS.API.STREAM.LEADER.STEPDOWN.NOPE", {}],
          ["$JS.API.CONSUMER.LEADER.STEPDOWN.ALONE.C", {}],
          ["$JS.API.SERVER.REMOVE", { peer: "x" }],
          ["$JS.API.META.LEADER.STEPDOWN", {}],
        ] as const
      ) {
        const a = await firstAnswer(side.nc, subject, body);
        out.push(a.type === "io.nats.jetstream.api.v1.account_info_response" ? "(no answer)" : a);
      }
      const info = await jsm.streams.info("ALONE");
      out.push(info.config.num_replicas, info.cluster?.leader === undefined ? "no leader" : "leader");
      await jsm.streams.delete("ALONE");
      results.push(out);
    }
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[0][0], {
      type: "io.nats.jetstream.api.v1.stream_remove_peer_response",
      error: { code: 503, err_code: 10010, description: "JetStream clustering support required" },
    });
    assert.equal(results[0][5], "(no answer)");
  });
});
