// A loopback TCP proxy whose link can be cut and healed: tests put it between a leafnode and its hub (or any
// two servers) to break the connection without stopping either server.
import { createServer, type Server, type Socket, connect } from "node:net";

export interface LinkProxy {
  readonly port: number;
  readonly url: string;
  /** Connections carried so far (a redial through a healed proxy is one more). */
  readonly accepted: number;
  /** Drops every carried connection and refuses new ones (accepts and closes them) until `heal`. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export function startLinkProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<LinkProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let down = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      const cut = () => {
        down = true;
        for (const [c, u] of [...pairs]) {
          c.destroy();
          u.destroy();
        }
        pairs.clear();
      };
      resolve({
        port,
        url: `nats://127.0.0.1:${port}`,
        get accepted() {
          return accepted;
        },
        cut,
        heal() {
          down = false;
        },
        close() {
          cut();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}
