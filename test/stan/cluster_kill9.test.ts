// The design documents' clustered NATS Streaming scenario with real processes: three Petrel servers started
// from conf files (`cluster {}` for routes plus `streaming { cluster { node_id, peers, log_path } }`). The
// publisher is connected to the leader's server, which is killed with SIGKILL: its NATS connection moves to
// another server by itself, a new leader takes over, the publisher goes on, the subscriber on a follower gets
// every acknowledged message once and in order; the killed server restarts from its Raft log and catches up.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeStan, connectStan, publish, type Stan, subReady } from "./helpers.ts";

const IDS = ["a", "b", "c"];

interface Serverz {
  role?: string;
  total_msgs: number;
}

async function serverz(s: RunningServer): Promise<Serverz | undefined> {
  try {
    const r = await fetch(`${s.monitorUrl}/streaming/serverz`);
    return (await r.json()) as Serverz;
  } catch {
    return undefined;
  }
}

async function waitLeader(servers: RunningServer[]): Promise<RunningServer> {
  let leader: RunningServer | undefined;
  await waitFor("one STAN leader", async () => {
    const roles = await Promise.all(servers.map(async (s) => (await serverz(s))?.role));
    const leaders = servers.filter((_, i) => roles[i] === "Leader");
    leader = leaders.length === 1 ? leaders[0] : undefined;
    return leader !== undefined;
  }, 15_000);
  if (leader === undefined) throw new Error("no leader");
  return leader;
}

describe("clustered NATS Streaming: kill -9 of the leader (processes)", () => {
  it("goes on through another server with no acknowledged message lost, and the killed one catches up", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-stank9-"));
    const servers: (RunningServer | undefined)[] = [undefined, undefined, undefined];
    const clients: Stan[] = [];
    const conf = (i: number, routes: number[]) => `
server_name: ${IDS[i]}
cluster {
  name: stan
  listen: 127.0.0.1:-1
  routes: [${routes.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
streaming {
  cluster_id: test-cluster
  store: file
  dir: "${join(dir, IDS[i], "store")}"
  cluster {
    node_id: ${IDS[i]}
    peers: [${IDS.filter((x) => x !== IDS[i]).join(", ")}]
    log_path: "${join(dir, IDS[i], "raft")}"
  }
}
`;
    const start = (i: number, routes: number[]) => startServer("petrel", { conf: conf(i, routes), monitor: true });
    try {
      servers[0] = await start(0, []);
      const p0 = servers[0].clusterPort ?? 0;
      servers[1] = await start(1, [p0]);
      servers[2] = await start(2, [p0, servers[1].clusterPort ?? 0]);
      const all = servers as RunningServer[];
      const leader = await waitLeader(all);
      const follower = all.find((s) => s !== leader) as RunningServer;
      const urls = all.map((s) => s.url);

      // The publisher on the leader's server (with every server's URL to reconnect to), the subscriber on a follower.
      const nats = { reconnectTimeWait: 100, maxReconnectAttempts: -1, ackTimeout: 3_000 };
      const pub = await connectStan(leader.url, "k9-pub", { ...nats, servers: [leader.url, ...urls.filter((u) => u !== leader.url)] });
      clients.push(pub);
      const subc = await connectStan(follower.url, "k9-sub", nats);
      clients.push(subc);
      const inbox = await subReady(subc, "k9", subc.subscriptionOptions().setDeliverAllAvailable().setDurableName("d"));
      const acked: string[] = [];
      for (let i = 1; i <= 5; i++) {
        await publish(pub, "k9", `m${i}`);
        acked.push(`m${i}`);
      }

      const gone = servers.indexOf(leader);
      await leader.kill9();
      servers[gone] = undefined;
      const rest = servers.filter((s): s is RunningServer => s !== undefined);
      await waitLeader(rest);
      // A publish sent while no leader served times out at the client (as with nats-streaming-server): the
      // application sends it again. Bounded: a few attempts per message.
      for (let i = 6; i <= 10; i++) {
        for (let attempt = 1;; attempt++) {
          try {
            await publish(pub, "k9", `m${i}`);
            break;
          } catch (err) {
            if (attempt >= 3) throw err;
          }
        }
        acked.push(`m${i}`);
      }
      const got: string[] = [];
      while (got.length < acked.length) {
        for (const m of await inbox.next(1)) if (!got.includes(m.data)) got.push(m.data);
      }
      assert.deepEqual(got, acked, "every acknowledged message, once, in order");

      // The killed server restarts from its log (routes to the others) and holds the same messages.
      const back = await start(gone, rest.map((s) => s.clusterPort ?? 0));
      servers[gone] = back;
      await waitFor("the restarted server caught up", async () => (await serverz(back))?.total_msgs === 10, 15_000);
      assert.equal((await serverz(back))?.role, "Follower");
    } finally {
      await Promise.all(clients.map((sc) => closeStan(sc).catch(() => {})));
      await Promise.all(servers.map((s) => s?.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
