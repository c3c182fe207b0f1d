// Differential: `websocket { authorization {} }` and `websocket { no_auth_user }` on nats-server 2.9.10 and on
// Petrel with the same conf files. WebSocket clients must present the WebSocket credentials (TCP clients do
// not), and a WebSocket client without credentials signs in as no_auth_user, in that user's account.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { forEachServer, type RunningServer, startServer } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";

const WS = `  listen: "127.0.0.1:-1"\n  no_tls: true\n`;

forEachServer(["nats-server", "petrel"], (kind) => {
  describe("websocket authorization", () => {
    let server: RunningServer | undefined;
    const conns: NatsConnection[] = [];
    before(async () => {
      server = await startServer(kind, { conf: `websocket {\n${WS}  authorization { user: wsu, password: wsp, timeout: 2 }\n}\n` });
    });
    after(async () => {
      await closeAll(conns);
      await server?.stop();
    });

    it("refuses WebSocket clients without the WebSocket credentials", async () => {
      const ws = `ws://127.0.0.1:${server!.wsPort}`;
      await assert.rejects(wsconnect({ servers: ws, reconnect: false, timeout: 3000 }), /Authorization Violation|AUTHORIZATION_VIOLATION/i);
      await assert.rejects(wsconnect({ servers: ws, reconnect: false, timeout: 3000, user: "wsu", pass: "nope" }), /Authorization Violation|AUTHORIZATION_VIOLATION/i);
      const ok = await wsconnect({ servers: ws, reconnect: false, timeout: 3000, user: "wsu", pass: "wsp" });
      conns.push(ok);
      const tcp = await connect({ servers: `127.0.0.1:${server!.port}`, reconnect: false });
      conns.push(tcp);
      const sub = tcp.subscribe("ws.to.tcp", { max: 1 });
      await tcp.flush();
      ok.publish("ws.to.tcp", te.encode("hi"));
      for await (const m of sub) assert.equal(td.decode(m.data), "hi");
    });
  });

  describe("websocket no_auth_user bound to an account", () => {
    let server: RunningServer | undefined;
    const conns: NatsConnection[] = [];
    before(async () => {
      server = await startServer(kind, {
        conf: `accounts {\n  A: { users: [{user: a, password: pa}] }\n  B: { users: [{user: b, password: pb}] }\n}\n` +
          `websocket {\n${WS}  no_auth_user: b\n}\n`,
      });
    });
    after(async () => {
      await closeAll(conns);
      await server?.stop();
    });

    it("signs in a WebSocket client without credentials as that user, in its account; TCP still needs credentials", async () => {
      const ws = await wsconnect({ servers: `ws://127.0.0.1:${server!.wsPort}`, reconnect: false, timeout: 3000 });
      conns.push(ws);
      await assert.rejects(connect({ servers: `127.0.0.1:${server!.port}`, reconnect: false }), /Authorization Violation|AUTHORIZATION_VIOLATION/i);
      const [a, b] = await Promise.all([
        connect({ servers: `127.0.0.1:${server!.port}`, reconnect: false, user: "a", pass: "pa" }),
        connect({ servers: `127.0.0.1:${server!.port}`, reconnect: false, user: "b", pass: "pb" }),
      ]);
      conns.push(a, b);
      const gotA: string[] = [];
      const gotB: string[] = [];
      a.subscribe("room", { callback: (_e, m) => void gotA.push(td.decode(m.data)) });
      b.subscribe("room", { callback: (_e, m) => void gotB.push(td.decode(m.data)) });
      await a.flush();
      await b.flush();
      ws.publish("room", te.encode("from ws"));
      await ws.flush();
      b.publish("room", te.encode("marker"));
      await b.flush();
      await a.flush();
      while (!gotB.includes("marker")) await b.flush();
      assert.deepEqual(gotB, ["from ws", "marker"]);
      assert.deepEqual(gotA, []);
    });
  });
});
