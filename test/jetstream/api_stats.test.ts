// $JS.API.INFO's api.total and api.errors count what nats-server 2.9.10 counts: answered API requests, each
// after its answer (an INFO reports the requests before itself); pull requests, Direct Gets and subjects nobody
// serves are not counted, a failed message get is and a successful one is not. Same steps, both servers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { useJsSides } from "../helpers/js_sides.ts";

async function transcript(nc: NatsConnection): Promise<string[]> {
  /** A request; requests nats-server does not answer end by timing out, which is expected here. */
  const j = async (s: string, b?: unknown): Promise<Record<string, unknown> | undefined> => {
    const data = b === undefined ? "" : typeof b === "string" ? b : JSON.stringify(b);
    const m = await nc.request(s, data, { timeout: 500 }).catch(() => undefined);
    // Pulls and Direct Gets answer with the message or a status, not JSON.
    try {
      return m?.json<Record<string, unknown>>();
    } catch {
      return undefined;
    }
  };
  const api = async () => {
    const r = await j("$JS.API.INFO");
    const a = r?.api as { total: number; errors: number };
    return `${a.total}/${a.errors}`;
  };
  const out: string[] = [];
  out.push(`start ${await api()}`);
  out.push(`again ${await api()}`);
  await j("$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.*"], allow_direct: true });
  await j("$JS.API.STREAM.INFO.NOPE");
  out.push(`create and a failed info ${await api()}`);
  await nc.request("t.a", "x", { timeout: 5000 });
  await j("$JS.API.CONSUMER.DURABLE.CREATE.T.c", { stream_name: "T", config: { durable_name: "c", ack_policy: "explicit" } });
  out.push(`consumer ${await api()}`);
  for (let i = 0; i < 3; i++) await j("$JS.API.CONSUMER.MSG.NEXT.T.c", { batch: 1, no_wait: true });
  out.push(`3 pulls ${await api()}`);
  await j("$JS.API.DIRECT.GET.T", { seq: 1 });
  await j("$JS.API.DIRECT.GET.T", "");
  out.push(`2 direct gets ${await api()}`);
  await j("$JS.API.STREAM.FOO");
  await j("$JS.API.FOO");
  out.push(`2 unknown ${await api()}`);
  await j("$JS.API.STREAM.MSG.GET.T", { seq: 1 });
  out.push(`message get ${await api()}`);
  await j("$JS.API.STREAM.MSG.GET.T", { seq: 9 });
  out.push(`failed message get ${await api()}`);
  await j("$JS.API.STREAM.CREATE.U", "{bad");
  out.push(`bad JSON ${await api()}`);
  return out;
}

describe("JetStream API counters: nats-server vs Petrel", () => {
  const sides = useJsSides();

  it("count the same requests", { timeout: 30_000 }, async () => {
    const ref = await transcript(sides[0].nc);
    assert.equal(ref[0], "start 0/0", "the reference itself");
    assert.deepEqual(await transcript(sides[1].nc), ref);
  });
});
