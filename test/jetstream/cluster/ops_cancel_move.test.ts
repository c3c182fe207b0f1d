// `$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.<account>.<stream>` (system account) against a 3-server cluster of
// nats-server 2.9.10 and one of Petrel, side by side: what the operator is told when there is nothing to cancel
// (no move in progress, no such stream, no such account), and (a difference on purpose) an account's own client.
// The cancel of a move in progress is tested on Petrel in ops_move_consumer (a move held by a consumer).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer, waitFor } from "../../helpers/servers.ts";
import { type ProcessCluster, processClusterConf, startProcessCluster } from "../../jsraft/helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const NAMES = ["n1", "n2", "n3"];
const ACCOUNTS = `accounts {
  A { jetstream: enabled, users: [{user: a, password: a}] }
  SYS { users: [{user: sys, password: sys}] }
}
system_account: SYS
`;

/** The answers (or "no answer: <error>") to the operator's and an account's requests. */
async function answers(url: string): Promise<unknown[]> {
  const sys = await connect({ servers: url, user: "sys", pass: "sys" });
  const a = await connect({ servers: url, user: "a", pass: "a" });
  try {
    // An R3 stream once the meta group can place it (every server heard).
    await waitFor("stream X", async () => {
      const body = enc.encode(JSON.stringify({ name: "X", subjects: ["x.>"], num_replicas: 3 }));
      const r = await a.request("$JS.API.STREAM.CREATE.X", body, { timeout: 2000 }).catch(() => undefined);
      return r !== undefined && !("error" in JSON.parse(dec.decode(r.data)));
    }, 30_000, 100);
    const ask = async (nc: NatsConnection, subject: string) => {
      const r = await nc.request(subject, undefined, { timeout: 3000 }).then((m) => JSON.parse(dec.decode(m.data)), (e: Error) => `no answer: ${e.message}`);
      return { subject, r };
    };
    return [
      await ask(sys, "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.X"),
      await ask(sys, "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.NOPE"),
      await ask(sys, "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.NOPE.X"),
      await ask(a, "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.X"),
    ];
  } finally {
    await sys.close();
    await a.close();
  }
}

describe("CANCEL_MOVE with nothing to cancel, nats-server and Petrel side by side", () => {
  const dir = mkdtempSync(join(tmpdir(), "petrel-cancel-move-"));
  const ref: RunningServer[] = [];
  let ours: ProcessCluster | undefined;

  before(async () => {
    const conf = await processClusterConf("c1", NAMES, dir, ACCOUNTS);
    const started = await Promise.allSettled(NAMES.map((_, i) => startServer("nats-server", { conf: conf(i) })));
    for (const r of started) if (r.status === "fulfilled") ref.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    ours = await startProcessCluster("c1", NAMES, ACCOUNTS);
  });
  after(async () => {
    for (const s of ref) await s.stop().catch(() => {});
    await ours?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers as nats-server 2.9.10 does", { timeout: 90_000 }, async () => {
    const expected = await answers(ref[0].url);
    const got = await answers(ours!.servers[0]!.url);
    // The reference itself, so that the comparison means something.
    assert.deepEqual(expected[0], {
      subject: "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.X",
      r: { type: "io.nats.jetstream.api.v1.stream_update_response", error: { code: 400, err_code: 10129, description: "stream move not in progress" } },
    });
    assert.deepEqual(got.slice(0, 3), expected.slice(0, 3));
    // One difference, on purpose: nats-server 2.9.10 takes the operator's request from any account's client too
    // (its JetStream API import carries `$JS.API.ACCOUNT.>` into the system account), so a user of one account
    // can cancel another account's move. Petrel takes it from the system account only (fail closed); an account's
    // client gets no answer (bounded by the request's timeout: there is no later message on its path to wait for).
    assert.deepEqual(expected[3], { subject: "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.X", r: (expected[0] as { r: unknown }).r });
    assert.deepEqual(got[3], { subject: "$JS.API.ACCOUNT.STREAM.CANCEL_MOVE.A.X", r: "no answer: timeout" });
  });
});
