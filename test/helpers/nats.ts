// Small conveniences around the official client for integration tests.
import { connect, type Msg, type NatsConnection, type NodeConnectionOptions, type Subscription } from "@nats-io/transport-node";
import type { RunningServer } from "./servers.ts";

/** Connects without reconnect attempts (a lost server surfaces as a close, not a hang). */
export function connectTo(server: RunningServer, opts: NodeConnectionOptions = {}): Promise<NatsConnection> {
  return connect({ servers: server.url, reconnect: false, timeout: 5000, ...opts });
}

/** Subscribes with a callback that collects every message; `until(n)` waits for at least n of them. */
export function collect(nc: NatsConnection, subject: string, opts: { queue?: string; max?: number } = {}): {
  sub: Subscription;
  msgs: Msg[];
  until(n: number, timeoutMs?: number): Promise<Msg[]>;
} {
  const msgs: Msg[] = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, msg) => {
      if (!err) msgs.push(msg);
    },
  });
  const until = async (n: number, timeoutMs = 3000): Promise<Msg[]> => {
    const deadline = Date.now() + timeoutMs;
    while (msgs.length < n) {
      if (Date.now() > deadline) throw new Error(`${subject}: got ${msgs.length} of ${n} messages`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return msgs;
  };
  return { sub, msgs, until };
}

export const te = new TextEncoder();
export const td = new TextDecoder();

/** Closes every connection, ignoring ones already closed. */
export async function closeAll(conns: Array<NatsConnection | undefined>): Promise<void> {
  await Promise.all(conns.map((nc) => (nc && !nc.isClosed() ? nc.close().catch(() => {}) : Promise.resolve())));
}

let markers = 0;

/**
 * Shows that what `pub` published before this call towards `sub` has all arrived — the way to show that something
 * did NOT arrive without sleeping: a marker published after it on the same path (client, servers, links, client)
 * arrives behind it. The marker goes out again every 20 ms until one arrives, since the marker's own interest may
 * still be crossing links; whichever arrives first was still published after everything before this call.
 * `prefix`: the marker subject's first tokens, for users whose permissions allow only some subjects.
 */
export async function markerThrough(pub: NatsConnection, sub: NatsConnection, timeoutMs = 5000, prefix = "_marker"): Promise<void> {
  const subject = `${prefix}.${++markers}.${Math.random().toString(36).slice(2)}`;
  let arrived = false;
  const s = sub.subscribe(subject, { callback: () => void (arrived = true) });
  try {
    await sub.flush();
    const deadline = Date.now() + timeoutMs;
    while (!arrived) {
      if (Date.now() > deadline) throw new Error(`no marker arrived on ${subject} within ${timeoutMs} ms`);
      pub.publish(subject);
      await pub.flush();
      for (let i = 0; i < 4 && !arrived; i++) await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    s.unsubscribe();
  }
}

/**
 * `markerThrough` between every ordered pair of `conns` (at once): once every server involved has delivered a
 * message locally, a copy sent straight or forwarded between any two of them arrives ahead of these markers.
 */
export async function markersBetween(conns: readonly NatsConnection[], timeoutMs = 5000): Promise<void> {
  const pairs: Array<[NatsConnection, NatsConnection]> = [];
  for (const p of conns) for (const s of conns) if (p !== s) pairs.push([p, s]);
  await Promise.all(pairs.map(([p, s]) => markerThrough(p, s, timeoutMs)));
}
