/**
 * The chaos workload: publishers that retry every unacknowledged publish with the same Nats-Msg-Id, a pull
 * consumer that acks (and notes any acknowledged message delivered again), and KV clients that record every
 * operation with its call and return time for the linearizability checker. Everything is recorded, nothing
 * is asserted here: the checker judges at the end.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { HistoryOp } from "../../src/raft/kv/linearizability.ts";
import type { Random } from "../../src/raft/types.ts";
import { sleep } from "../helpers/servers.ts";

export const STREAM = "ORDERS";
export const BUCKET = "CHAOS";
export const CONSUMER = "WORKER";

const now = () => performance.now();

export function clientConnect(servers: string[], name: string): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    pingInterval: 1000,
    maxPingOut: 2,
    timeout: 2000,
  });
}

/** One sequential publisher: message n is published (and retried) until acknowledged before n+1. */
export class Publisher {
  /** id -> acknowledged stream sequence. */
  readonly acked = new Map<string, number>();
  /** Ids in publish order, the last one possibly never acknowledged. */
  readonly attempted: string[] = [];
  retries = 0;
  /** Acks that named a different sequence for an id already acknowledged (must never happen). */
  readonly ackMismatch: string[] = [];
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(readonly index: number, private readonly js: JetStreamClient) {}

  start(): void {
    this.#done = this.#run();
  }

  async #run(): Promise<void> {
    for (let n = 1; !this.#stop; n++) {
      const id = `p${this.index}-${n}`;
      this.attempted.push(id);
      // After stop() the message in hand still gets up to 30 s to be acknowledged.
      let giveUp = Infinity;
      while (now() < giveUp) {
        try {
          const ack = await this.js.publish(`orders.${this.index}`, id, { msgID: id, timeout: 2000 });
          const prev = this.acked.get(id);
          if (prev !== undefined && prev !== ack.seq) this.ackMismatch.push(`${id}: ${prev} then ${ack.seq}`);
          this.acked.set(id, ack.seq);
          break;
        } catch {
          this.retries++;
          if (this.#stop && giveUp === Infinity) giveUp = now() + 30_000;
          await sleep(50);
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

export interface Redelivery {
  seq: number;
  ackedAt: number;
  fetchedAt: number;
  /** Consumer sequence and delivery count of the delivery that was acked, and of the one that came again. */
  first: string;
  again: string;
}

/** A pull consumer that acks every message and waits for the server's confirmation of each ack. */
export class Worker {
  /** stream seq -> time the server confirmed the ack. */
  readonly confirmed = new Map<number, number>();
  /** stream seq -> "dseq/delivery count" of the delivery that was acked. */
  readonly #how = new Map<number, string>();
  readonly redelivered: Redelivery[] = [];
  delivered = 0;
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(public js: JetStreamClient) {}

  start(): void {
    this.#done = this.#run();
  }

  /** The last error a pull ended with (for the report when the consumer gets stuck). */
  lastError = "";

  async #run(): Promise<void> {
    while (!this.#stop) {
      await this.pullOnce(100, 1000).catch((e) => {
        this.lastError = String(e);
        return sleep(100);
      });
    }
  }

  /** One fetch; returns how many messages it got. */
  async pullOnce(max: number, expires: number): Promise<number> {
    const c = await this.js.consumers.get(STREAM, CONSUMER);
    const fetchedAt = now();
    const batch = await c.fetch({ max_messages: max, expires });
    let got = 0;
    const acks: Promise<void>[] = [];
    for await (const m of batch) {
      got++;
      this.delivered++;
      const ackedAt = this.confirmed.get(m.seq);
      // Only a fetch issued after the ack was confirmed proves the server delivered past its ack floor.
      const how = `dseq ${m.info.deliverySequence}/count ${m.info.deliveryCount}`;
      if (ackedAt !== undefined && ackedAt < fetchedAt) {
        this.redelivered.push({ seq: m.seq, ackedAt, fetchedAt, first: this.#how.get(m.seq) ?? "?", again: how });
      }
      acks.push(m.ackAck({ timeout: 2000 }).then((ok) => {
        if (ok && !this.confirmed.has(m.seq)) {
          this.confirmed.set(m.seq, now());
          this.#how.set(m.seq, how);
        }
      }, () => { /* unconfirmed: it may come again, legitimately */ }));
    }
    await Promise.all(acks);
    return got;
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

function isDefiniteFailure(e: unknown): boolean {
  const s = String(e instanceof Error ? e.message : e);
  // Refused by the stream (CAS mismatch) or nobody listening: the write did not happen.
  return /wrong last sequence|10071|no responders|503/i.test(s);
}

/** A KV client doing gets (through the stream leader), puts and compare-and-sets on a few keys. */
export class KvClient {
  readonly history: HistoryOp[] = [];
  /** How the failed operations failed (message -> count), for a report that finds too few operations. */
  readonly errors = new Map<string, number>();
  /** Last value read per key, with its revision (for the next CAS). */
  readonly #seen = new Map<string, { value: string | null; rev: number }>();
  #stop = false;
  #done: Promise<void> | undefined;
  #n = 0;

  constructor(readonly index: number, private readonly kv: KV, private readonly keys: string[], private readonly rand: Random) {}

  start(): void {
    this.#done = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stop) {
      const key = this.keys[Math.floor(this.rand() * this.keys.length)];
      const r = this.rand();
      if (r < 0.4) await this.get(key);
      else if (r < 0.7) await this.put(key);
      else await this.cas(key);
      await sleep(5 + Math.floor(this.rand() * 15));
    }
  }

  async get(key: string): Promise<void> {
    const call = now();
    try {
      const e = await this.kv.get(key, undefined);
      const value = e && e.operation === "PUT" ? e.string() : null;
      this.#seen.set(key, { value, rev: e?.revision ?? 0 });
      this.history.push({ key, op: { kind: "get" }, call, ret: now(), output: { value, ok: true } });
    } catch (e) {
      // A failed read changes nothing: left out.
      this.#failed("get", e);
    }
  }

  async put(key: string): Promise<void> {
    const value = `k${this.index}.${++this.#n}`;
    const call = now();
    try {
      await this.kv.put(key, value);
      this.history.push({ key, op: { kind: "put", value }, call, ret: now(), output: { value, ok: true } });
    } catch (e) {
      this.#failed("put", e);
      if (!isDefiniteFailure(e)) this.history.push({ key, op: { kind: "put", value }, call, ret: Infinity, output: null });
    }
  }

  async cas(key: string): Promise<void> {
    const seen = this.#seen.get(key) ?? { value: null, rev: 0 };
    const value = `k${this.index}.${++this.#n}`;
    const call = now();
    try {
      if (seen.rev === 0) await this.kv.create(key, value);
      else await this.kv.update(key, value, seen.rev);
      this.history.push({ key, op: { kind: "cas", expect: seen.value, value }, call, ret: now(), output: { value, ok: true } });
    } catch (e) {
      this.#failed("cas", e);
      // A refused CAS changed nothing (values are unique, so revision and value match one to one): left out.
      if (!isDefiniteFailure(e)) {
        this.history.push({ key, op: { kind: "cas", expect: seen.value, value }, call, ret: Infinity, output: null });
      }
    }
  }

  #failed(op: string, e: unknown): void {
    // Numbers out (a refused CAS names the key's last sequence): one line per kind of failure.
    const what = `${op}: ${String(e instanceof Error ? e.message : e).slice(0, 80).replace(/\d+/g, "N")}`;
    this.errors.set(what, (this.errors.get(what) ?? 0) + 1);
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

export async function setupStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  await jsm.streams.add({ name: STREAM, subjects: ["orders.>"], num_replicas: 3, duplicate_window: 120_000_000_000 });
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: 10_000_000_000 });
  await new Kvm(nc).create(BUCKET, { replicas: 3, history: 1, allow_direct: false });
}

export async function openKv(nc: NatsConnection): Promise<KV> {
  return await new Kvm(nc).open(BUCKET);
}

export { jetstream, jetstreamManager };
