// Petrel for the WebSocket fan-out benchmark: TCP + WebSocket listeners on free loopback ports, printed as
// one JSON line. Run by bench_fanout.ts under Bun or Deno.
import { applyDefaults } from "../../src/config/normalize.ts";
import { Server } from "../../src/server/server.ts";
import { tcpTransport } from "../../transports/tcp.ts";
import { startWebSocket } from "../../transports/ws_server.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

const server = new Server(
  applyDefaults({
    host: "127.0.0.1",
    port: -1,
    websocket: {
      host: "127.0.0.1",
      port: -1,
      no_tls: true,
      same_origin: false,
      allowed_origins: [],
      compression: false,
      handshake_timeout: 2000,
    },
  }),
  { transport: tcpTransport },
);
await server.start();
const ws = await startWebSocket(server);
console.log(JSON.stringify({ tcp: server.clientPort, ws: ws?.port }));
