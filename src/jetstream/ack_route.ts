/**
 * Where a consumer's acks are heard. A single server keeps one `$JS.ACK.>` subscription for all its consumers
 * (it stays on this server: one sublist entry, no interest to announce). In a JetStream cluster only the
 * server running a consumer (its group's leader) subscribes to that consumer's acks
 * (`$JS.ACK.<stream>.<consumer>.*.*.*.*.*`), from before it delivers until it stops running it, as nats-server
 * does: the interest crosses routes, gateways and leafnodes per consumer, so an ack travels to the leader only
 * instead of to every JetStream server.
 */
import type { Consumer } from "./consumer.ts";
import type { BusMsg, JsBus } from "./types.ts";

/**
 * The subscription that hears a consumer's acks: its deliveries' reply subjects, nats-server's nine tokens (the
 * same subject nats-server's consumer leader subscribes to, as its /subsz shows).
 */
export function ackInterest(stream: string, consumer: string): string {
  return `$JS.ACK.${stream}.${consumer}.*.*.*.*.*`;
}

/**
 * The stream sequence of an ack on `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`, whose
 * first `prefixLen` characters (`$JS.ACK.<stream>.<consumer>.`) are known; NaN when the rest is not that shape.
 */
export function ackSeqAfter(subject: string, prefixLen: number): number {
  const dot = subject.indexOf(".", prefixLen);
  if (dot < 0) return NaN;
  const end = subject.indexOf(".", dot + 1);
  if (end < 0) return NaN;
  // The three tokens after the stream sequence must be there too (nats-server's form has 9 tokens).
  let rest = 0;
  for (let i = subject.indexOf(".", end + 1); i >= 0; i = subject.indexOf(".", i + 1)) rest++;
  if (rest !== 2) return NaN;
  const seq = Number(subject.slice(dot + 1, end));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : NaN;
}

/** The per-consumer ack subscriptions of one engine in a cluster. */
export class AckRoutes {
  readonly #sids = new Map<Consumer, number>();

  constructor(readonly bus: JsBus, readonly deliver: (c: Consumer, sseq: number, m: BusMsg) => void) {}

  /** `c` runs here now (subscribe before it delivers) or no longer does. */
  set(c: Consumer, on: boolean): void {
    const sid = this.#sids.get(c);
    if (on) {
      if (sid !== undefined) return;
      const prefixLen = `$JS.ACK.${c.stream.name}.${c.name}.`.length;
      this.#sids.set(c, this.bus.subscribe(ackInterest(c.stream.name, c.name), (m) => {
        const sseq = ackSeqAfter(m.subject, prefixLen);
        if (!Number.isNaN(sseq)) this.deliver(c, sseq, m);
      }));
      // Its first delivery may cross a gateway straight from here while the ack interest still travels through
      // another server of the cluster: deliver once the interest is known there (cluster/read_barrier.ts).
      const spread = this.bus.afterInterestSpread;
      if (spread !== undefined) {
        c.hold(true);
        spread.call(this.bus, () => c.hold(false));
      }
      return;
    }
    if (sid === undefined) return;
    this.#sids.delete(c);
    this.bus.unsubscribe(sid);
  }

  has(c: Consumer): boolean {
    return this.#sids.has(c);
  }

  get size(): number {
    return this.#sids.size;
  }

  clear(): void {
    for (const sid of this.#sids.values()) this.bus.unsubscribe(sid);
    this.#sids.clear();
  }
}
