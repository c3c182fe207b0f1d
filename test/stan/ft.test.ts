// NATS Streaming's fault-tolerance mode with real processes: two Petrel servers routed into one NATS cluster
// share one file store and one `ft_group`. The first becomes active (holds the store lock), the second stands
// by without serving STAN. The active is killed with SIGKILL: the standby stops hearing its heartbeats, takes
// the lock, loads the store and serves; the client (connected to the standby's NATS server) goes on, the
// messages published before are still there and the durable subscriber gets everything once, in order.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeStan, connectStan, publish, type Stan, subReady } from "./helpers.ts";

async function serverz(s: RunningServer): Promise<{ total_msgs: number } | undefined> {
  try {
    const r = await fetch(`${s.monitorUrl}/streaming/serverz`);
    if (!r.ok) {
      await r.body?.cancel();
      return undefined;
    }
    return (await r.json()) as { total_msgs: number };
  } catch {
    return undefined;
  }
}

describe("NATS Streaming fault tolerance (ft_group)", () => {
  it("a standby takes over the shared store when the active server is killed", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-stanft-"));
    const servers: (RunningServer | undefined)[] = [undefined, undefined];
    const clients: Stan[] = [];
    const conf = (name: string, routes: number[]) => `
server_name: ${name}
cluster {
  name: ft
  listen: 127.0.0.1:-1
  routes: [${routes.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]
}
streaming {
  cluster_id: test-cluster
  store: file
  dir: "${join(dir, "store")}"
  ft_group: grp
}
`;
    try {
      const a = await startServer("petrel", { conf: conf("a", []), monitor: true });
      servers[0] = a;
      await waitFor("the first server active", async () => (await serverz(a)) !== undefined, 15_000);
      const b = await startServer("petrel", { conf: conf("b", [a.clusterPort ?? 0]), monitor: true });
      servers[1] = b;
      await waitFor("the route between them", async () => {
        const r = await fetch(`${b.monitorUrl}/routez`);
        return ((await r.json()) as { num_routes: number }).num_routes >= 1;
      }, 15_000);

      const nats = { reconnectTimeWait: 100, maxReconnectAttempts: -1, ackTimeout: 3_000 };
      const pub = await connectStan(b.url, "ft-pub", nats);
      clients.push(pub);
      const inbox = await subReady(pub, "ft", pub.subscriptionOptions().setDeliverAllAvailable().setDurableName("d"));
      const acked: string[] = [];
      for (let i = 1; i <= 5; i++) {
        await publish(pub, "ft", `m${i}`);
        acked.push(`m${i}`);
      }
      const got: string[] = [];
      while (got.length < 5) for (const m of await inbox.next(1)) if (!got.includes(m.data)) got.push(m.data);
      // The standby serves nothing: its monitor has no streaming section, and the store was served by `a`.
      assert.equal(await serverz(b), undefined, "the standby does not serve STAN");
      assert.equal((await serverz(a))?.total_msgs, 5);

      const killedAt = Date.now();
      await a.kill9();
      servers[0] = undefined;
      await waitFor("the standby active", async () => (await serverz(b)) !== undefined, 30_000);
      assert.equal((await serverz(b))?.total_msgs, 5, "the messages published before are in the store it loaded");
      // A publish sent while no server was active times out at the client: the application sends it again.
      for (let i = 6; i <= 10; i++) {
        for (let attempt = 1;; attempt++) {
          try {
            await publish(pub, "ft", `m${i}`);
            break;
          } catch (err) {
            if (attempt >= 3) throw err;
          }
        }
        acked.push(`m${i}`);
      }
      while (got.length < acked.length) for (const m of await inbox.next(1)) if (!got.includes(m.data)) got.push(m.data);
      assert.deepEqual(got, acked, "every acknowledged message, once, in order");
      assert.ok(Date.now() - killedAt < 30_000, "the take-over is bounded");

      // A new client through the new active sees the whole channel.
      const late = await connectStan(b.url, "ft-late", nats);
      clients.push(late);
      const all = await subReady(late, "ft", late.subscriptionOptions().setDeliverAllAvailable());
      assert.deepEqual((await all.next(10)).map((m) => m.data), acked);
    } finally {
      await Promise.all(clients.map((sc) => closeStan(sc).catch(() => {})));
      await Promise.all(servers.map((s) => s?.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
