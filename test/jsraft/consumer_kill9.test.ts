// Three Petrel processes with replicated JetStream (file storage). A durable pull consumer of an R3 stream is
// drained by a client that acknowledges every message and waits for each ack to be confirmed; the consumer's
// leader (a Raft group of its own) is killed with SIGKILL in the middle of it and restarted later. No message
// whose ack was confirmed is ever delivered again, every message ends acknowledged, and the restarted server
// holds the consumer's state.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, type Consumer, type ConsumerMessages, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { waitFor } from "../helpers/servers.ts";
import { addStreamWhenReady, type ProcessCluster, startProcessCluster } from "./helpers.ts";

/** The subject a delivery's ack goes to (its reply subject, rebuilt from what the client parsed of it). */
function ackSubjectOf(m: JsMsg): string {
  const i = m.info;
  return `$JS.ACK.${i.stream}.${i.consumer}.${i.deliveryCount}.${i.streamSequence}.${i.deliverySequence}.${i.timestampNanos}.${i.pending}`;
}

describe("replicated JetStream: kill -9 of a consumer's leader", () => {
  it("never redelivers a confirmed ack, and the restarted server keeps the consumer's state", { timeout: 120_000 }, async () => {
    let pc: ProcessCluster | undefined;
    let nc: NatsConnection | undefined;
    try {
      pc = await startProcessCluster("ck9", ["q1", "q2", "q3"]);
      const { servers, start, names } = pc;
      nc = await connect({ servers: servers.map((s) => s!.url), reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      const jsm = await addStreamWhenReady(nc, { name: "WORK", subjects: ["work.>"], num_replicas: 3 });
      const total = 300;
      const js = jetstream(nc, { timeout: 2000 });
      // In flights of 50, not one round trip each: 300 sequential R3 publishes and 300 sequential confirmed acks
      // took the case past its 120 s bound on a loaded machine; the drain below keeps its one-by-one acks.
      // A publish that timed out (three processes on a loaded machine can take seconds to store one) goes again
      // with its msgID, bounded by count: the duplicate window keeps one copy, which the stream's count checks.
      const publish = async (n: number): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          try {
            await js.publish(`work.${n % 5}`, String(n), { msgID: `w${n}` });
            return;
          } catch (e) {
            if (attempt >= 10) throw e;
          }
        }
      };
      for (let i = 1; i <= total; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => publish(i + k)));
      const stored = await waitFor("the stream's info", () => jsm.streams.info("WORK"), 20_000);
      assert.equal(stored.state.messages, total, "each message stored once");
      // Created again after a timed-out request (the same config: the durable is created once).
      await waitFor("the consumer created", async () => {
        await jsm.consumers.add("WORK", { durable_name: "d", ack_policy: AckPolicy.Explicit, ack_wait: 2_000_000_000 });
        return true;
      }, 30_000);

      const confirmed = new Set<number>();
      // Acks whose confirmation did not come (timed out on a loaded machine, or no responders while the leader was
      // down) may or may not have been taken: such a message comes back after its ack wait, or it was acknowledged
      // and never comes back (the loop would wait for it forever). Between fetches, when no pull request is open
      // and no redelivery can be on its way, each is sent again (once per round, bounded by the rounds); a
      // confirmation then counts like any other. Stream seq -> its ack subject.
      const unsure = new Map<number, string>();
      let killed = -1;
      for (let round = 0; confirmed.size < total && round < 400; round++) {
        await Promise.all([...unsure].map(async ([seq, ackSubject]) => {
          if (await nc!.request(ackSubject, "+ACK", { timeout: 1000 }).then(() => true, () => false)) {
            unsure.delete(seq);
            confirmed.add(seq);
          }
        }));
        if (confirmed.size >= total) break;
        const cons: Consumer | undefined = await jetstream(nc, { timeout: 1000 }).consumers.get("WORK", "d").catch(() => undefined);
        if (!cons) continue;
        const batch: ConsumerMessages | undefined = await cons.fetch({ max_messages: 20, expires: 1000 }).catch(() => undefined);
        if (!batch) continue;
        try {
          for await (const m of batch) {
            assert.ok(!confirmed.has(m.seq), `${m.seq} delivered again after its ack was confirmed`);
            if (await m.ackAck({ timeout: 1000 }).catch(() => false)) {
              confirmed.add(m.seq);
              unsure.delete(m.seq);
            } else {
              unsure.set(m.seq, ackSubjectOf(m));
            }
            // At or past 100: an info that timed out at exactly 100 must not skip the kill (">= ", not "===").
            if (confirmed.size >= 100 && killed < 0) {
              const info = await jsm.consumers.info("WORK", "d");
              killed = names.indexOf(info.cluster?.leader ?? "");
              assert.ok(killed >= 0, `consumer leader ${info.cluster?.leader}`);
              await servers[killed]!.kill9();
              servers[killed] = undefined;
            }
          }
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
        }
      }
      assert.ok(killed >= 0, "the consumer's leader was killed");
      assert.equal(confirmed.size, total, "every message acknowledged");

      servers[killed] = await start(killed);
      // The restarted server catches up with the consumer's log and can lead it with the whole state.
      const jsm2 = await jetstreamManager(nc, { timeout: 1000 });
      await waitFor("the restarted server leads the consumer with its state", async () => {
        const info = await jsm2.consumers.info("WORK", "d").catch(() => undefined);
        if (!info) return false;
        if (info.cluster?.leader === names[killed]) return info.ack_floor.stream_seq === total && info.num_pending === 0;
        await nc!.request("$JS.API.CONSUMER.LEADER.STEPDOWN.WORK.d", "", { timeout: 1000 }).catch(() => undefined);
        return false;
      }, 30_000, 300);
    } finally {
      await nc?.close().catch(() => {});
      await pc?.close();
    }
  });
});
