// JetStream API checks and echoes against nats-server 2.9.10: the same raw requests to both servers, the whole
// responses compared (minus what is unique per server: timestamps and generated names).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { useJsSides } from "../helpers/js_sides.ts";

type J = Record<string, unknown>;
const VOLATILE = new Set(["created", "ts", "first_ts", "last_ts"]);

/** Sorted keys, volatile fields gone; ephemeral consumer names (random) replaced by a marker. */
function canon(v: unknown, ephemeral = false): unknown {
  if (Array.isArray(v)) return v.map((x) => canon(x, ephemeral));
  if (v && typeof v === "object") {
    const o = v as J;
    const eph = ephemeral || (typeof o.config === "object" && o.config !== null && !(o.config as J).durable_name &&
      "stream_name" in o);
    const out: J = {};
    for (const k of Object.keys(o).sort()) {
      if (VOLATILE.has(k)) continue;
      out[k] = k === "name" && eph && "stream_name" in o ? "<ephemeral>" : canon(o[k], false);
    }
    return out;
  }
  return v;
}

async function call(nc: NatsConnection, label: string, subject: string, body?: unknown): Promise<unknown> {
  const data = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  if (label.startsWith("no answer")) {
    // Requests nats-server does not serve get no answer at all (the client times out).
    const answered = await nc.request(subject, data, { timeout: 500 }).then(() => true, () => false);
    return answered ? "answered" : "no answer";
  }
  const m = await nc.request(subject, data, { timeout: 5000 });
  if (m.headers && m.data.length === 0) return `status ${m.headers.code} ${m.headers.description}`;
  return m.json();
}

const steps: Array<[string, string, unknown?]> = [
  ["stream A", "$JS.API.STREAM.CREATE.A", { name: "A", subjects: ["foo.*"] }],
  ["stream B (direct)", "$JS.API.STREAM.CREATE.B", { name: "B", subjects: ["bar.>"], allow_direct: true }],
  ["pub B", "bar.x", "hello"],
  // discard_new_per_subject needs discard: new, then max_msgs_per_subject
  ["dnps without discard new", "$JS.API.STREAM.CREATE.C", { name: "C", subjects: ["c.>"], discard_new_per_subject: true, max_msgs_per_subject: 1 }],
  ["dnps without limit", "$JS.API.STREAM.CREATE.C", { name: "C", subjects: ["c.>"], discard: "new", discard_new_per_subject: true }],
  ["dnps ok", "$JS.API.STREAM.CREATE.C", { name: "C", subjects: ["c.>"], discard: "new", discard_new_per_subject: true, max_msgs_per_subject: 2 }],
  // replicas: refused on create, taken on update (single server, 2.9.10), bounded and non-negative
  ["create R3", "$JS.API.STREAM.CREATE.T", { name: "T", num_replicas: 3 }],
  ["create R6", "$JS.API.STREAM.CREATE.T", { name: "T", num_replicas: 6 }],
  ["create R-1", "$JS.API.STREAM.CREATE.T", { name: "T", num_replicas: -1 }],
  ["update R3", "$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["foo.*"], num_replicas: 3 }],
  ["info after R3", "$JS.API.STREAM.INFO.A"],
  ["update R6", "$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["foo.*"], num_replicas: 6 }],
  ["update R0", "$JS.API.STREAM.UPDATE.A", { name: "A", subjects: ["foo.*"], num_replicas: 0 }],
  ["consumer R3", "$JS.API.CONSUMER.DURABLE.CREATE.A.r", { stream_name: "A", config: { durable_name: "r", num_replicas: 3 } }],
  ["consumer R2 before other errors", "$JS.API.CONSUMER.DURABLE.CREATE.A.r", { stream_name: "A", config: { durable_name: "r", num_replicas: 2, max_waiting: -1 } }],
  ["consumer R-1", "$JS.API.CONSUMER.DURABLE.CREATE.A.r", { stream_name: "A", config: { durable_name: "r", num_replicas: -1 } }],
  ["consumer R1, mem_storage false", "$JS.API.CONSUMER.DURABLE.CREATE.A.r1", { stream_name: "A", config: { durable_name: "r1", num_replicas: 1, mem_storage: false } }],
  // the name in the subject is compared with durable_name
  ["legacy durable mismatch", "$JS.API.CONSUMER.DURABLE.CREATE.A.x", { stream_name: "A", config: { durable_name: "y" } }],
  ["create durable mismatch", "$JS.API.CONSUMER.CREATE.A.x", { stream_name: "A", config: { durable_name: "y" } }],
  ["create name differs", "$JS.API.CONSUMER.CREATE.A.x", { stream_name: "A", config: { name: "y" } }],
  ["create name ok, durable differs", "$JS.API.CONSUMER.CREATE.A.z", { stream_name: "A", config: { name: "z", durable_name: "y" } }],
  ["consumer names", "$JS.API.CONSUMER.NAMES.A"],
  // echoes: defaults and omit-empty
  ["ephemeral pull", "$JS.API.CONSUMER.CREATE.A", { stream_name: "A", config: { ack_policy: "explicit" } }],
  ["ephemeral push", "$JS.API.CONSUMER.CREATE.A", { stream_name: "A", config: { deliver_subject: "dd" } }],
  ["durable push, zero values", "$JS.API.CONSUMER.DURABLE.CREATE.A.dp", { stream_name: "A", config: { durable_name: "dp", deliver_subject: "dd2", ack_policy: "explicit", flow_control: false, headers_only: false, idle_heartbeat: 0, max_ack_pending: 0 } }],
  ["durable mem", "$JS.API.CONSUMER.DURABLE.CREATE.A.m", { stream_name: "A", config: { durable_name: "m", mem_storage: true, ack_policy: "all", inactive_threshold: 1_000_000_000 } }],
  ["info mem", "$JS.API.CONSUMER.INFO.A.m"],
  // subject filters intersect
  ["names *.A", "$JS.API.STREAM.NAMES", { subject: "*.A" }],
  ["names bar.x", "$JS.API.STREAM.NAMES", { subject: "bar.x" }],
  ["names >", "$JS.API.STREAM.NAMES", { subject: ">" }],
  ["list *.A", "$JS.API.STREAM.LIST", { subject: "*.A" }],
  // Direct Get statuses
  ["direct empty", "$JS.API.DIRECT.GET.B", ""],
  ["direct {}", "$JS.API.DIRECT.GET.B", {}],
  ["direct null", "$JS.API.DIRECT.GET.B", "null"],
  ["direct seq 0", "$JS.API.DIRECT.GET.B", { seq: 0 }],
  ["direct bad json", "$JS.API.DIRECT.GET.B", "{bad"],
  ["direct number", "$JS.API.DIRECT.GET.B", "5"],
  ["direct seq -1", "$JS.API.DIRECT.GET.B", { seq: -1 }],
  ["direct seq string", "$JS.API.DIRECT.GET.B", { seq: "1" }],
  ["direct seq 1.5", "$JS.API.DIRECT.GET.B", { seq: 1.5 }],
  ["direct seq+last", "$JS.API.DIRECT.GET.B", { seq: 1, last_by_subj: "bar.x" }],
  ["direct last+next", "$JS.API.DIRECT.GET.B", { last_by_subj: "bar.x", next_by_subj: "bar.x" }],
  ["direct missing", "$JS.API.DIRECT.GET.B", { seq: 9 }],
  // audit: creates and updates
  ["create with empty body", "$JS.API.STREAM.CREATE.E", ""],
  ["create sealed", "$JS.API.STREAM.CREATE.Q", { name: "Q", sealed: true }],
  ["republish cycle", "$JS.API.STREAM.CREATE.R2", { name: "R2", subjects: ["r2.>"], republish: { src: "r2.>", dest: "r2.x.>" } }],
  ["mem stream", "$JS.API.STREAM.CREATE.M", { name: "M", subjects: ["m.>"], storage: "memory", description: "d", deny_delete: true }],
  ["source", "$JS.API.STREAM.CREATE.SRC", { name: "SRC", sources: [{ name: "M" }] }],
  ["mirror", "$JS.API.STREAM.CREATE.MIR", { name: "MIR", mirror: { name: "M" } }],
  ["wildcard stream", "$JS.API.STREAM.CREATE.W", { name: "W", subjects: ["*"] }],
  ["pub m.a", "m.a", "1"],
  ["pub m.b", "m.b", "22"],
  ["info subjects_filter", "$JS.API.STREAM.INFO.M", { subjects_filter: "m.*" }],
  ["info deleted_details, none", "$JS.API.STREAM.INFO.M", { deleted_details: true }],
  ["push consumer, stream captures *", "$JS.API.CONSUMER.CREATE.M", { stream_name: "M", config: { deliver_subject: "p1", flow_control: true, idle_heartbeat: 5_000_000_000 } }],
  ["update: deny_delete dropped", "$JS.API.STREAM.UPDATE.M", { name: "M", storage: "memory" }],
  ["names past the end", "$JS.API.STREAM.NAMES", { offset: 100 }],
  ["list past the end", "$JS.API.STREAM.LIST", { offset: 100 }],
  ["consumer names past the end", "$JS.API.CONSUMER.NAMES.A", { offset: 100 }],
  ["no answer: unknown stream verb", "$JS.API.STREAM.FOO.M"],
  ["no answer: unknown consumer verb", "$JS.API.CONSUMER.FOO.M"],
  ["no answer: direct get, stream without allow_direct", "$JS.API.DIRECT.GET.A", { seq: 1 }],
  ["no answer: direct get, no such stream", "$JS.API.DIRECT.GET.NOPE", { seq: 1 }],
];

describe("JetStream API checks and echoes: nats-server vs Petrel", () => {
  const sides = useJsSides();

  it("answers every step as nats-server does", async () => {
    const results: unknown[][] = [[], []];
    for (const [i, s] of sides.entries()) {
      for (const [label, subject, body] of steps) results[i].push(canon(await call(s.nc, label, subject, body)));
    }
    const differ = steps.flatMap(([label], k) =>
      JSON.stringify(results[1][k]) === JSON.stringify(results[0][k])
        ? []
        : [`${label}:\n  nats-server ${JSON.stringify(results[0][k])}\n  petrel      ${JSON.stringify(results[1][k])}`]
    );
    assert.deepEqual(differ, []);
    // Spot checks of the reference itself, so the test pins what the issue describes.
    const at = (label: string) => results[0][steps.findIndex(([l]) => l === label)] as J;
    assert.equal((at("dnps without discard new").error as J).description, "discard new per subject requires discard new policy to be set");
    assert.equal((at("create durable mismatch").error as J).description, "consumer name in subject does not match durable name in request");
    assert.deepEqual(at("names *.A").streams, ["A", "B", "C"]); // foo.*, bar.> and c.> all meet *.A
    assert.equal(at("direct empty"), "status 408 Empty Request");
    assert.equal(((at("ephemeral pull").config) as J).inactive_threshold, 5_000_000_000);
    assert.equal("mem_storage" in (at("consumer R1, mem_storage false").config as J), false);
  });
});
