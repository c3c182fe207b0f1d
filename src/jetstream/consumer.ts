import { appendHeaderLines } from "../protocol/headers.ts";
import { parsePullRequest, type PullRequest, status } from "./pull.ts";
import { subjectMatches } from "../subjects/subject.ts";
import { type ConsumerConfig, consumerFilters, DEFAULT_INACTIVE_THRESHOLD } from "./config.ts";
import type { Stream, StreamListener } from "./stream.ts";
import type { JsBus } from "./types.ts";
import type { Advisories } from "./advisories.ts";

const NS = 1_000_000;
const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** Bytes delivered to a flow-controlled push consumer before it is asked to confirm it keeps up. */
const FC_WINDOW = 512 * 1024;

export interface SeqPair {
  consumer_seq: number;
  stream_seq: number;
  last_active?: string;
}

/** What is persisted for a consumer between restarts. */
export interface ConsumerState {
  delivered: { consumer_seq: number; stream_seq: number };
  ack_floor: { consumer_seq: number; stream_seq: number };
  /** [stream seq, consumer seq, delivery time ms, delivery count] */
  pending: Array<[number, number, number, number]>;
  cursor: number;
  num_redelivered: number;
}

interface PendingEntry {
  dseq: number;
  time: number;
}

export interface ConsumerHost {
  bus: JsBus;
  advisories?: Advisories;
  now(): number;
  persist(c: Consumer): void;
  remove(c: Consumer): void;
}

/** A consumer: a cursor over a stream plus delivery and ack bookkeeping, pull or push. */
export class Consumer implements StreamListener {
  private cursor: number;
  private dseq = 0;
  private lastDeliveredSseq = 0;
  private ackFloor = { consumer_seq: 0, stream_seq: 0 };
  private readonly pending = new Map<number, PendingEntry>();
  private readonly deliveries = new Map<number, number>();
  private redeliverQ: number[] = [];
  private lastPerSubject: number[] = [];
  private numRedelivered = 0;
  private readonly waiting: PullRequest[] = [];
  private scheduled = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastActivity: number;
  private lastDeliveryTime = 0;
  private closed = false;
  private readonly filterList: string[];
  private fcCount = 0;
  private replayBase: { msgTime: number; wallTime: number } | undefined;
  private replayTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryAt = 0;
  private fcBytes = 0;
  private fcOutstanding: string | undefined;

  constructor(
    readonly name: string,
    readonly stream: Stream,
    public cfg: ConsumerConfig,
    readonly created: string,
    private readonly host: ConsumerHost,
    saved?: ConsumerState,
  ) {
    this.filterList = consumerFilters(cfg);
    this.lastActivity = host.now();
    if (saved) {
      this.cursor = saved.cursor;
      this.dseq = saved.delivered.consumer_seq;
      this.lastDeliveredSseq = saved.delivered.stream_seq;
      this.ackFloor = { ...saved.ack_floor };
      this.numRedelivered = saved.num_redelivered;
      for (const [s, d, t, n] of saved.pending) {
        this.pending.set(s, { dseq: d, time: t });
        this.deliveries.set(s, n);
      }
    } else {
      this.cursor = this.startSeq();
      // nats-server reports the position before the first message to deliver as already "delivered".
      this.lastDeliveredSseq = Math.max(0, this.cursor - 1);
    }
    this.timer = setInterval(() => this.tick(), this.tickInterval());
    if (!this.isPull) this.kick();
  }

  get isPull(): boolean {
    return !this.cfg.deliver_subject;
  }
  get durable(): boolean {
    return !!this.cfg.durable_name;
  }

  private tickInterval(): number {
    let t = Math.min(this.cfg.ack_wait / NS, 1000);
    if (this.cfg.idle_heartbeat) t = Math.min(t, this.cfg.idle_heartbeat / NS);
    return Math.max(10, Math.min(t, 250));
  }

  private startSeq(): number {
    const s = this.stream;
    switch (this.cfg.deliver_policy) {
      case "last": {
        const f = this.filterList;
        if (f.length === 0) return s.lastSequence > 0 ? Math.max(s.lastSequence, s.firstSequence) : 1;
        let best = 0;
        for (const x of f) best = Math.max(best, s.lastBySubject(x) ?? 0);
        return best > 0 ? best : s.lastSequence + 1;
      }
      case "new":
        return s.lastSequence + 1;
      case "by_start_sequence":
        return this.cfg.opt_start_seq ?? 1;
      case "by_start_time":
        return s.seqForTime(Date.parse(this.cfg.opt_start_time ?? ""));
      case "last_per_subject": {
        this.lastPerSubject = s.lastPerSubject(this.filterList);
        return s.lastSequence + 1;
      }
      default:
        return s.firstSequence;
    }
  }

  // ---- StreamListener ----
  filters(): string[] {
    return this.filterList;
  }
  matchesSubject(subject: string): boolean {
    return this.matches(subject);
  }
  private matches(subject: string): boolean {
    if (this.filterList.length === 0) return true;
    for (const f of this.filterList) if (subjectMatches(subject, f)) return true;
    return false;
  }
  onStored(_seq: number, subject: string): void {
    if (this.isPull && this.waiting.length === 0) return;
    if (!this.matches(subject)) return;
    this.kick();
  }
  onRemoved(firstSeq: number, gone: number[]): void {
    if (this.cursor < firstSeq) this.cursor = firstSeq;
    if (this.pending.size === 0) return;
    let changed = false;
    for (const s of gone) {
      if (this.pending.delete(s)) {
        this.deliveries.delete(s);
        changed = true;
      }
    }
    if (changed) this.updateAckFloor();
  }
  needs(seq: number, subject: string): boolean {
    if (!this.matches(subject)) return false;
    if (seq >= this.cursor) return true;
    return this.pending.has(seq);
  }

  // ---- delivery ----
  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.deliverLoop();
    });
  }

  private pendingCount(): number {
    return this.stream.countFrom(this.cursor, this.filterList) + this.lastPerSubject.length;
  }

  private nextSeq(): { seq: number; redelivery: boolean } | undefined {
    while (this.redeliverQ.length > 0) {
      const seq = this.redeliverQ[0];
      if (!this.pending.has(seq) || !this.stream.metas.has(seq)) {
        this.redeliverQ.shift();
        this.pending.delete(seq);
        continue;
      }
      const n = this.deliveries.get(seq) ?? 1;
      if (this.cfg.max_deliver > 0 && n >= this.cfg.max_deliver) {
        this.redeliverQ.shift();
        this.pending.delete(seq);
        this.host.advisories?.maxDeliveries(this.stream.name, this.name, seq, n);
        this.updateAckFloor();
        continue;
      }
      this.redeliverQ.shift();
      return { seq, redelivery: true };
    }
    while (this.lastPerSubject.length > 0) {
      const seq = this.lastPerSubject.shift() ?? 0;
      if (this.stream.metas.has(seq)) return { seq, redelivery: false };
    }
    const seq = this.stream.nextMatching(this.cursor, this.filterList);
    if (seq === undefined) return undefined;
    this.cursor = seq + 1;
    return { seq, redelivery: false };
  }

  /** Push consumers deliver only while someone listens on the deliver subject (as nats-server does). */
  private pushActive(): boolean {
    const interest = this.host.bus.hasInterest;
    return !interest || interest.call(this.host.bus, this.cfg.deliver_subject ?? "");
  }

  /**
   * replay_policy "original": messages go out spaced as they were stored. Returns true (and puts the message
   * back) when it is not due yet; a timer resumes delivery.
   */
  private holdForReplay(seq: number, msgTime: number, now: number): boolean {
    if (this.replayBase === undefined) {
      this.replayBase = { msgTime, wallTime: now };
      return false;
    }
    const due = this.replayBase.wallTime + (msgTime - this.replayBase.msgTime);
    if (due <= now) return false;
    if (seq < this.cursor) this.cursor = seq;
    if (this.replayTimer === undefined) {
      this.replayTimer = setTimeout(() => {
        this.replayTimer = undefined;
        this.kick();
      }, due - now);
    }
    return true;
  }

  /** The subscriber answered a flow control request: resume. */
  flowControlReply(subject: string): void {
    if (subject !== this.fcOutstanding) return;
    this.fcOutstanding = undefined;
    this.fcBytes = 0;
    this.kick();
  }

  private deliverLoop(): void {
    if (this.closed) return;
    if (!this.isPull && !this.pushActive()) return;
    // Flow control: with an unanswered request outstanding, stop after a second window (nats-server stalls too).
    if (this.fcOutstanding !== undefined && this.fcBytes >= 2 * FC_WINDOW) return;
    const now = this.host.now();
    // Pending is counted once per pass, then kept by decrementing (counting with wildcard filters walks subjects).
    let pend = -1;
    for (;;) {
      let req: PullRequest | undefined;
      if (this.isPull) {
        this.expireRequests(now);
        req = this.waiting[0];
        if (!req) break;
        // A requester that went away (closed connection, stopped iterator) gets nothing: nats-server checks too.
        const interest = this.host.bus.hasInterest;
        if (interest && !interest.call(this.host.bus, req.reply)) {
          this.waiting.shift();
          continue;
        }
      }
      if (this.cfg.max_ack_pending > 0 && this.pending.size >= this.cfg.max_ack_pending &&
        (this.redeliverQ.length === 0)) break;
      if (this.fcOutstanding !== undefined && this.fcBytes >= 2 * FC_WINDOW) break;
      const next = this.nextSeq();
      if (!next) break;
      const msg = this.stream.load(next.seq);
      if (!msg) continue;
      if (this.cfg.replay_policy === "original" && !next.redelivery && this.holdForReplay(next.seq, msg.time, now)) break;
      const size = msg.data.length + (msg.headers?.length ?? 0) + msg.subject.length;
      if (req && req.maxBytes > 0 && req.bytes + size > req.maxBytes) {
        // Give the message back and end this request.
        if (next.redelivery) this.redeliverQ.unshift(next.seq);
        else this.cursor = Math.min(this.cursor, next.seq);
        this.waiting.shift();
        this.host.bus.publish(req.reply, EMPTY, { headers: status(409, "Message Size Exceeds MaxBytes") });
        continue;
      }
      const dc = (this.deliveries.get(next.seq) ?? 0) + 1;
      this.deliveries.set(next.seq, dc);
      if (next.redelivery) this.numRedelivered++;
      this.dseq++;
      if (next.seq > this.lastDeliveredSseq) this.lastDeliveredSseq = next.seq;
      if (this.cfg.ack_policy === "none") {
        this.deliveries.delete(next.seq);
        this.ackFloor = { consumer_seq: this.dseq, stream_seq: next.seq };
      } else {
        this.pending.set(next.seq, { dseq: this.dseq, time: now });
      }
      if (!next.redelivery) pend = pend < 0 ? this.pendingCount() : Math.max(0, pend - 1);
      const pendingLeft = pend < 0 ? this.pendingCount() : pend;
      const reply = `$JS.ACK.${this.stream.name}.${this.name}.${dc}.${next.seq}.${this.dseq}.${msg.time}000000.${pendingLeft}`;
      let headers = msg.headers;
      let data = msg.data;
      if (this.cfg.headers_only) {
        const extra: Array<[string, string]> = [["Nats-Msg-Size", String(msg.data.length)]];
        headers = appendHeaderLines(headers, extra);
        data = EMPTY;
      }
      const target = req ? req.reply : (this.cfg.deliver_subject ?? "");
      this.host.bus.publish(msg.subject, data, { reply, headers, deliverTo: target });
      this.lastDeliveryTime = now;
      this.lastActivity = now;
      if (req) {
        req.delivered++;
        req.bytes += size;
        req.lastSent = now;
        if (req.delivered >= req.batch) this.waiting.shift();
      } else if (this.cfg.flow_control) {
        this.fcBytes += size;
        if (this.fcOutstanding === undefined && this.fcBytes >= FC_WINDOW) {
          this.fcCount++;
          this.fcOutstanding = `$JS.FC.${this.stream.name}.${this.name}.${this.fcCount}`;
          this.host.bus.publish(this.cfg.deliver_subject ?? "", EMPTY, {
            reply: this.fcOutstanding,
            headers: status(100, "FlowControl Request"),
          });
        }
      }
      if (this.cfg.ack_policy === "none" && this.stream.cfg.retention !== "limits") {
        this.stream.checkInterest(next.seq, msg.subject);
      }
    }
    if (this.isPull) {
      // no_wait requests that found nothing more end now.
      for (let i = 0; i < this.waiting.length; i++) {
        const r = this.waiting[i];
        if (!r.noWait) continue;
        this.waiting.splice(i--, 1);
        if (r.delivered === 0) this.host.bus.publish(r.reply, EMPTY, { headers: status(404, "No Messages") });
        else this.host.bus.publish(r.reply, EMPTY, { headers: status(408, "Request Timeout", this.pendingHeaders(r)) });
      }
    }
    this.host.persist(this);
  }

  private pendingHeaders(r: PullRequest): Array<[string, string]> {
    return [["Nats-Pending-Messages", String(r.batch - r.delivered)], [
      "Nats-Pending-Bytes",
      String(r.maxBytes > 0 ? r.maxBytes - r.bytes : 0),
    ]];
  }

  private expireRequests(now: number): void {
    for (let i = 0; i < this.waiting.length; i++) {
      const r = this.waiting[i];
      if (r.expiresAt > 0 && r.expiresAt <= now) {
        this.waiting.splice(i--, 1);
        this.host.bus.publish(r.reply, EMPTY, { headers: status(408, "Request Timeout", this.pendingHeaders(r)) });
      }
    }
  }

  /** `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` */
  pullRequest(reply: string, body: Uint8Array): void {
    const now = this.host.now();
    this.lastActivity = now;
    const r = parsePullRequest(reply, body, this.cfg, this.waiting.length, now);
    if (r instanceof Uint8Array) {
      this.host.bus.publish(reply, EMPTY, { headers: r });
      return;
    }
    this.waiting.push(r);
    this.deliverLoop();
    if (r.expiresAt > 0 && this.waiting.includes(r)) this.armExpiry(r.expiresAt);
  }

  /** Expiring requests get their 408 on time, not at the next tick. One timer, for the earliest expiry. */
  private armExpiry(at: number): void {
    if (this.expiryTimer !== undefined && this.expiryAt <= at) return;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      if (this.closed) return;
      const now = this.host.now();
      this.expireRequests(now);
      let next = Infinity;
      for (const w of this.waiting) if (w.expiresAt > 0 && w.expiresAt < next) next = w.expiresAt;
      if (next !== Infinity) this.armExpiry(next);
    }, Math.max(1, at - this.host.now() + 1));
  }

  /** Periodic work: ack-wait expiry, request expiry, heartbeats, inactivity. */
  private tick(): void {
    if (this.closed) return;
    const now = this.host.now();
    if (this.pending.size > 0) {
      const backoff = this.cfg.backoff;
      let added = false;
      const queued = new Set(this.redeliverQ);
      for (const [seq, p] of this.pending) {
        if (queued.has(seq)) continue;
        const n = this.deliveries.get(seq) ?? 1;
        const wait = backoff && backoff.length > 0 ? backoff[Math.min(n - 1, backoff.length - 1)] / NS : this.cfg.ack_wait / NS;
        if (p.time + wait <= now) {
          this.redeliverQ.push(seq);
          added = true;
        }
      }
      if (added) {
        this.redeliverQ.sort((a, b) => a - b);
        this.kick();
      }
    }
    if (this.isPull) {
      if (this.waiting.length > 0) {
        this.expireRequests(now);
        for (const r of this.waiting) {
          if (r.heartbeat > 0 && now - r.lastSent >= r.heartbeat) {
            r.lastSent = now;
            this.host.bus.publish(r.reply, EMPTY, { headers: status(100, "Idle Heartbeat") });
          }
        }
        this.lastActivity = now;
      }
    } else {
      const stalled = this.fcOutstanding !== undefined && this.fcBytes >= 2 * FC_WINDOW;
      if (!stalled && this.pushActive() && this.stream.nextMatching(this.cursor, this.filterList) !== undefined) {
        this.kick();
      }
      if (this.cfg.idle_heartbeat && now - this.lastDeliveryTime >= this.cfg.idle_heartbeat / NS) {
        this.lastDeliveryTime = now;
        this.host.bus.publish(this.cfg.deliver_subject ?? "", EMPTY, {
          headers: status(100, "Idle Heartbeat", [
            ["Nats-Last-Consumer", String(this.dseq)],
            ["Nats-Last-Stream", String(this.lastDeliveredSseq)],
            ...(this.fcOutstanding ? [["Nats-Consumer-Stalled", this.fcOutstanding] as [string, string]] : []),
          ]),
        });
      }
    }
    if (!this.durable) {
      const threshold = (this.cfg.inactive_threshold || DEFAULT_INACTIVE_THRESHOLD) / NS;
      const interest = this.host.bus.hasInterest;
      if (this.isPull) {
        if (this.waiting.length === 0 && now - this.lastActivity > threshold) this.host.remove(this);
      } else if (interest) {
        if (interest.call(this.host.bus, this.cfg.deliver_subject ?? "")) this.lastActivity = now;
        else if (now - this.lastActivity > threshold) this.host.remove(this);
      }
    }
  }

  // ---- acks ----
  /** A message on `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`. */
  processAck(sseq: number, body: Uint8Array, reply: string | undefined): void {
    this.lastActivity = this.host.now();
    const text = body.length === 0 ? "+ACK" : new TextDecoder().decode(body);
    const kind = text.slice(0, 4);
    switch (kind) {
      case "+ACK":
        this.ack(sseq);
        break;
      case "-NAK": {
        const p = this.pending.get(sseq);
        if (p) {
          let delay = 0;
          const rest = text.slice(4).trim();
          if (rest.startsWith("{")) {
            try {
              const j = JSON.parse(rest) as { delay?: number };
              delay = (j.delay ?? 0) / NS;
            } catch {
              // plain nak
            }
          }
          if (delay > 0) {
            // Re-arm as if delivered now with an ack wait of `delay`.
            p.time = this.host.now() - this.cfg.ack_wait / NS + delay;
          } else if (!this.redeliverQ.includes(sseq)) {
            this.redeliverQ.push(sseq);
            this.redeliverQ.sort((a, b) => a - b);
            this.kick();
          }
        }
        break;
      }
      case "+WPI": {
        const p = this.pending.get(sseq);
        if (p) p.time = this.host.now();
        break;
      }
      case "+TER": {
        const p = this.pending.get(sseq);
        if (p) this.host.advisories?.terminated(this.stream.name, this.name, sseq, p.dseq, this.deliveries.get(sseq) ?? 1);
        this.ack(sseq);
        break;
      }
      case "+NXT": {
        this.ack(sseq);
        if (reply && this.isPull) {
          const rest = text.slice(4).trim();
          this.pullRequest(reply, enc.encode(rest));
          reply = undefined;
        }
        break;
      }
      default:
        this.ack(sseq);
    }
    if (reply) this.host.bus.publish(reply, EMPTY);
    this.host.persist(this);
  }

  private ack(sseq: number): void {
    if (this.cfg.ack_policy === "all") {
      const acked: number[] = [];
      for (const s of this.pending.keys()) if (s <= sseq) acked.push(s);
      for (const s of acked) this.ackOne(s);
    } else {
      this.ackOne(sseq);
    }
    this.updateAckFloor();
    this.kick();
  }

  private ackOne(sseq: number): void {
    if (!this.pending.delete(sseq)) return;
    this.deliveries.delete(sseq);
    if (this.stream.cfg.retention !== "limits") {
      const meta = this.stream.metas.get(sseq);
      if (meta) this.stream.checkInterest(sseq, meta.subject);
    }
  }

  private updateAckFloor(): void {
    if (this.pending.size === 0) {
      this.ackFloor = { consumer_seq: this.dseq, stream_seq: this.lastDeliveredSseq };
      return;
    }
    let minS = Infinity;
    let minD = Infinity;
    for (const [s, p] of this.pending) {
      if (s < minS) minS = s;
      if (p.dseq < minD) minD = p.dseq;
    }
    this.ackFloor = { consumer_seq: minD - 1, stream_seq: minS - 1 };
  }

  // ---- info / state ----
  state(): ConsumerState {
    const pending: Array<[number, number, number, number]> = [];
    for (const [s, p] of this.pending) pending.push([s, p.dseq, p.time, this.deliveries.get(s) ?? 1]);
    return {
      delivered: { consumer_seq: this.dseq, stream_seq: this.lastDeliveredSseq },
      ack_floor: { ...this.ackFloor },
      pending,
      cursor: this.cursor,
      num_redelivered: this.numRedelivered,
    };
  }

  info(clusterName: string | undefined, serverName: string): Record<string, unknown> {
    const redelivered = new Set<number>();
    for (const [s, n] of this.deliveries) if (n > 1 && this.pending.has(s)) redelivered.add(s);
    const info: Record<string, unknown> = {
      stream_name: this.stream.name,
      name: this.name,
      created: this.created,
      config: this.cfg,
      delivered: { consumer_seq: this.dseq, stream_seq: this.lastDeliveredSseq },
      ack_floor: { ...this.ackFloor },
      num_ack_pending: this.pending.size,
      num_redelivered: redelivered.size,
      num_waiting: this.waiting.length,
      num_pending: this.pendingCount(),
      cluster: clusterName ? { name: clusterName, leader: serverName } : { leader: serverName },
      ts: new Date(this.host.now()).toISOString(),
    };
    if (!this.isPull && this.host.bus.hasInterest?.(this.cfg.deliver_subject ?? "")) info.push_bound = true;
    return info;
  }

  /** Tells waiting pull requests the consumer is gone. */
  close(deleted: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.replayTimer !== undefined) clearTimeout(this.replayTimer);
    this.replayTimer = undefined;
    if (deleted) {
      for (const r of this.waiting) this.host.bus.publish(r.reply, EMPTY, { headers: status(409, "Consumer Deleted") });
    }
    this.waiting.length = 0;
  }
}
