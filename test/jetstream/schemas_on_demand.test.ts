/**
 * JetStream's config schemas (zod) load at the first API request of a server that has no stored streams
 * (src/jetstream/schemas_on_demand.ts). The requests that come while they load must be answered in their order,
 * and validation must be what it was. A fresh server process: in-process tests share the loaded schemas.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { connectReady, type RawClient } from "../helpers/raw.ts";

/** The MSG frames received so far: reply subject -> parsed JSON payload. */
function answers(text: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const re = /MSG (\S+) \S+ (\d+)\r\n/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index + m[0].length;
    out.set(m[1], JSON.parse(text.slice(start, start + Number(m[2]))));
  }
  return out;
}

const pub = (subject: string, reply: string, body: unknown) => {
  const payload = body === undefined ? "" : JSON.stringify(body);
  return `PUB ${subject} ${reply} ${payload.length}\r\n${payload}\r\n`;
};

describe("JetStream schemas loaded on demand", () => {
  let server: RunningServer;
  let c: RawClient;
  before(async () => {
    server = await startServer("petrel", { jetstream: true });
    ({ c } = await connectReady(server.port));
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("answers requests sent back to back before the schemas loaded, in order, validated as before", async () => {
    // One write: the create loads the schemas (its `sources` is not a plain config, see config_plain.ts); the
    // info, the consumer and the bad create come while they load.
    await c.send(
      "SUB r.> 1\r\n" +
        pub("$JS.API.STREAM.CREATE.S", "r.1", { name: "S", subjects: ["s.>"], sources: [] }) +
        pub("$JS.API.STREAM.INFO.S", "r.2", undefined) +
        pub("$JS.API.CONSUMER.DURABLE.CREATE.S.C", "r.3", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } }) +
        pub("$JS.API.STREAM.CREATE.T", "r.4", { name: "T", subjects: "t" }) +
        pub("$JS.API.CONSUMER.DURABLE.CREATE.S.D", "r.5", { stream_name: "S", config: { durable_name: "D", ack_wait: "1s" } }) +
        "PING\r\n",
    );
    await c.readUntil(() => answers(c.text()).size === 5, 10_000);
    const a = answers(c.text());
    assert.equal(a.get("r.1")?.error, undefined, JSON.stringify(a.get("r.1")));
    assert.equal((a.get("r.2")?.config as { name?: string })?.name, "S", JSON.stringify(a.get("r.2")));
    assert.equal(a.get("r.3")?.name, "C", JSON.stringify(a.get("r.3")));
    // Refused by the schemas, as nats-server refuses what its JSON decoder cannot take.
    for (const r of ["r.4", "r.5"]) {
      assert.deepEqual(a.get(r)?.error, { code: 400, err_code: 10025, description: "invalid JSON" }, r);
    }
  });
});
