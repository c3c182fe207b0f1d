// Drives a server into the slow-consumer path: one subscriber stops reading while a publisher floods the
// subject and another subscriber keeps reading. Needs a server started with monitor: true and a small
// max_pending (the kernel's socket buffers absorb several MB first, so the flood is bounded at ~80 MB).
import { connectReady, type RawClient } from "./raw.ts";
import { monitorJson, type RunningServer, waitFor } from "./servers.ts";

export interface FloodOutcome {
  /** slow_consumers in /varz after minus before. */
  slowConsumersDelta: number;
  /** Connections left in /connz (the reading subscriber and the publisher when the stuck one was dropped). */
  connectionsLeft: number;
  /** The reading subscriber is still connected and received a message published after the drop. */
  goodStillServed: boolean;
  /** Messages published before the slow consumer was detected. */
  published: number;
}

interface Varz {
  slow_consumers: number;
}

export async function floodUntilSlowConsumer(server: RunningServer): Promise<FloodOutcome> {
  const opened: RawClient[] = [];
  const open = async () => {
    const { c } = await connectReady(server.port);
    opened.push(c);
    return c;
  };
  try {
    const stuck = await open();
    await stuck.send("SUB flood 1\r\nPING\r\n");
    await stuck.readUntil("PONG\r\n");
    stuck.pause();
    const good = await open();
    await good.send("SUB flood 1\r\nPING\r\n");
    await good.readUntil("PONG\r\n");
    const pub = await open();
    const size = 16 * 1024;
    const chunk = `PUB flood ${size}\r\n${"z".repeat(size)}\r\n`.repeat(64); // ~1 MB
    const start = (await monitorJson<Varz>(server, "/varz")).slow_consumers;
    let published = 0;
    let slow = start;
    for (let i = 0; i < 80 && slow === start; i++) {
      await pub.send(chunk + "PING\r\n");
      await pub.readUntil("PONG\r\n", 5000);
      published += 64;
      if (i % 4 === 3) slow = (await monitorJson<Varz>(server, "/varz")).slow_consumers;
    }
    slow = await waitFor("slow_consumers to increase", async () => {
      const v = await monitorJson<Varz>(server, "/varz");
      return v.slow_consumers > start ? v.slow_consumers : undefined;
    }, 3000).catch(() => start);
    const connz = await monitorJson<{ num_connections: number }>(server, "/connz");
    let goodStillServed = false;
    if (!good.closed()) {
      await pub.send("PUB flood 4\r\ndone\r\n");
      try {
        await good.readUntil("done\r\n", 10_000);
        await good.expectOpen();
        goodStillServed = true;
      } catch { /* reported as false */ }
    }
    return { slowConsumersDelta: slow - start, connectionsLeft: connz.num_connections, goodStillServed, published };
  } finally {
    for (const c of opened) c.close();
  }
}
