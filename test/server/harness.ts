/** In-process server over the memory transport, plus raw-protocol helpers for the server tests. */
import { applyDefaults, type OptionLayer } from "../../src/config/normalize.ts";
import { Server } from "../../src/server/server.ts";
import { createMemoryTransport, type MemoryNetwork, type MemoryNetworkOptions } from "../../transports/memory.ts";
import { openRaw, type RawConn } from "../../transports/raw_client.ts";
import type { Transport } from "../../src/transport/types.ts";
import { loadSchemas } from "../../src/config/schemas_on_demand.ts";

// Servers built here directly (not through startPetrel): the configuration schemas load first.
await loadSchemas();

export interface Harness {
  server: Server;
  network: MemoryNetwork;
  transport: Transport;
  /** Dial (optionally from another simulated node), wait for INFO, then send CONNECT unless `connect` is null. */
  client(connect?: Record<string, unknown> | null, node?: string): Promise<RawConn>;
  stop(): Promise<void>;
}

/** `extra`: options set after the defaults (sections the option layer does not carry yet, such as accounts). */
export async function startServer(layer: OptionLayer = {}, net: MemoryNetworkOptions = {}, extra: object = {}): Promise<Harness> {
  const { network, transport } = createMemoryTransport(net);
  const server = new Server({ ...applyDefaults({ host: "127.0.0.1", port: 0, ...layer }), ...extra }, { transport });
  await server.start();
  const conns: RawConn[] = [];
  return {
    server,
    network,
    transport,
    async client(connect = {}, node) {
      const t = node === undefined ? transport : network.node(node);
      const c = await openRaw(t, { host: "127.0.0.1", port: server.clientPort });
      conns.push(c);
      await c.waitFor(/^INFO .*\r\n/);
      if (connect !== null) c.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connect })}\r\n`);
      return c;
    },
    async stop() {
      for (const c of conns) if (!c.isClosed()) c.close();
      await server.shutdown();
    },
  };
}

/** Round-trip a PING so everything sent before it has been processed (and its output delivered). */
export async function sync(c: RawConn, timeoutMs = 2000): Promise<void> {
  const before = count(c.text(), "PONG\r\n");
  c.write("PING\r\n");
  await c.waitFor((t) => count(t, "PONG\r\n") > before, timeoutMs);
}

export function count(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

export interface Frame {
  op: "MSG" | "HMSG";
  subject: string;
  sid: string;
  reply?: string;
  hdr: number;
  payload: string;
}

/** Extract MSG/HMSG frames from received text (ASCII payloads), skipping other protocol lines. */
export function frames(text: string): Frame[] {
  const out: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const nl = text.indexOf("\r\n", i);
    if (nl === -1) break;
    const line = text.slice(i, nl);
    i = nl + 2;
    const parts = line.split(" ");
    if (parts[0] === "MSG") {
      const size = Number(parts.at(-1));
      out.push({ op: "MSG", subject: parts[1], sid: parts[2], reply: parts.length === 5 ? parts[3] : undefined, hdr: -1, payload: text.slice(i, i + size) });
      i += size + 2;
    } else if (parts[0] === "HMSG") {
      const size = Number(parts.at(-1));
      const hdr = Number(parts.at(-2));
      out.push({ op: "HMSG", subject: parts[1], sid: parts[2], reply: parts.length === 6 ? parts[3] : undefined, hdr, payload: text.slice(i, i + size) });
      i += size + 2;
    }
  }
  return out;
}

/** The INFO objects received so far. */
export function infos(text: string): Record<string, unknown>[] {
  return [...text.matchAll(/INFO (\{.*?\})\r\n/g)].map((m) => JSON.parse(m[1]) as Record<string, unknown>);
}
