// The two sides of a JetStream differential test: nats-server with JetStream and an in-process Petrel with
// JetStream, each with one client connection, started together and stopped (store removed) together.
import { after, before } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startServer } from "./servers.ts";
import { removeDir, startJsServer } from "../jetstream/server.ts";

export interface JsSide {
  nc: NatsConnection;
  stop(): Promise<void>;
}

export interface JsSides {
  /** [nats-server, Petrel]: the reference first. */
  sides: JsSide[];
  /** Closes each connection and stops its server, the reference first; Petrel's store directory is removed. */
  stop(): Promise<void>;
}

/** Starts both sides; a side that started before a later one failed is stopped again before the error is thrown. */
export async function startJsSides(): Promise<JsSides> {
  const sides: JsSide[] = [];
  const stop = async () => {
    for (const s of sides.splice(0)) {
      await s.nc.close();
      await s.stop();
    }
  };
  try {
    const n = await startServer("nats-server", { jetstream: true });
    sides.push({ nc: await connect({ servers: n.url }), stop: () => n.stop() });
    const p = await startJsServer();
    sides.push({
      nc: await connect({ servers: p.url }),
      stop: async () => {
        await p.stop();
        removeDir(p.dir);
      },
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { sides, stop };
}

/**
 * For a describe block: starts both sides before its tests and stops them after. The returned array is filled
 * in by the before hook ([nats-server, Petrel]) and emptied by the after hook.
 */
export function useJsSides(): JsSide[] {
  const sides: JsSide[] = [];
  let both: JsSides | undefined;
  before(async () => {
    both = await startJsSides();
    sides.push(...both.sides);
  });
  after(async () => {
    sides.length = 0;
    await both?.stop();
  });
  return sides;
}
