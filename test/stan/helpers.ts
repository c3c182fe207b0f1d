// node-nats-streaming (the official Node client) driven with promises: connect, publish with its PubAck,
// subscriptions whose messages are awaited as events.
import stan from "node-nats-streaming";

export type Stan = ReturnType<typeof stan.connect>;
export type StanSub = ReturnType<Stan["subscribe"]>;
export interface Received {
  seq: number;
  data: string;
  redelivered: boolean;
  count: number;
  time: number;
  msg: { ack(): void };
}

export function connectStan(url: string, clientID: string, opts: Record<string, unknown> = {}, clusterID = "test-cluster"): Promise<Stan> {
  const sc = stan.connect(clusterID, clientID, { url, ...opts });
  return new Promise((resolve, reject) => {
    sc.once("connect", () => resolve(sc));
    sc.once("error", (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
  });
}

export function closeStan(sc: Stan): Promise<void> {
  return new Promise((resolve) => {
    sc.once("close", () => resolve());
    sc.close();
  });
}

export function publish(sc: Stan, subject: string, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    sc.publish(subject, data, (err: Error | undefined, guid: string) => (err ? reject(err) : resolve(guid)));
  });
}

/** A subscription whose messages queue up; `next(n)` waits for the next n. */
export class Inbox {
  readonly all: Received[] = [];
  #read = 0;
  #waiters: Array<() => void> = [];
  readonly ready: Promise<void>;
  readonly failed: Promise<Error>;
  constructor(readonly sub: StanSub) {
    sub.on("message", (m: {
      getSequence(): number;
      getData(): string | Uint8Array;
      isRedelivered(): boolean;
      getRedeliveryCount(): number;
      getTimestamp(): Date;
      ack(): void;
    }) => {
      this.all.push({
        seq: m.getSequence(),
        data: String(m.getData()),
        redelivered: m.isRedelivered(),
        count: m.getRedeliveryCount(),
        time: m.getTimestamp().getTime(),
        msg: m,
      });
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    });
    this.ready = new Promise((resolve) => sub.once("ready", () => resolve()));
    this.failed = new Promise((resolve) => sub.once("error", (e: Error) => resolve(e)));
  }

  async next(n = 1): Promise<Received[]> {
    while (this.all.length - this.#read < n) await new Promise<void>((r) => this.#waiters.push(r));
    const out = this.all.slice(this.#read, this.#read + n);
    this.#read += n;
    return out;
  }

  /** Messages received but not yet read with next(). */
  get unread(): number {
    return this.all.length - this.#read;
  }
}

export function subscribe(sc: Stan, subject: string, opts?: ReturnType<Stan["subscriptionOptions"]>, qgroup?: string): Inbox {
  const sub = qgroup !== undefined ? sc.subscribe(subject, qgroup, opts) : sc.subscribe(subject, opts);
  return new Inbox(sub);
}

export function subReady(sc: Stan, subject: string, opts?: ReturnType<Stan["subscriptionOptions"]>, qgroup?: string): Promise<Inbox> {
  const inbox = subscribe(sc, subject, opts, qgroup);
  return Promise.race([inbox.ready.then(() => inbox), inbox.failed.then((e) => Promise.reject(e))]);
}

/** Closes (keeps a durable) or unsubscribes (removes it), resolving when the server answered. */
export function endSub(inbox: Inbox, how: "close" | "unsubscribe"): Promise<void> {
  return new Promise((resolve, reject) => {
    inbox.sub.once(how === "close" ? "closed" : "unsubscribed", () => resolve());
    inbox.sub.once("error", reject);
    if (how === "close") inbox.sub.close();
    else inbox.sub.unsubscribe();
  });
}

/**
 * Registers a STAN client over a plain NATS connection, then drops that connection: the server holds a client
 * that will never answer a heartbeat (a crashed application). Done with raw protobuf because closing
 * node-nats-streaming's NATS connection behind its back leaves its ping timer throwing later.
 */
export async function registerDeadClient(url: string, clientID: string, clusterID = "test-cluster"): Promise<void> {
  const { connect } = await import("nats");
  const { decode, encode } = await import("../../src/stan/proto.ts");
  const nc = await connect({ servers: url });
  try {
    const req = encode("ConnectRequest", {
      clientID,
      heartbeatInbox: `_INBOX.dead.${clientID}`,
      protocol: 1,
      connID: new TextEncoder().encode(`dead-${clientID}`),
      pingInterval: 5,
      pingMaxOut: 3,
    });
    const r = await nc.request(`_STAN.discover.${clusterID}`, req, { timeout: 5000 });
    const d = decode("ConnectResponse", r.data);
    if (!d.ok || (d.value.error ?? "") !== "") throw new Error(`connect failed: ${d.ok ? d.value.error : d.error}`);
  } finally {
    await nc.close();
  }
}
