// The same raw $JS.API requests against nats-server and Petrel: error codes and key fields must agree.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { startServer } from "../helpers/servers.ts";
import { removeDir, startJsServer } from "./server.ts";

type J = Record<string, unknown>;
interface Side {
  nc: NatsConnection;
  stop(): Promise<void>;
}

async function call(nc: NatsConnection, subject: string, body?: unknown): Promise<J> {
  const data = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const m = await nc.request(subject, data, { timeout: 3000 });
  return m.json<J>();
}

async function pubAck(nc: NatsConnection, subject: string, data: string, hdrs: Array<[string, string]> = []): Promise<J> {
  const h = headers();
  for (const [k, v] of hdrs) h.set(k, v);
  const m = await nc.request(subject, data, { timeout: 3000, headers: hdrs.length ? h : undefined });
  return m.json<J>();
}

/** What must match: the error (code, err_code, description) or selected fields of a success. */
function shape(r: J, fields: string[] = []): J {
  if (r.error) return { error: r.error };
  const out: J = {};
  for (const f of fields) {
    let v: unknown = r;
    for (const k of f.split(".")) v = (v as J | undefined)?.[k];
    out[f] = v;
  }
  return out;
}

type Step = (nc: NatsConnection) => Promise<J>;
const steps: Array<[string, Step]> = [
  ["create", (nc) => call(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"], max_msgs: 3, discard: "new" }).then((r) => shape(r, ["type", "config.max_msgs", "config.discard", "config.retention", "config.storage", "config.duplicate_window", "config.max_msg_size", "state.messages", "state.first_seq"]))],
  ["create again same", (nc) => call(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.*"], max_msgs: 3, discard: "new" }).then((r) => shape(r, ["type"]))],
  ["create again different", (nc) => call(nc, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["other"] }).then((r) => shape(r))],
  ["overlap", (nc) => call(nc, "$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["s.x"] }).then((r) => shape(r))],
  ["name mismatch", (nc) => call(nc, "$JS.API.STREAM.CREATE.T", { name: "U" }).then((r) => shape(r))],
  ["bad json", (nc) => call(nc, "$JS.API.STREAM.CREATE.T", "{bad").then((r) => shape(r, ["error.code", "error.err_code"]))],
  ["replicas", (nc) => call(nc, "$JS.API.STREAM.CREATE.T", { name: "T", num_replicas: 3 }).then((r) => shape(r))],
  ["info missing", (nc) => call(nc, "$JS.API.STREAM.INFO.NOPE").then((r) => shape(r))],
  ["delete missing", (nc) => call(nc, "$JS.API.STREAM.DELETE.NOPE").then((r) => shape(r))],
  ["pub 1", (nc) => pubAck(nc, "s.a", "1")],
  ["pub dup id", (nc) => pubAck(nc, "s.a", "2", [["Nats-Msg-Id", "x"]])],
  ["pub dup id again", (nc) => pubAck(nc, "s.a", "2", [["Nats-Msg-Id", "x"]])],
  ["wrong last seq", (nc) => pubAck(nc, "s.a", "3", [["Nats-Expected-Last-Sequence", "1"]])],
  ["wrong stream", (nc) => pubAck(nc, "s.a", "3", [["Nats-Expected-Stream", "Z"]])],
  ["wrong last msg id", (nc) => pubAck(nc, "s.a", "3", [["Nats-Expected-Last-Msg-Id", "nope"]])],
  ["wrong last subject seq", (nc) => pubAck(nc, "s.b", "3", [["Nats-Expected-Last-Subject-Sequence", "5"]])],
  ["pub 3", (nc) => pubAck(nc, "s.b", "3")],
  ["max msgs", (nc) => pubAck(nc, "s.b", "4")],
  ["msg get", (nc) => call(nc, "$JS.API.STREAM.MSG.GET.S", { seq: 2 }).then((r) => shape(r, ["type", "message.subject", "message.seq", "message.data", "message.hdrs"]))],
  ["msg get missing", (nc) => call(nc, "$JS.API.STREAM.MSG.GET.S", { seq: 99 }).then((r) => shape(r))],
  ["msg get last", (nc) => call(nc, "$JS.API.STREAM.MSG.GET.S", { last_by_subj: "s.a" }).then((r) => shape(r, ["message.seq"]))],
  ["msg delete", (nc) => call(nc, "$JS.API.STREAM.MSG.DELETE.S", { seq: 1 }).then((r) => shape(r, ["type", "success"]))],
  ["info", (nc) => call(nc, "$JS.API.STREAM.INFO.S").then((r) => shape(r, ["type", "state.messages", "state.bytes", "state.first_seq", "state.last_seq", "state.num_deleted", "state.num_subjects", "state.consumer_count"]))],
  ["names", (nc) => call(nc, "$JS.API.STREAM.NAMES", {}).then((r) => shape(r, ["type", "streams", "total", "offset", "limit"]))],
  ["consumer missing", (nc) => call(nc, "$JS.API.CONSUMER.INFO.S.nope").then((r) => shape(r))],
  ["consumer stream missing", (nc) => call(nc, "$JS.API.CONSUMER.INFO.NOPE.c").then((r) => shape(r))],
  ["durable", (nc) => call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", { stream_name: "S", config: { durable_name: "d", ack_policy: "explicit" } }).then((r) => shape(r, ["type", "name", "config.ack_wait", "config.max_ack_pending", "config.max_waiting", "config.deliver_policy", "num_pending", "delivered", "ack_floor"]))],
  ["update via create", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.S.d", { stream_name: "S", action: "create", config: { durable_name: "d", ack_policy: "explicit", max_deliver: 5 } }).then((r) => shape(r, ["config.max_deliver"]))],
  ["durable mismatch", (nc) => call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.S.d", { stream_name: "S", config: { durable_name: "e", ack_policy: "explicit" } }).then((r) => shape(r))],
  ["ephemeral with durable", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { durable_name: "e" } }).then((r) => shape(r))],
  ["no config", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S" }).then((r) => shape(r))],
  ["bad filter", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { filter_subject: "zzz" } }).then((r) => shape(r))],
  ["deliver cycle", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.S", { stream_name: "S", config: { deliver_subject: "s.loop" } }).then((r) => shape(r))],
  ["consumer names", (nc) => call(nc, "$JS.API.CONSUMER.NAMES.S", {}).then((r) => shape(r, ["type", "total"]))],
  ["wq", (nc) => call(nc, "$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["w.>"], retention: "workqueue" }).then((r) => shape(r, ["config.retention"]))],
  ["wq ack none", (nc) => call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.W.a", { stream_name: "W", config: { durable_name: "a", ack_policy: "none" } }).then((r) => shape(r))],
  ["wq first", (nc) => call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.W.a", { stream_name: "W", config: { durable_name: "a", ack_policy: "explicit" } }).then((r) => shape(r, ["name"]))],
  ["wq second unfiltered", (nc) => call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.W.b", { stream_name: "W", config: { durable_name: "b", ack_policy: "explicit" } }).then((r) => shape(r))],
  ["consumer delete", (nc) => call(nc, "$JS.API.CONSUMER.DELETE.S.d").then((r) => shape(r, ["type", "success"]))],
  ["purge", (nc) => call(nc, "$JS.API.STREAM.PURGE.S", {}).then((r) => shape(r, ["type", "success", "purged"]))],
  ["info after purge", (nc) => call(nc, "$JS.API.STREAM.INFO.S").then((r) => shape(r, ["state.messages", "state.first_seq", "state.last_seq"]))],
  ["stream delete", (nc) => call(nc, "$JS.API.STREAM.DELETE.S").then((r) => shape(r, ["type", "success"]))],
  ["small", (nc) => call(nc, "$JS.API.STREAM.CREATE.Z", { name: "Z", subjects: ["z.*"], max_msg_size: 64, max_msgs_per_subject: 2, allow_rollup_hdrs: true }).then((r) => shape(r, ["config.max_msg_size", "config.max_msgs_per_subject"]))],
  ["too big", (nc) => pubAck(nc, "z.a", "x".repeat(65))],
  ["z1", (nc) => pubAck(nc, "z.a", "1")],
  ["z2", (nc) => pubAck(nc, "z.a", "2")],
  ["z3", (nc) => pubAck(nc, "z.a", "3")],
  ["z4", (nc) => pubAck(nc, "z.b", "4", [["Nats-Msg-Id", "q"]])],
  // (An invalid Nats-Rollup value gets no reply at all from nats-server 2.9.10; Petrel answers 10111.)
  ["rollup sub", (nc) => pubAck(nc, "z.a", "6", [["Nats-Rollup", "sub"]])],
  ["z info", (nc) => call(nc, "$JS.API.STREAM.INFO.Z", { subjects_filter: ">" }).then((r) => shape(r, ["state.messages", "state.bytes", "state.first_seq", "state.last_seq", "state.num_deleted", "state.subjects"]))],
  ["z consumer", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.Z", { stream_name: "Z", config: { ack_policy: "explicit", deliver_policy: "last_per_subject" } }).then((r) => shape(r))],
  ["z consumer lps", (nc) => call(nc, "$JS.API.CONSUMER.CREATE.Z", { stream_name: "Z", config: { ack_policy: "explicit", deliver_policy: "last_per_subject", filter_subject: "z.*" } }).then((r) => shape(r, ["num_pending", "config.deliver_policy", "config.max_deliver", "config.replay_policy"]))],
  ["z purge keep", (nc) => call(nc, "$JS.API.STREAM.PURGE.Z", { filter: "z.a", keep: 0 }).then((r) => shape(r, ["success", "purged"]))],
  ["z seal", (nc) => call(nc, "$JS.API.STREAM.UPDATE.Z", { name: "Z", subjects: ["z.*"], max_msg_size: 64, max_msgs_per_subject: 2, allow_rollup_hdrs: true, sealed: true }).then((r) => shape(r, ["config.sealed"]))],
  ["z sealed pub", (nc) => pubAck(nc, "z.a", "7")],
  ["z sealed purge", (nc) => call(nc, "$JS.API.STREAM.PURGE.Z", {}).then((r) => shape(r))],
  ["z sealed delete", (nc) => call(nc, "$JS.API.STREAM.MSG.DELETE.Z", { seq: 4 }).then((r) => shape(r))],
  ["list", (nc) => call(nc, "$JS.API.STREAM.LIST", {}).then((r) => shape(r, ["type", "total", "offset", "limit"]))],
  ["account", (nc) => call(nc, "$JS.API.INFO").then((r) => shape(r, ["type", "streams", "consumers"]))],
];

describe("$JS.API differential: Petrel vs nats-server", () => {
  let ref: Side;
  let ours: Side;
  before(async () => {
    const n = await startServer("nats-server", { jetstream: true });
    const p = await startJsServer();
    ref = { nc: await connect({ servers: n.url, reconnect: false }), stop: () => n.stop() };
    ours = {
      nc: await connect({ servers: p.url, reconnect: false }),
      stop: async () => {
        await p.stop();
        removeDir(p.dir);
      },
    };
  });
  after(async () => {
    for (const s of [ref, ours]) {
      await s?.nc.close();
      await s?.stop();
    }
  });

  it("answers pull requests with the same messages and statuses", async () => {
    const run = async (nc: NatsConnection): Promise<string[]> => {
      await call(nc, "$JS.API.STREAM.CREATE.PULL", { name: "PULL", subjects: ["pull.*"] });
      for (let i = 1; i <= 3; i++) await pubAck(nc, "pull.a", `m${i}`);
      await call(nc, "$JS.API.CONSUMER.DURABLE.CREATE.PULL.c", { stream_name: "PULL", config: { durable_name: "c", ack_policy: "explicit", max_batch: 5 } });
      const out: string[] = [];
      const ask = async (body: unknown, waitMs: number) => {
        const inbox = `_INBOX.diff.${Math.random().toString(36).slice(2)}`;
        const sub = nc.subscribe(inbox, {
          callback: (_e, m) => {
            const code = m.headers?.code ?? 0;
            const tokens = m.reply ? m.reply.split(".") : [];
            out.push(code ? `status ${code} ${m.headers?.description ?? ""}` : `${m.subject} ${m.string()} ack-tokens=${tokens.length} dc=${tokens[4]} sseq=${tokens[5]} pending=${tokens[8]}`);
          },
        });
        nc.publish("$JS.API.CONSUMER.MSG.NEXT.PULL.c", JSON.stringify(body), { reply: inbox });
        await new Promise((r) => setTimeout(r, waitMs));
        sub.unsubscribe();
        out.push("--");
      };
      await ask({ batch: 2 }, 100);
      await ask({ batch: 9 }, 100);
      await ask({ batch: 3, no_wait: true }, 100);
      await ask({ batch: 3, no_wait: true }, 100);
      await ask({ batch: 1, expires: 100_000_000 }, 300);
      return out;
    };
    assert.deepEqual(await run(ours.nc), await run(ref.nc));
  });

  it("answers every request the way nats-server does", async () => {
    const diffs: string[] = [];
    for (const [name, step] of steps) {
      const a = await step(ref.nc).catch((e) => ({ failed: String(e) }));
      const b = await step(ours.nc).catch((e) => ({ failed: String(e) }));
      try {
        assert.deepEqual(b, a);
      } catch {
        diffs.push(`${name}: petrel ${JSON.stringify(b)} nats-server ${JSON.stringify(a)}`);
      }
    }
    assert.deepEqual(diffs, []);
  });
});
