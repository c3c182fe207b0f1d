/**
 * Ack bookkeeping of one consumer: what was delivered, what still awaits an ack, what is due again. Plain state
 * plus functions over it; the consumer decides when to call them and what to publish.
 */

import { parseGoDuration } from "../config/units.ts";

const NS = 1_000_000;

export interface PendingEntry {
  dseq: number;
  /** When it was (last) delivered, ms; moved by +WPI and delayed naks. */
  time: number;
}

/** The persisted part of the bookkeeping. */
export interface AckSnapshot {
  delivered: { consumer_seq: number; stream_seq: number };
  ack_floor: { consumer_seq: number; stream_seq: number };
  /** [stream seq, consumer seq, delivery time ms, delivery count] */
  pending: Array<[number, number, number, number]>;
  num_redelivered: number;
}

/**
 * Told every change of the replicated part of the bookkeeping, in order (a replicated consumer's leader logs
 * them: cluster/consumer_log.ts). The redelivery queue is the leader's own business and is not told.
 */
export interface AckJournal {
  /** A delivery: consumer seq `dseq`, delivery count `dc`, at `ts` (ms); `awaitAck` false: acked at once. */
  delivered(sseq: number, dseq: number, dc: number, ts: number, redelivery: boolean, awaitAck: boolean): void;
  /** A pending message was acknowledged. */
  acked(sseq: number): void;
  /** A pending message was given up without an ack (max deliveries, gone from the stream). */
  dropped(sseq: number): void;
  /** A pending message's ack wait counts from `ts` now (+WPI, a nak with a delay). */
  timed(sseq: number, ts: number): void;
}

export interface AckState {
  /** Last consumer sequence handed out. */
  dseq: number;
  lastDeliveredSseq: number;
  ackFloor: { consumer_seq: number; stream_seq: number };
  /** Stream seq -> delivery awaiting an ack. */
  readonly pending: Map<number, PendingEntry>;
  /** Stream seq -> how many times it went out. */
  readonly deliveries: Map<number, number>;
  /** Stream seqs due for redelivery, ascending. */
  redeliverQ: number[];
  numRedelivered: number;
  /** Finds the ack floor without scanning every pending message (built on first use). */
  floorIndex?: FloorIndex;
  journal?: AckJournal;
}

/**
 * Pending stream seqs in first-delivery order, and (consumer seq, stream seq) pairs in delivery order. An entry
 * whose message is no longer pending (or was delivered again, with a newer consumer seq) is stale and skipped
 * when it reaches the head, so the smallest pending consumer seq is at the head, and so is the smallest stream
 * seq while deliveries came in stream order (`ordered`; else the floor is found by a scan, which rebuilds this).
 */
interface FloorIndex {
  seqs: number[];
  seqHead: number;
  ordered: boolean;
  pairs: number[];
  pairHead: number;
}

function buildFloorIndex(st: AckState): FloorIndex {
  const seqs = [...st.pending.keys()].sort((a, b) => a - b);
  const byD = [...st.pending].sort((a, b) => a[1].dseq - b[1].dseq);
  const pairs: number[] = [];
  for (const [seq, p] of byD) pairs.push(p.dseq, seq);
  return { seqs, seqHead: 0, ordered: true, pairs, pairHead: 0 };
}

/** A new pending delivery (or a redelivery of a pending one, `had`) enters the index. */
function indexDelivery(st: AckState, seq: number, dseq: number, had: boolean): void {
  const ix = st.floorIndex;
  if (!ix) return;
  if (st.pending.size === 1) {
    st.floorIndex = { seqs: [seq], seqHead: 0, ordered: true, pairs: [dseq, seq], pairHead: 0 };
    return;
  }
  if (!had) {
    if (ix.seqs.length > ix.seqHead && seq < ix.seqs[ix.seqs.length - 1]) ix.ordered = false;
    ix.seqs.push(seq);
  }
  ix.pairs.push(dseq, seq);
}

/** The smallest pending stream seq and consumer seq (pending is not empty). */
function pendingMinima(st: AckState): { minS: number; minD: number } {
  let ix = st.floorIndex;
  if (!ix || !ix.ordered) ix = st.floorIndex = buildFloorIndex(st);
  while (ix.seqHead < ix.seqs.length && !st.pending.has(ix.seqs[ix.seqHead])) ix.seqHead++;
  while (ix.pairHead < ix.pairs.length && st.pending.get(ix.pairs[ix.pairHead + 1])?.dseq !== ix.pairs[ix.pairHead]) {
    ix.pairHead += 2;
  }
  if (ix.seqHead >= ix.seqs.length || ix.pairHead >= ix.pairs.length) {
    throw new Error(`ack floor index lost a pending message (${st.pending.size} pending)`);
  }
  const minS = ix.seqs[ix.seqHead];
  const minD = ix.pairs[ix.pairHead];
  // Drop the consumed heads now and then (amortized: each entry is skipped once).
  if (ix.seqHead > 1024 && ix.seqHead * 2 > ix.seqs.length) {
    ix.seqs = ix.seqs.slice(ix.seqHead);
    ix.seqHead = 0;
  }
  if (ix.pairHead > 2048 && ix.pairHead * 2 > ix.pairs.length) {
    ix.pairs = ix.pairs.slice(ix.pairHead);
    ix.pairHead = 0;
  }
  return { minS, minD };
}

export function newAckState(lastDeliveredSseq: number): AckState {
  return {
    dseq: 0,
    lastDeliveredSseq,
    ackFloor: { consumer_seq: 0, stream_seq: 0 },
    pending: new Map(),
    deliveries: new Map(),
    redeliverQ: [],
    numRedelivered: 0,
  };
}

export function restoreAckState(saved: AckSnapshot): AckState {
  const st = newAckState(saved.delivered.stream_seq);
  st.dseq = saved.delivered.consumer_seq;
  st.ackFloor = { ...saved.ack_floor };
  st.numRedelivered = saved.num_redelivered;
  for (const [s, d, t, n] of saved.pending) {
    st.pending.set(s, { dseq: d, time: t });
    st.deliveries.set(s, n);
  }
  return st;
}

export function pendingSnapshot(st: AckState): Array<[number, number, number, number]> {
  const pending: Array<[number, number, number, number]> = [];
  for (const [s, p] of st.pending) pending.push([s, p.dseq, p.time, st.deliveries.get(s) ?? 1]);
  return pending;
}

/**
 * Books one delivery of stream seq `seq` and returns its delivery count. Without acks (`awaitAck` false) the
 * message counts as acked at once.
 */
export function recordDelivery(st: AckState, seq: number, redelivery: boolean, awaitAck: boolean, now: number): number {
  const dc = (st.deliveries.get(seq) ?? 0) + 1;
  bookDelivery(st, seq, st.dseq + 1, dc, redelivery, awaitAck, now);
  st.journal?.delivered(seq, st.dseq, dc, now, redelivery, awaitAck);
  return dc;
}

/** Books delivery `dseq` (count `dc`) of stream seq `seq`: the one way a delivery enters the bookkeeping. */
export function bookDelivery(st: AckState, seq: number, dseq: number, dc: number, redelivery: boolean, awaitAck: boolean, now: number): void {
  st.deliveries.set(seq, dc);
  if (redelivery) st.numRedelivered++;
  st.dseq = dseq;
  if (seq > st.lastDeliveredSseq) st.lastDeliveredSseq = seq;
  if (awaitAck) {
    const had = st.pending.has(seq);
    st.pending.set(seq, { dseq, time: now });
    indexDelivery(st, seq, dseq, had);
  } else {
    st.deliveries.delete(seq);
    st.ackFloor = { consumer_seq: dseq, stream_seq: seq };
  }
}

/**
 * The next stream seq to redeliver, dropping queued ones that were acked or left the stream, and those that
 * reached `maxDeliver` (reported through `onMaxDeliver`).
 */
export function nextRedelivery(
  st: AckState,
  maxDeliver: number,
  stored: { has(seq: number): boolean },
  onMaxDeliver: (seq: number, deliveries: number) => void,
): number | undefined {
  const q = st.redeliverQ;
  while (q.length > 0) {
    const seq = q[0];
    if (!st.pending.has(seq) || !stored.has(seq)) {
      q.shift();
      if (st.pending.delete(seq)) st.journal?.dropped(seq);
      continue;
    }
    const n = st.deliveries.get(seq) ?? 1;
    if (maxDeliver > 0 && n >= maxDeliver) {
      q.shift();
      st.pending.delete(seq);
      st.journal?.dropped(seq);
      onMaxDeliver(seq, n);
      updateAckFloor(st);
      continue;
    }
    q.shift();
    return seq;
  }
  return undefined;
}

/** How long a delivery with count `n` may stay unacked: its backoff step, else the ack wait (ms). */
export function ackWaitFor(n: number, ackWait: number, backoff: number[] | null | undefined): number {
  return backoff && backoff.length > 0 ? backoff[Math.min(n - 1, backoff.length - 1)] / NS : ackWait / NS;
}

/** The earliest ack deadline among pending messages not yet queued for redelivery; Infinity when none. */
export function nextDeadline(st: AckState, ackWait: number, backoff: number[] | null | undefined): number {
  if (st.pending.size === 0) return Infinity;
  const queued = st.redeliverQ.length > 0 ? new Set(st.redeliverQ) : undefined;
  let best = Infinity;
  for (const [seq, p] of st.pending) {
    if (queued?.has(seq)) continue;
    const at = p.time + ackWaitFor(st.deliveries.get(seq) ?? 1, ackWait, backoff);
    if (at < best) best = at;
  }
  return best;
}

/**
 * Queues for redelivery every pending message whose ack wait (or backoff step for its delivery count) ran out.
 * Returns whether any was queued.
 */
export function queueExpired(
  st: AckState,
  ackWait: number,
  backoff: number[] | null | undefined,
  now: number,
): boolean {
  if (st.pending.size === 0) return false;
  let added = false;
  const queued = new Set(st.redeliverQ);
  for (const [seq, p] of st.pending) {
    if (queued.has(seq)) continue;
    if (p.time + ackWaitFor(st.deliveries.get(seq) ?? 1, ackWait, backoff) <= now) {
      st.redeliverQ.push(seq);
      added = true;
    }
  }
  if (added) st.redeliverQ.sort((a, b) => a - b);
  return added;
}

/**
 * The delay of a `-NAK` (the text after it), in ms: `{"delay": ns}` or a Go duration ("300ms", "1.5s"), as
 * nats-server reads it; 0 for a plain nak or one it cannot read.
 */
export function nakDelay(rest: string): number {
  const s = rest.trim();
  if (s === "") return 0;
  if (!s.startsWith("{")) return Math.max(0, parseGoDuration(s) ?? 0);
  try {
    const j = JSON.parse(s) as { delay?: number };
    return typeof j.delay === "number" ? Math.max(0, j.delay / NS) : 0;
  } catch {
    return 0;
  }
}

/**
 * A nak of a pending message: with a delay it is re-armed as if delivered now with an ack wait of `delay`,
 * without one it is queued for redelivery. Returns whether it was queued (delivery should run).
 */
export function nak(st: AckState, sseq: number, delay: number, ackWait: number, now: number): boolean {
  const p = st.pending.get(sseq);
  if (!p) return false;
  if (delay > 0) {
    p.time = now - ackWait / NS + delay;
    st.journal?.timed(sseq, p.time);
    return false;
  }
  if (st.redeliverQ.includes(sseq)) return false;
  st.redeliverQ.push(sseq);
  st.redeliverQ.sort((a, b) => a - b);
  return true;
}

/** +WPI: the ack wait starts over. */
export function inProgress(st: AckState, sseq: number, now: number): void {
  const p = st.pending.get(sseq);
  if (!p) return;
  p.time = now;
  st.journal?.timed(sseq, now);
}

/** Acks `sseq` (and, with `all`, every pending message below it); `onAcked` sees each seq that was pending. */
export function ack(st: AckState, sseq: number, all: boolean, onAcked: (seq: number) => void): void {
  if (all) {
    const acked: number[] = [];
    for (const s of st.pending.keys()) if (s <= sseq) acked.push(s);
    for (const s of acked) ackOne(st, s, onAcked);
  } else {
    ackOne(st, sseq, onAcked);
  }
  updateAckFloor(st);
}

function ackOne(st: AckState, sseq: number, onAcked: (seq: number) => void): void {
  if (!st.pending.delete(sseq)) return;
  st.deliveries.delete(sseq);
  st.journal?.acked(sseq);
  onAcked(sseq);
}

/** Forgets pending messages the stream removed. */
export function forgetRemoved(st: AckState, gone: number[]): void {
  if (st.pending.size === 0) return;
  let changed = false;
  for (const s of gone) {
    if (st.pending.delete(s)) {
      st.deliveries.delete(s);
      st.journal?.dropped(s);
      changed = true;
    }
  }
  if (changed) updateAckFloor(st);
}

export function updateAckFloor(st: AckState): void {
  if (st.pending.size === 0) {
    st.ackFloor = { consumer_seq: st.dseq, stream_seq: st.lastDeliveredSseq };
    return;
  }
  const { minS, minD } = pendingMinima(st);
  st.ackFloor = { consumer_seq: minD - 1, stream_seq: minS - 1 };
}

/** Pending messages that went out more than once (`num_redelivered` of consumer info). */
export function redeliveredPending(st: AckState): number {
  let n = 0;
  for (const [s, c] of st.deliveries) if (c > 1 && st.pending.has(s)) n++;
  return n;
}
