// Bad operations requests against a 3-server JetStream cluster of nats-server 2.9.10 and one of Petrel, side by
// side: the same requests get the same answers (codes and descriptions), and nothing is created or moved.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type RunningServer, startServer, waitFor } from "../../helpers/servers.ts";
import { type JsCluster, startJsCluster, waitMetaLeader } from "../../jsraft/helpers.ts";
import { freePort, startOnFreePorts } from "../../helpers/ports.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const REQUESTS: Array<[string, unknown]> = [
  ["$JS.API.STREAM.CREATE.X3", { name: "X3", subjects: ["x3.>"], num_replicas: 3 }],
  ["$JS.API.STREAM.CREATE.X6", { name: "X6", subjects: ["x6.>"], num_replicas: 6 }],
  ["$JS.API.STREAM.CREATE.XN", { name: "XN", subjects: ["xn.>"], num_replicas: 1, placement: { cluster: "nowhere" } }],
  ["$JS.API.STREAM.CREATE.XT", { name: "XT", subjects: ["xt.>"], num_replicas: 1, placement: { tags: ["gpu", "ssd"] } }],
  ["$JS.API.STREAM.UPDATE.X3", { name: "X3", subjects: ["x3.>"], num_replicas: 5 }],
  ["$JS.API.STREAM.UPDATE.X3", { name: "X3", subjects: ["x3.>"], num_replicas: 3, placement: { cluster: "nowhere" } }],
  ["$JS.API.STREAM.UPDATE.X3", { name: "X3", subjects: ["x3.>"], num_replicas: 3, placement: { tags: ["gpu"] } }],
  ["$JS.API.STREAM.UPDATE.NOPE", { name: "NOPE", subjects: ["nope.>"], num_replicas: 3 }],
  ["$JS.API.STREAM.PEER.REMOVE.X3", "not json"],
  ["$JS.API.STREAM.PEER.REMOVE.X3", {}],
  ["$JS.API.STREAM.PEER.REMOVE.X3", { peer: "" }],
  ["$JS.API.STREAM.PEER.REMOVE.X3", { peer: 123 }],
  ["$JS.API.STREAM.PEER.REMOVE.X3", { peer: "nobody" }],
  ["$JS.API.STREAM.PEER.REMOVE.NOPE", { peer: "nobody" }],
  ["$JS.API.SERVER.REMOVE", "not json"],
  ["$JS.API.SERVER.REMOVE", {}],
  ["$JS.API.SERVER.REMOVE", { peer: 123 }],
  ["$JS.API.SERVER.REMOVE", { server: "nobody" }],
  ["$JS.API.STREAM.LEADER.STEPDOWN.NOPE", {}],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.NOPE.C", {}],
  ["$JS.API.CONSUMER.LEADER.STEPDOWN.X3.NOPE", {}],
  ["$JS.API.META.LEADER.STEPDOWN", "garbage"],
  ["$JS.API.STREAM.NAMES", {}],
];

async function answers(nc: NatsConnection): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [subject, body] of REQUESTS) {
    const payload = enc.encode(typeof body === "string" ? body : JSON.stringify(body));
    const r = JSON.parse(dec.decode((await nc.request(subject, payload, { timeout: 5000 })).data)) as Record<string, unknown>;
    // What matters: the error, or for successes the replica count / the names.
    if (r.error) out.push({ type: r.type, error: r.error });
    else if (Array.isArray(r.streams)) out.push({ type: r.type, streams: r.streams });
    else out.push({ type: r.type, num_replicas: (r.config as { num_replicas?: number } | undefined)?.num_replicas });
  }
  return out;
}

describe("cluster operations: bad requests, nats-server and Petrel side by side", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-ops-diff-"));
  const ref: RunningServer[] = [];
  let ours: JsCluster | undefined;
  const conns: NatsConnection[] = [];

  before(async () => {
    // nats-server's route ports picked as free; again on new ones if one was taken meanwhile.
    await startOnFreePorts(async (attempt) => {
      const ports = [await freePort(), await freePort(), await freePort()];
      const conf = (i: number) => `
server_name: n${i + 1}
jetstream { store_dir: "${join(dir, `a${attempt}`, `n${i + 1}`)}" }
cluster { name: c1, listen: 127.0.0.1:${ports[i]}, routes: [${ports.map((p) => `nats://127.0.0.1:${p}`).join(", ")}] }
`;
      const started = await Promise.allSettled([0, 1, 2].map((i) => startServer("nats-server", { conf: conf(i) })));
      for (const r of started) if (r.status === "fulfilled") ref.push(r.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    }, async () => {
      for (const s of ref.splice(0)) await s.stop().catch(() => {});
    });
    ours = await startJsCluster(3);
    await waitMetaLeader(ours, 20_000);
  });
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => {});
    for (const s of ref) await s.stop().catch(() => {});
    await ours?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers every request as nats-server 2.9.10 does", { timeout: 60_000 }, async () => {
    const theirs = await connect({ servers: ref[0].url });
    const mine = await connect({ servers: ours!.nodes[0]!.clientUrl });
    conns.push(theirs, mine);
    // nats-server's meta group can place an R3 stream once its leader has heard from both other servers, which can
    // come after it first answers account info ("no suitable peers for placement" for X3 in a loaded run): a probe
    // stream of three replicas is created (and deleted) before the comparison starts.
    await waitFor("nats-server's meta group placing three replicas", async () => {
      const probe = enc.encode(JSON.stringify({ name: "PROBE", subjects: ["probe.>"], num_replicas: 3 }));
      const r = await theirs.request("$JS.API.STREAM.CREATE.PROBE", probe, { timeout: 2000 }).catch(() => undefined);
      return r !== undefined && !("error" in JSON.parse(dec.decode(r.data)));
    }, 30_000, 100);
    const deleted = JSON.parse(dec.decode((await theirs.request("$JS.API.STREAM.DELETE.PROBE", undefined, { timeout: 5000 })).data));
    assert.equal(deleted.success, true, `the probe stream is gone again (${JSON.stringify(deleted)})`);
    const expected = await answers(theirs);
    assert.deepEqual(await answers(mine), expected);
    // The reference itself, so the comparison means something.
    assert.deepEqual(expected[3], {
      type: "io.nats.jetstream.api.v1.stream_create_response",
      error: { code: 400, err_code: 10005, description: "no suitable peers for placement, tags not matched ['gpu']" },
    });
    assert.deepEqual(expected[REQUESTS.length - 1], { type: "io.nats.jetstream.api.v1.stream_names_response", streams: ["X3"] });
  });
});
