/**
 * What a replicated consumer's Raft log says, in bytes, and how a replica applies it. The consumer's leader
 * logs each change of its bookkeeping as it happens (acks.ts tells an `AckJournal`), as nats-server's consumer
 * group proposes delivered and ack updates: a delivery (stream seq, consumer seq, delivery count, time), an ack,
 * a message given up without an ack, a pending message's ack wait restarted (+WPI, a delayed nak). An entry is a
 * batch of such events; every replica applies them in log order to its copy of the state, times taken from the
 * entry, never from its own clock. The whole state is written only as a snapshot (compaction, a replica catching
 * up) or, rarely, as a `state` entry (a consumer adopted by its first leader).
 *
 * Bytes: varints, sequences and times as differences from the event before in the same entry, so a delivery
 * takes ~4 bytes and an ack ~2, and a run of consecutive ones (a pull batch, acks in order) ~2 bytes in all (the
 * JSON state of before was ~30 bytes per pending message per entry).
 */
import * as acks from "../acks.ts";
import { type ConsumerState, consumerStateOf } from "../consumer.ts";

/** One change of a consumer's replicated state. */
export type ConsumerEvent =
  | {
    readonly k: "d";
    readonly sseq: number;
    readonly dseq: number;
    readonly dc: number;
    readonly ts: number;
    readonly redelivery: boolean;
    readonly awaitAck: boolean;
  }
  | { readonly k: "a"; readonly sseq: number }
  | { readonly k: "x"; readonly sseq: number }
  | { readonly k: "t"; readonly sseq: number; readonly ts: number };

/** A consumer group's log entry: events, or (adoption, older logs) the whole state. */
export type ConsumerCmd =
  | { readonly op: "delta"; readonly events: readonly ConsumerEvent[] }
  | { readonly op: "state"; readonly state: ConsumerState };

const TAG_NONE = 0, TAG_DELTA = 1, TAG_STATE = 2;
const EV_ACK = 0x20, EV_DROP = 0x30, EV_TIME = 0x40, EV_DELIVER = 0x50;
/**
 * Runs: `n` more events like the one before, each one stream and consumer seq further (deliveries: at the same
 * time, first deliveries) — a pull batch delivered in one pass, acks taken in order, in a few bytes.
 */
const EV_ACK_RUN = 0x60, EV_DELIVER_RUN = 0x70;
/** Flags of a delivery event, in its tag's low bits. */
const F_REDELIVERY = 1, F_NO_ACK = 2, F_DC = 4;
const OPEN_BRACE = 0x7b, LETTER_N = 0x6e;
const dec = new TextDecoder();

// ---- varints (unsigned up to 2^53, zigzag for differences) ----

class Out {
  buf: Uint8Array;
  len = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }
  #room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): void {
    this.#room(1);
    this.buf[this.len++] = b;
  }
  uint(v: number): void {
    this.#room(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  int(v: number): void {
    this.uint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class In {
  o: number;
  constructor(readonly b: Uint8Array, o: number) {
    this.o = o;
  }
  get done(): boolean {
    return this.o >= this.b.length;
  }
  byte(): number {
    if (this.o >= this.b.length) throw new RangeError("truncated consumer entry");
    return this.b[this.o++];
  }
  uint(): number {
    let v = 0, mul = 1;
    for (;;) {
      const c = this.byte();
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
      if (mul > 2 ** 56) throw new RangeError("varint too long in consumer entry");
    }
  }
  int(): number {
    const z = this.uint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/** Times are whole milliseconds in the log (a replica's ack deadlines need no finer). */
const ms = (t: number): number => Math.round(t);

/**
 * Collects the leader's events into the bytes of its next entry as they happen (no object per event). `take()`
 * hands over the entry and starts the next one.
 */
export class DeltaWriter implements acks.AckJournal {
  #out = new Out(256);
  #s = 0;
  #d = 0;
  #t = 0;
  #events = 0;
  /** The last event written could be continued by a run: its kind (an ack, a plain delivery) and flags. */
  #last: "a" | "d" | "" = "";
  #lastNoAck = false;
  /** Events continuing the last one, not written yet. */
  #run = 0;

  get empty(): boolean {
    return this.#events === 0;
  }

  #endRun(): void {
    if (this.#run === 0) return;
    this.#out.byte(this.#last === "a" ? EV_ACK_RUN : EV_DELIVER_RUN | (this.#lastNoAck ? F_NO_ACK : 0));
    this.#out.uint(this.#run);
    this.#run = 0;
  }

  #begin(ts: number): void {
    this.#endRun();
    if (this.#events++ > 0) return;
    this.#out.byte(TAG_DELTA);
    this.#t = ms(ts);
    this.#out.uint(this.#t);
  }

  #seq(sseq: number): void {
    this.#out.int(sseq - this.#s);
    this.#s = sseq;
  }

  #time(ts: number): void {
    const t = ms(ts);
    this.#out.int(t - this.#t);
    this.#t = t;
  }

  delivered(sseq: number, dseq: number, dc: number, ts: number, redelivery: boolean, awaitAck: boolean): void {
    if (
      this.#last === "d" && sseq === this.#s + 1 && dseq === this.#d + 1 && dc === 1 && !redelivery && ms(ts) === this.#t &&
      this.#lastNoAck === !awaitAck
    ) {
      this.#s = sseq;
      this.#d = dseq;
      this.#run++;
      return;
    }
    this.#begin(ts);
    this.#last = dc === 1 && !redelivery ? "d" : "";
    this.#lastNoAck = !awaitAck;
    const o = this.#out;
    o.byte(EV_DELIVER | (redelivery ? F_REDELIVERY : 0) | (awaitAck ? 0 : F_NO_ACK) | (dc !== 1 ? F_DC : 0));
    this.#seq(sseq);
    o.int(dseq - this.#d);
    this.#d = dseq;
    if (dc !== 1) o.uint(dc);
    this.#time(ts);
  }

  acked(sseq: number): void {
    if (this.#last === "a" && sseq === this.#s + 1) {
      this.#s = sseq;
      this.#run++;
      return;
    }
    this.#begin(0);
    this.#last = "a";
    this.#out.byte(EV_ACK);
    this.#seq(sseq);
  }

  dropped(sseq: number): void {
    this.#begin(0);
    this.#last = "";
    this.#out.byte(EV_DROP);
    this.#seq(sseq);
  }

  timed(sseq: number, ts: number): void {
    this.#begin(ts);
    this.#last = "";
    this.#out.byte(EV_TIME);
    this.#seq(sseq);
    this.#time(ts);
  }

  /** The entry collected so far (an empty delta when nothing happened), and a fresh one begins. */
  take(): Uint8Array {
    if (this.#events === 0) return new Uint8Array([TAG_DELTA, 0]);
    this.#endRun();
    const b = this.#out.bytes();
    this.clear();
    return b;
  }

  /** Forgets what was collected (the leader lost its leadership: a successor resumes from the log). */
  clear(): void {
    // A burst's big buffer is not kept for the quiet that follows.
    if (this.#out.buf.length > 1 << 16) this.#out = new Out(256);
    this.#out.len = 0;
    this.#s = this.#d = this.#t = this.#events = this.#run = 0;
    this.#last = "";
  }
}

export function encodeConsumerCmd(c: ConsumerCmd): Uint8Array {
  const o = new Out();
  if (c.op === "state") {
    o.byte(TAG_STATE);
    writeState(o, c.state);
    return o.bytes();
  }
  const w = new DeltaWriter();
  for (const e of c.events) {
    switch (e.k) {
      case "d":
        w.delivered(e.sseq, e.dseq, e.dc, e.ts, e.redelivery, e.awaitAck);
        break;
      case "a":
        w.acked(e.sseq);
        break;
      case "x":
        w.dropped(e.sseq);
        break;
      case "t":
        w.timed(e.sseq, e.ts);
    }
  }
  return w.take();
}

/** A log entry's command; an Error for bytes that are not one (a corrupted log is a bug, the caller throws). */
export function decodeConsumerCmd(b: Uint8Array): ConsumerCmd | Error {
  try {
    if (b.length === 0) return new Error("empty consumer entry");
    if (b[0] === OPEN_BRACE) {
      // A log written before entries were deltas: the whole state as JSON.
      const v = JSON.parse(dec.decode(b)) as ConsumerCmd;
      if (v?.op !== "state" || typeof v.state !== "object" || v.state === null) return new Error("not a consumer command");
      return v;
    }
    const r = new In(b, 1);
    if (b[0] === TAG_STATE) return { op: "state", state: readState(r) };
    if (b[0] !== TAG_DELTA) return new Error(`unknown consumer entry tag ${b[0]}`);
    const events: ConsumerEvent[] = [];
    let t = r.uint(), s = 0, d = 0;
    while (!r.done) {
      const tag = r.byte();
      const kind = tag & 0xf0;
      if (kind === EV_ACK_RUN || kind === EV_DELIVER_RUN) {
        const n = r.uint();
        const prev = events[events.length - 1];
        if (n > 1 << 24 || prev === undefined || prev.k !== (kind === EV_ACK_RUN ? "a" : "d")) return new Error("a run follows nothing it can continue");
        for (let i = 0; i < n; i++) {
          s++;
          if (kind === EV_ACK_RUN) events.push({ k: "a", sseq: s });
          else events.push({ k: "d", sseq: s, dseq: ++d, dc: 1, ts: t, redelivery: false, awaitAck: (tag & F_NO_ACK) === 0 });
        }
        continue;
      }
      s += r.int();
      switch (kind) {
        case EV_ACK:
          events.push({ k: "a", sseq: s });
          break;
        case EV_DROP:
          events.push({ k: "x", sseq: s });
          break;
        case EV_TIME:
          t += r.int();
          events.push({ k: "t", sseq: s, ts: t });
          break;
        case EV_DELIVER: {
          d += r.int();
          const dc = (tag & F_DC) !== 0 ? r.uint() : 1;
          t += r.int();
          events.push({ k: "d", sseq: s, dseq: d, dc, ts: t, redelivery: (tag & F_REDELIVERY) !== 0, awaitAck: (tag & F_NO_ACK) === 0 });
          break;
        }
        default:
          return new Error(`unknown consumer event ${tag}`);
      }
    }
    return { op: "delta", events };
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

// ---- the whole state (snapshots) ----

function writeState(o: Out, st: ConsumerState): void {
  o.uint(st.cursor);
  o.uint(st.delivered.consumer_seq);
  o.uint(st.delivered.stream_seq);
  o.uint(st.ack_floor.consumer_seq);
  o.uint(st.ack_floor.stream_seq);
  o.uint(st.num_redelivered);
  const pending = st.pending.slice().sort((a, b) => a[0] - b[0]);
  o.uint(pending.length);
  let s = 0, d = 0, t = 0;
  for (const [sseq, dseq, time, dc] of pending) {
    o.int(sseq - s);
    o.int(dseq - d);
    o.int(ms(time) - t);
    o.uint(dc);
    s = sseq;
    d = dseq;
    t = ms(time);
  }
}

function readState(r: In): ConsumerState {
  const cursor = r.uint();
  const delivered = { consumer_seq: r.uint(), stream_seq: r.uint() };
  const ack_floor = { consumer_seq: r.uint(), stream_seq: r.uint() };
  const num_redelivered = r.uint();
  const n = r.uint();
  const pending: Array<[number, number, number, number]> = [];
  let s = 0, d = 0, t = 0;
  for (let i = 0; i < n; i++) {
    s += r.int();
    d += r.int();
    t += r.int();
    pending.push([s, d, t, r.uint()]);
  }
  return { cursor, delivered, ack_floor, pending, num_redelivered };
}

/** A snapshot's bytes: the whole state (or none yet). */
export function encodeConsumerSnapshot(st: ConsumerState | undefined): Uint8Array {
  const o = new Out(64 + (st?.pending.length ?? 0) * 8);
  if (!st) {
    o.byte(TAG_NONE);
    return o.bytes();
  }
  o.byte(TAG_STATE);
  writeState(o, st);
  return o.bytes();
}

export function decodeConsumerSnapshot(b: Uint8Array): ConsumerState | undefined | Error {
  try {
    if (b.length === 0 || b[0] === TAG_NONE) return undefined;
    // Snapshots written before they were bytes: JSON (`null` or the state).
    if (b[0] === OPEN_BRACE || b[0] === LETTER_N) return (JSON.parse(dec.decode(b)) as ConsumerState | null) ?? undefined;
    if (b[0] !== TAG_STATE) return new Error(`unknown consumer snapshot tag ${b[0]}`);
    return readState(new In(b, 1));
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

// ---- a replica's copy of the state ----

/** What a replica holds of the consumer: the bookkeeping (acks.ts) and where new deliveries go on from. */
export interface ReplicatedConsumer {
  readonly book: acks.AckState;
  cursor: number;
}

export function replicated(st: ConsumerState): ReplicatedConsumer {
  return { book: acks.restoreAckState(st), cursor: st.cursor };
}

export function snapshotOf(r: ReplicatedConsumer): ConsumerState {
  return consumerStateOf(r.book, r.cursor);
}

/**
 * Applies one event. `released` sees each stream seq the consumer no longer needs (acked, or delivered without
 * acks), for interest and work-queue retention. Throws when a delivery does not move the consumer sequence on
 * (a replica applied something twice or out of order).
 */
export function applyEvent(r: ReplicatedConsumer, e: ConsumerEvent, released: (seq: number) => void, where: string): void {
  const b = r.book;
  switch (e.k) {
    case "d":
      if (e.dseq <= b.dseq) throw new Error(`${where}: delivered consumer seq went backwards (${b.dseq} -> ${e.dseq})`);
      acks.bookDelivery(b, e.sseq, e.dseq, e.dc, e.redelivery, e.awaitAck, e.ts);
      if (e.sseq >= r.cursor) r.cursor = e.sseq + 1;
      if (!e.awaitAck) released(e.sseq);
      return;
    case "a":
      acks.ack(b, e.sseq, false, released);
      return;
    case "x":
      acks.forgetRemoved(b, [e.sseq]);
      return;
    case "t": {
      const p = b.pending.get(e.sseq);
      if (p) p.time = e.ts;
    }
  }
}

/** The marks that never go back: ack floor (both sequences) and the delivered consumer sequence. */
export interface Marks {
  readonly floorS: number;
  readonly floorD: number;
  readonly dseq: number;
}

export function marksOf(st: { ack_floor: { consumer_seq: number; stream_seq: number }; delivered: { consumer_seq: number } }): Marks {
  return { floorS: st.ack_floor.stream_seq, floorD: st.ack_floor.consumer_seq, dseq: st.delivered.consumer_seq };
}

export function bookMarks(b: acks.AckState): Marks {
  return { floorS: b.ackFloor.stream_seq, floorD: b.ackFloor.consumer_seq, dseq: b.dseq };
}

/**
 * The invariant of a consumer's replicated state: its ack floor and delivered sequence never go back. Throws
 * (a bug: a replica applied something out of order or twice) naming what went back.
 */
export function assertForward(where: string, prev: Marks | undefined, next: Marks): void {
  if (!prev) return;
  const back = (what: string, a: number, b: number) => {
    if (b < a) throw new Error(`${where}: ${what} went backwards (${a} -> ${b})`);
  };
  back("ack floor stream seq", prev.floorS, next.floorS);
  back("ack floor consumer seq", prev.floorD, next.floorD);
  back("delivered consumer seq", prev.dseq, next.dseq);
}
