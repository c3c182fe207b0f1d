// Three Petrel processes with replicated JetStream (file storage). A publisher keeps a window of publishes in
// flight with Nats-Msg-Id and retries whatever is not acknowledged; the stream's leader is killed with SIGKILL
// in the middle of it and restarted later. Every acknowledged message must end up exactly once, in order, and
// every replica must report the same stream.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { monitorJson, type RunningServer, waitFor } from "../helpers/servers.ts";
import { addStreamWhenReady, type ProcessCluster, startProcessCluster } from "./helpers.ts";

interface StreamDetail {
  name: string;
  state: { messages: number; first_seq: number; last_seq: number };
}

async function streamOn(s: RunningServer): Promise<StreamDetail["state"] | undefined> {
  const jsz = await monitorJson<{ account_details?: Array<{ stream_detail?: StreamDetail[] }> }>(s, "/jsz?streams=true");
  for (const a of jsz.account_details ?? []) for (const d of a.stream_detail ?? []) if (d.name === "LOAD") return d.state;
  return undefined;
}

describe("replicated JetStream: kill -9 of the stream leader under load", () => {
  it("keeps every acknowledged message exactly once, in order, on every replica", { timeout: 120_000 }, async () => {
    let pc: ProcessCluster | undefined;
    let nc: NatsConnection | undefined;
    try {
      pc = await startProcessCluster("k9", ["p1", "p2", "p3"]);
      const { servers, start, names } = pc;
      nc = await connect({ servers: servers.map((s) => s!.url), reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      const jsm = await addStreamWhenReady(nc, { name: "LOAD", subjects: ["load.>"], num_replicas: 3 });
      const js = jetstream(nc, { timeout: 1500 });
      const total = 600;
      const acked = new Map<string, number>();
      let next = 1;
      let killed = -1;
      const sendOne = async (n: number): Promise<void> => {
        const id = `msg-${n}`;
        for (let attempt = 0; attempt < 60; attempt++) {
          try {
            const ack = await js.publish("load.x", String(n), { msgID: id });
            acked.set(id, ack.seq);
            return;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        throw new Error(`${id} never acknowledged`);
      };
      const worker = async () => {
        while (next <= total) {
          const n = next++;
          await sendOne(n);
          if (n === 200 && killed < 0) {
            const leader = (await jsm.streams.info("LOAD")).cluster?.leader;
            killed = names.indexOf(leader ?? "");
            assert.ok(killed >= 0, `leader ${leader}`);
            await servers[killed]!.kill9();
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.ok(killed >= 0, "the leader was killed");
      assert.equal(acked.size, total);
      const seqs = [...acked.values()].sort((a, b) => a - b);
      assert.equal(new Set(seqs).size, total, "no two publishes share a sequence");

      servers[killed] = await start(killed);
      for (const s of servers) {
        await waitFor(`${s!.url} holds the whole stream`, async () => (await streamOn(s!))?.messages === total, 30_000);
      }
      const states = await Promise.all(servers.map((s) => streamOn(s!)));
      for (const st of states) assert.deepEqual(st, states[0], "every replica reports the same stream");
      assert.equal(states[0]?.first_seq, 1);
      assert.equal(states[0]?.last_seq, total, "no gaps: sequences 1..total");

      // Read it back in order: each acknowledged id once, at its acknowledged sequence.
      const consumer = await jsm.consumers.add("LOAD", { ack_policy: "none", inactive_threshold: 60_000_000_000 });
      const c = await jetstream(nc).consumers.get("LOAD", consumer.name);
      const seen = new Map<string, number>();
      const iter = await c.fetch({ max_messages: total, expires: 10_000 });
      for await (const m of iter) {
        const id = `msg-${m.string()}`;
        assert.ok(!seen.has(id), `${id} stored twice`);
        seen.set(id, m.seq);
      }
      assert.equal(seen.size, total);
      for (const [id, seq] of acked) assert.equal(seen.get(id), seq, `${id} at its acknowledged sequence`);
    } finally {
      await nc?.close().catch(() => {});
      await pc?.close();
    }
  });
});
