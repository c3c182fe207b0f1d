// Server lifecycle as clients see it: clean shutdown, lame-duck mode, reconnect after a restart.
import { it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { forEachServer, type RunningServer, sleep, startServer, tcpAccepts, waitFor } from "../helpers/servers.ts";
import { collect, connectTo, te } from "../helpers/nats.ts";
import { connectReady } from "../helpers/raw.ts";
import { freePort } from "../helpers/ports.ts";

function statusLog(nc: NatsConnection): string[] {
  const seen: string[] = [];
  (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) seen.push(s.type);
  })().catch(() => {});
  return seen;
}

forEachServer(["nats-server", "petrel"], (kind) => {
  it("SIGTERM closes client connections and the process exits", { timeout: 20_000 }, async () => {
    const server = await startServer(kind);
    let nc: NatsConnection | undefined;
    try {
      nc = await connectTo(server);
      const closed = nc.closed();
      await server.stop();
      const result = await Promise.race([closed, sleep(5000).then(() => "timeout")]);
      assert.notEqual(result, "timeout", "client never saw the connection close");
      assert.ok(nc.isClosed());
      // nats-server 2.9.10 exits with status 1 on SIGTERM (0 on SIGINT), and Deno's child_process reports a
      // SIGTERM-ed child as killed by the signal even when it exited by itself: only "no SIGKILL needed" is
      // checked here (stop() sends SIGKILL after 5 s).
      assert.notEqual(await server.exited, "SIGKILL", `had to be killed; logs:\n${server.logs()}`);
    } finally {
      await nc?.close().catch(() => {});
      await server.stop();
    }
  });

  it("SIGINT shuts down cleanly with exit status 0", { timeout: 20_000 }, async () => {
    const server = await startServer(kind);
    const { c } = await connectReady(server.port);
    try {
      await c.expectOpen();
      process.kill(server.pid, "SIGINT");
      await c.expectClosed(5000);
      const code = await Promise.race([server.exited, sleep(5000).then(() => "timeout")]);
      assert.equal(code, 0, `exit status; logs:\n${server.logs()}`);
    } finally {
      c.close();
      await server.stop();
    }
  });

  it("lame-duck mode (SIGUSR2) announces ldm in INFO, keeps current clients and stops accepting new connections", { timeout: 20_000 }, async () => {
    const server = await startServer(kind);
    let nc: NatsConnection | undefined;
    try {
      const { c } = await connectReady(server.port, { protocol: 1 });
      await c.expectOpen();
      nc = await connectTo(server);
      const statuses = statusLog(nc);
      const closed = nc.closed();
      process.kill(server.pid, "SIGUSR2");
      const line = await c.readUntil(/INFO [^\r\n]*\r\n/, 3000);
      const info = JSON.parse(line.slice(line.indexOf("INFO ") + 5)) as { ldm?: boolean };
      assert.equal(info.ldm, true);
      await waitFor("ldm status", () => statuses.includes("ldm"), 3000);
      await waitFor("listener closed", async () => !(await tcpAccepts(server.port, 500)), 3000);
      // Existing clients stay connected for now: nats-server 2.9 closes them over lame_duck_duration (at
      // least 30 s) and ignores SIGTERM meanwhile, so the test ends the process the hard way.
      assert.ok(!c.closed());
      await c.expectOpen();
      await server.kill9();
      await c.expectClosed(3000);
      const result = await Promise.race([closed, sleep(3000).then(() => "timeout")]);
      assert.notEqual(result, "timeout", "client never saw the connection close");
    } finally {
      await nc?.close().catch(() => {});
      await server.stop();
    }
  });

  it("a client reconnects after the server restarts on the same port and its subscriptions resume", { timeout: 20_000 }, async () => {
    // A fixed port from freePort: one read back from -1 is in the kernel's ephemeral range, where any outgoing
    // connection on the machine may take it while the server is down.
    let server: RunningServer = await startServer(kind, { port: await freePort() });
    let nc: NatsConnection | undefined;
    try {
      nc = await connectTo(server, { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      const statuses = statusLog(nc);
      const got = collect(nc, "restart.test");
      await nc.flush();
      nc.publish("restart.test", te.encode("before"));
      await got.until(1);
      const port = server.port;
      await server.stop();
      await waitFor("disconnect status", () => statuses.includes("disconnect"), 5000);
      server = await startServer(kind, { port });
      await waitFor("reconnect status", () => statuses.includes("reconnect"), 10_000);
      await nc.flush();
      nc.publish("restart.test", te.encode("after"));
      await got.until(2);
      assert.equal(new TextDecoder().decode(got.msgs[1].data), "after");
    } finally {
      await nc?.close().catch(() => {});
      await server.stop();
    }
  });
});
