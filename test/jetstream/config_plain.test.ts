/**
 * The zod-free parse of plain stream and consumer configs (src/jetstream/config_plain.ts) against the zod schemas it
 * stands in for: the same fields in the same order, and for generated configs either the schema's exact output
 * (values, defaults, key order) or a refusal that sends the config to zod. Then a fresh server that is asked to
 * create a plain stream and consumer, next to nats-server: the answers' configs agree.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { consumerConfigSchema, streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import {
  PLAIN_CONSUMER,
  PLAIN_STREAM,
  plainConsumerConfig,
  plainStreamConfig,
} from "../../src/jetstream/config_plain.ts";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";

/** A small deterministic generator (xorshift), so a failure names a reproducible seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Values a field may be given: good ones for every kind, and the wrong types, nulls and edges zod refuses. */
const CANDIDATES: unknown[] = [
  "file", "memory", "limits", "interest", "workqueue", "old", "new", "all", "last", "explicit", "none", "instant",
  "original", "by_start_sequence", "x", "", 0, 1, -1, 5, 120_000_000_000, 2 ** 53, 1.5, -0.5, true, false, null,
  [], ["a"], ["a", "b.>"], [1, 2], ["a", 1], [1.5], {}, { name: "M" }, { dest: "d" }, { a: "b" }, "1s",
];

function generate(fields: ReadonlyArray<readonly [string, unknown]>, r: () => number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = fields.map(([k]) => k);
  if (r() < 0.3) out.zzz_unknown = r() < 0.5 ? 1 : { nested: true };
  // Shuffled, each field absent half of the time; the value a plausible one more often than not.
  for (const k of keys.sort(() => r() - 0.5)) {
    if (r() < 0.5) continue;
    out[k] = CANDIDATES[Math.floor(r() * CANDIDATES.length)];
  }
  if (r() < 0.2) out.aaa_unknown = "kept";
  return out;
}

/** Each field given a value that fits it (as a client library sends them): mostly plain. */
function generateFitting(fields: ReadonlyArray<readonly [string, readonly [string, unknown, unknown?]]>, r: () => number) {
  const out: Record<string, unknown> = {};
  for (const [k, [mode, kind]] of fields) {
    if (r() < 0.4 || mode === "decline") continue;
    if (Array.isArray(kind)) out[k] = kind[Math.floor(r() * kind.length)];
    else if (kind === "string") out[k] = r() < 0.5 ? "n" + Math.floor(r() * 9) : "";
    else if (kind === "int") out[k] = Math.floor(r() * 2000) - 2;
    else if (kind === "bool") out[k] = r() < 0.5;
    else if (kind === "strings") out[k] = r() < 0.2 ? null : ["a." + Math.floor(r() * 5)];
    else if (kind === "ints") out[k] = r() < 0.2 ? null : [1_000_000_000, 2_000_000_000];
  }
  return out;
}

function compare(
  name: string,
  schema: typeof streamConfigSchema | typeof consumerConfigSchema,
  plain: (v: unknown) => unknown,
  input: unknown,
): "plain" | "zod" {
  const z = schema.safeParse(input);
  const p = plain(input);
  if (p === undefined) return "zod";
  assert.ok(z.success, `${name}: plain took what zod refuses: ${JSON.stringify(input)}`);
  assert.deepEqual(p, z.data, `${name}: ${JSON.stringify(input)}`);
  assert.equal(JSON.stringify(p), JSON.stringify(z.data), `${name} key order: ${JSON.stringify(input)}`);
  return "plain";
}

describe("plain configs without zod", () => {
  it("lists the schemas' fields in their order", () => {
    assert.deepEqual(PLAIN_STREAM.map(([k]) => k), Object.keys(streamConfigSchema.shape));
    assert.deepEqual(PLAIN_CONSUMER.map(([k]) => k), Object.keys(consumerConfigSchema.shape));
  });

  it("gives the schemas' output for what it takes, and declines the rest", () => {
    const r = rng(20261206);
    const taken = { stream: 0, consumer: 0 };
    for (let i = 0; i < 3000; i++) {
      const s = i % 2 === 0 ? generate(PLAIN_STREAM, r) : generateFitting(PLAIN_STREAM, r);
      if (compare("stream", streamConfigSchema, plainStreamConfig, s) === "plain") taken.stream++;
      const c = i % 2 === 0 ? generate(PLAIN_CONSUMER, r) : generateFitting(PLAIN_CONSUMER, r);
      if (compare("consumer", consumerConfigSchema, plainConsumerConfig, c) === "plain") taken.consumer++;
    }
    // Not a test that passes by declining everything: the fitting half is mostly taken.
    assert.ok(taken.stream > 1000 && taken.consumer > 1000, JSON.stringify(taken));
    // What libnats (natsbench) sends to create a stream, and what nats.js sends for a durable pull consumer.
    const libnats = {
      name: "BENCH", subjects: ["bench.js"], retention: "limits", max_consumers: -1, max_msgs: -1, max_bytes: -1,
      max_age: 0, max_msg_size: -1, max_msgs_per_subject: 0, discard: "old", storage: "file", num_replicas: 1,
    };
    assert.equal(compare("stream", streamConfigSchema, plainStreamConfig, libnats), "plain");
    const natsjs = { durable_name: "D", ack_policy: "explicit", deliver_policy: "all", replay_policy: "instant", max_deliver: -1 };
    assert.equal(compare("consumer", consumerConfigSchema, plainConsumerConfig, natsjs), "plain");
    // Nested schemas are zod's: a mirror, sources, republish, metadata, placement.
    for (const k of ["mirror", "sources", "republish", "metadata", "placement"]) {
      assert.equal(plainStreamConfig({ name: "S", [k]: k === "sources" ? [] : {} }), undefined, k);
    }
    assert.equal(plainStreamConfig(JSON.parse('{"name":"S","__proto__":{"x":1}}')), undefined);
  });
});

describe("plain stream and consumer create, Petrel next to nats-server", () => {
  const servers: Record<string, RunningServer> = {};
  const clients: Record<string, RawClient> = {};
  before(async () => {
    for (const kind of ["nats-server", "petrel"] as const) {
      servers[kind] = await startServer(kind, { jetstream: true });
      clients[kind] = (await connectReady(servers[kind].port)).c;
    }
  });
  after(async () => {
    for (const c of Object.values(clients)) c.close();
    for (const s of Object.values(servers)) await s.stop();
  });

  it("answers with the same configs", async () => {
    const pub = (subject: string, reply: string, body: unknown) => {
      const payload = JSON.stringify(body);
      return `PUB ${subject} ${reply} ${payload.length}\r\n${payload}\r\n`;
    };
    const got: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const kind of ["nats-server", "petrel"]) {
      const c = clients[kind];
      await c.send(
        "SUB r.> 1\r\n" +
          pub("$JS.API.STREAM.CREATE.P", "r.1", {
            name: "P", subjects: ["p.>"], retention: "limits", max_consumers: -1, max_msgs: -1, max_bytes: -1,
            max_age: 0, max_msg_size: -1, max_msgs_per_subject: 0, discard: "old", storage: "file", num_replicas: 1,
          }) +
          pub("$JS.API.CONSUMER.DURABLE.CREATE.P.D", "r.2", { stream_name: "P", config: { durable_name: "D", ack_policy: "explicit" } }) +
          pub("$JS.API.STREAM.CREATE.Q", "r.3", { name: "Q", subjects: ["q"], max_msgs: 1.5 }) +
          "PING\r\n",
      );
      const frames = new Map<string, Record<string, unknown>>();
      await c.readUntil(() => {
        const re = /MSG (\S+) \S+ (\d+)\r\n/g;
        const text = c.text();
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          const start = m.index + m[0].length;
          if (text.length >= start + Number(m[2])) frames.set(m[1], JSON.parse(text.slice(start, start + Number(m[2]))));
        }
        return frames.size === 3;
      }, 10_000);
      got[kind] = Object.fromEntries(frames);
    }
    const sameKeys = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      Object.fromEntries(Object.keys(a).filter((k) => k in b).map((k) => [k, b[k]]));
    const ns = got["nats-server"]["r.1"].config as Record<string, unknown>;
    const pe = got.petrel["r.1"].config as Record<string, unknown>;
    assert.deepEqual(sameKeys(ns, pe), ns, JSON.stringify({ ns, pe }));
    const nc = got["nats-server"]["r.2"].config as Record<string, unknown>;
    const pc = got.petrel["r.2"].config as Record<string, unknown>;
    for (const k of ["durable_name", "ack_policy", "deliver_policy", "ack_wait", "max_deliver", "replay_policy", "max_ack_pending"]) {
      assert.deepEqual(pc[k], nc[k], k);
    }
    // A float where an integer goes: both refuse it.
    assert.equal((got["nats-server"]["r.3"].error as { err_code?: number })?.err_code, 10025, JSON.stringify(got["nats-server"]["r.3"]));
    assert.equal((got.petrel["r.3"].error as { err_code?: number })?.err_code, 10025, JSON.stringify(got.petrel["r.3"]));
  });
});
