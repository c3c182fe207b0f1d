// A loopback TCP proxy whose link can be cut and healed: tests put it between a leafnode and its hub (or any
// two servers) to break the connection without stopping either server. It can also hold what crosses it in one
// direction for a fixed time (a slow link one way), keeping the order of the bytes, or hold it until released
// and then hand it on in one write (the far end reads it all in one chunk).
import { createServer, type Server, type Socket, connect } from "node:net";

export interface LinkProxy {
  readonly port: number;
  readonly url: string;
  /** Connections carried so far (a redial through a healed proxy is one more). */
  readonly accepted: number;
  /** Drops every carried connection and refuses new ones (accepts and closes them) until `heal`. */
  cut(): void;
  heal(): void;
  /** Changes how long each direction holds what crosses it from now on. */
  setDelays(d: LinkDelays): void;
  /** Holds everything that crosses in `direction` from now on until `release`. */
  hold(direction: LinkDirection): void;
  /** Hands on what was held in `direction` in one write per connection, and stops holding. */
  release(direction: LinkDirection): void;
  close(): Promise<void>;
}

export interface LinkDelays {
  /** Milliseconds every chunk from the dialer to the target is held. */
  toTargetMs?: number;
  /** Milliseconds every chunk from the target back to the dialer is held. */
  fromTargetMs?: number;
}

export type LinkDirection = "toTarget" | "fromTarget";

/**
 * `from` piped into `to`, each chunk held `ms()` first, in order (one timer for the head of the queue); while
 * `held()`, every chunk waits for the returned release, which writes them all at once.
 */
function delayedPipe(from: Socket, to: Socket, ms: () => number, held: () => boolean): () => void {
  const queue: { at: number; chunk: Buffer }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const drain = () => {
    timer = undefined;
    if (held()) return;
    const now = Date.now();
    while (queue.length > 0 && queue[0].at <= now) {
      if (!to.destroyed) to.write(queue.shift()!.chunk);
      else queue.shift();
    }
    if (queue.length > 0) timer = setTimeout(drain, queue[0].at - now);
  };
  from.on("data", (chunk: Buffer) => {
    if (held()) {
      queue.push({ at: 0, chunk });
      return;
    }
    const hold = ms();
    if (hold <= 0 && queue.length === 0) {
      to.write(chunk);
      return;
    }
    queue.push({ at: Date.now() + hold, chunk });
    if (timer === undefined) timer = setTimeout(drain, Math.max(0, queue[0].at - Date.now()));
  });
  from.on("close", () => {
    if (timer !== undefined) clearTimeout(timer);
    queue.length = 0;
  });
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0 || to.destroyed) return;
    to.write(Buffer.concat(queue.map((q) => q.chunk)));
    queue.length = 0;
  };
}

/**
 * `targetPort` may be a function, asked at each connection: the target may bind its port after the proxy
 * started (a connection before that is closed at once, and the dialer dials again).
 */
export function startLinkProxy(targetPort: number | (() => number), targetHost = "127.0.0.1", delays: LinkDelays = {}): Promise<LinkProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let down = false;
  let accepted = 0;
  const holding = { toTarget: false, fromTarget: false };
  const releases = { toTarget: new Set<() => void>(), fromTarget: new Set<() => void>() };
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    accepted++;
    const port = typeof targetPort === "number" ? targetPort : targetPort();
    if (port <= 0) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const releaseTo = delayedPipe(client, upstream, () => delays.toTargetMs ?? 0, () => holding.toTarget);
    const releaseFrom = delayedPipe(upstream, client, () => delays.fromTargetMs ?? 0, () => holding.fromTarget);
    releases.toTarget.add(releaseTo);
    releases.fromTarget.add(releaseFrom);
    const drop = () => {
      pairs.delete(pair);
      releases.toTarget.delete(releaseTo);
      releases.fromTarget.delete(releaseFrom);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
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
        setDelays(d) {
          delays = { ...d };
        },
        hold(direction) {
          holding[direction] = true;
        },
        release(direction) {
          holding[direction] = false;
          for (const r of releases[direction]) r();
        },
        close() {
          cut();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

export interface LinkGate {
  readonly port: number;
  readonly url: string;
  /** Carried connections that have ended (either side closed). */
  readonly ended: number;
  /** Connect the held connections, and every later one, to `targetPort`. */
  open(targetPort: number, targetHost?: string): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP gate: connections are accepted and held, unforwarded, until `open` names where they go. A dialer
 * behind a closed gate is connected but hears nothing, so a test decides exactly when each link's handshake runs
 * (a gate can be listed in a server's configuration before the server it leads to is started).
 */
export function startLinkGate(): Promise<LinkGate> {
  const held: Socket[] = [];
  const pairs = new Set<[Socket, Socket]>();
  let target: { host: string; port: number } | undefined;
  let ended = 0;
  const forward = (client: Socket, to: { host: string; port: number }) => {
    const upstream = connect(to);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      if (!pairs.delete(pair)) return;
      ended++;
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server: Server = createServer((client) => {
    if (target !== undefined) forward(client, target);
    else {
      client.on("error", () => client.destroy());
      held.push(client);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      resolve({
        port,
        url: `nats://127.0.0.1:${port}`,
        get ended() {
          return ended;
        },
        open(targetPort, targetHost = "127.0.0.1") {
          target = { host: targetHost, port: targetPort };
          for (const c of held.splice(0)) if (!c.destroyed) forward(c, target);
        },
        close() {
          for (const c of held.splice(0)) c.destroy();
          for (const [c, u] of [...pairs]) {
            c.destroy();
            u.destroy();
          }
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}
