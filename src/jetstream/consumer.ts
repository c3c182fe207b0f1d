import { appendHeaderLines } from "../protocol/headers.ts";
import {
  consumerDeleted,
  earliestExpiry,
  endNoWait,
  expireRequests,
  heartbeatRequests,
  maxBytesExceeded,
  nextHeartbeat,
  parsePullRequest,
  type PullRequest,
  status,
} from "./pull.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import * as acks from "./acks.ts";
import * as push from "./push.ts";
import { subjectMatches } from "../subjects/subject.ts";
import { type ConsumerConfig, consumerConfigJson, consumerFilters, DEFAULT_INACTIVE_THRESHOLD } from "./config.ts";
import type { Stream, StreamListener } from "./stream.ts";
import type { JsBus } from "./types.ts";
import type { Advisories } from "./advisories.ts";

const NS = 1_000_000;
const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** An ack's body as text: `+ACK` (what clients send for nearly every ack) without decoding it. */
function ackText(body: Uint8Array): string {
  if (body.length === 0 || (body.length === 4 && body[0] === 43 && body[1] === 65 && body[2] === 67 && body[3] === 75)) return "+ACK";
  return dec.decode(body);
}

export interface SeqPair {
  consumer_seq: number;
  stream_seq: number;
  last_active?: string;
}

/** What is persisted for a consumer between restarts. */
export interface ConsumerState extends acks.AckSnapshot {
  cursor: number;
}

/** The persisted state of a consumer's ack bookkeeping and cursor (a running consumer's and a replica's alike). */
export function consumerStateOf(b: acks.AckState, cursor: number): ConsumerState {
  return {
    delivered: { consumer_seq: b.dseq, stream_seq: b.lastDeliveredSseq },
    ack_floor: { ...b.ackFloor },
    pending: acks.pendingSnapshot(b),
    cursor,
    num_redelivered: b.numRedelivered,
  };
}

export interface ConsumerHost {
  bus: JsBus;
  advisories?: Advisories;
  /** Time and timers: every deadline of the consumer is scheduled here (tests inject a ManualClock). */
  clock: Clock;
  now(): number;
  persist(c: Consumer): void;
  remove(c: Consumer): void;
  /** An ack's reply: true when the host sends it later (once the ack is replicated). */
  holdAckReply?(c: Consumer, reply: string): boolean;
  /**
   * Whether this consumer may have been run by another server just before (a replicated consumer's new
   * leader): an ack beyond what it delivered is then one of the previous leader's deliveries, taken over.
   */
  takesOverAcks?(): boolean;
}

/**
 * A consumer: a cursor over a stream that delivers to pull requests or a push subject, around its ack
 * bookkeeping (acks.ts), pull requests (pull.ts) and push flow control (push.ts).
 */
export class Consumer implements StreamListener {
  private cursor: number;
  /** Ack bookkeeping: delivered, pending, due again. */
  private readonly book: acks.AckState;
  private lastPerSubject: number[] = [];
  private readonly waiting: PullRequest[] = [];
  private scheduled = false;
  /**
   * The consumer's one timer, armed for its earliest deadline: an ack wait or backoff step running out, a pull
   * request expiring or owing a heartbeat, a push idle heartbeat, the inactivity threshold. It may fire early
   * (a deadline moved later); `wake` then just re-arms. It never fires later than the earliest deadline.
   */
  private wakeTimer: Timer | undefined;
  private wakeAt = Infinity;
  private lastActivity: number;
  private lastDeliveryTime = 0;
  private closed = false;
  /**
   * Set while this server may not deliver yet (a replicated consumer just created here, before its group has
   * chosen where it runs): pull requests wait, nothing goes out.
   */
  paused = false;
  /**
   * Holds on delivering, each released once: a new leader waits until its ack interest is known where its
   * deliveries may land first (see AckRoutes). Pull requests wait meanwhile.
   */
  private holds = 0;
  private readonly filterList: string[];
  private readonly fc = push.newFlowControl();
  private replayBase: { msgTime: number; wallTime: number } | undefined;
  private replayTimer: Timer | undefined;
  /** Created once: called per acked or dropped message. */
  private readonly released = (seq: number): void => {
    if (this.stream.cfg.retention === "limits") return;
    const subject = this.stream.subjectOf(seq);
    if (subject !== undefined) this.stream.checkInterest(seq, subject);
  };
  private readonly maxDelivered = (seq: number, n: number): void => {
    this.host.advisories?.maxDeliveries(this.stream.name, this.name, seq, n);
  };

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
    // The first idle heartbeat comes one interval after the start (nats-server's timer), not at once: a client
    // reading a KV history takes a heartbeat before any message for "nothing more", and a consumer of a cluster
    // waits for its group before its first delivery.
    this.lastDeliveryTime = this.lastActivity;
    if (saved) {
      this.cursor = saved.cursor;
      this.book = acks.restoreAckState(saved);
    } else {
      this.cursor = this.startSeq();
      // nats-server reports the position before the first message to deliver as already "delivered".
      this.book = acks.newAckState(Math.max(0, this.cursor - 1));
    }
    this.rearm(this.host.now());
    if (!this.isPull) this.kick();
  }

  get isPull(): boolean {
    return !this.cfg.deliver_subject;
  }
  get durable(): boolean {
    return !!this.cfg.durable_name;
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
    acks.forgetRemoved(this.book, gone);
  }
  needs(seq: number, subject: string): boolean {
    if (!this.matches(subject)) return false;
    if (seq >= this.cursor) return true;
    return this.book.pending.has(seq);
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
    const again = acks.nextRedelivery(this.book, this.cfg.max_deliver, this.stream, this.maxDelivered);
    if (again !== undefined) return { seq: again, redelivery: true };
    while (this.lastPerSubject.length > 0) {
      const seq = this.lastPerSubject.shift() ?? 0;
      if (this.stream.has(seq)) return { seq, redelivery: false };
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
      this.replayTimer = this.host.clock.after(due - now, () => {
        this.replayTimer = undefined;
        this.kick();
      });
    }
    return true;
  }

  /** Hold deliveries (true) or release one hold (false; delivery resumes when none is left). */
  hold(on: boolean): void {
    if (on) {
      this.holds++;
      return;
    }
    if (this.holds <= 0) throw new Error(`consumer ${this.name}: a hold released that was never taken`);
    if (--this.holds === 0) this.kick();
  }

  /** The subscriber answered a flow control request: resume. */
  flowControlReply(subject: string): void {
    if (push.answered(this.fc, subject)) this.kick();
  }

  private deliverLoop(): void {
    if (this.closed || this.paused || this.holds > 0) return;
    if (!this.isPull && !this.pushActive()) return;
    if (push.stalled(this.fc)) return;
    const now = this.host.now();
    // Pending is counted once per pass, then kept by decrementing (counting with wildcard filters walks subjects).
    let pend = -1;
    /** The earliest ack deadline of what this pass delivers. */
    let ackDue = Infinity;
    /** The request whose requester was seen listening in this pass (looked up once per request and pass). */
    let heard: PullRequest | undefined;
    // One clock reading per pass: what expires, expires here.
    if (this.isPull) expireRequests(this.waiting, now, this.host.bus, this.book);
    for (;;) {
      let req: PullRequest | undefined;
      if (this.isPull) {
        req = this.waiting[0];
        if (!req) break;
        // A requester that went away (closed connection, stopped iterator) gets nothing: nats-server checks too.
        const interest = this.host.bus.hasInterest;
        if (req !== heard && interest && !interest.call(this.host.bus, req.reply)) {
          this.waiting.shift();
          continue;
        }
        heard = req;
      }
      if (this.cfg.max_ack_pending > 0 && this.book.pending.size >= this.cfg.max_ack_pending &&
        (this.book.redeliverQ.length === 0)) break;
      if (push.stalled(this.fc)) break;
      const next = this.nextSeq();
      if (!next) break;
      const msg = this.stream.load(next.seq);
      if (!msg) continue;
      if (this.cfg.replay_policy === "original" && !next.redelivery && this.holdForReplay(next.seq, msg.time, now)) break;
      // The ack reply names this delivery's count, consumer sequence and what is left: known before booking it.
      const dcNext = (this.book.deliveries.get(next.seq) ?? 0) + 1;
      const pendingLeft = pend < 0 ? this.pendingCount() : next.redelivery ? pend : Math.max(0, pend - 1);
      const reply = `$JS.ACK.${this.stream.name}.${this.name}.${dcNext}.${next.seq}.${this.book.dseq + 1}.${msg.time}000000.${pendingLeft}`;
      let headers = msg.headers;
      let data = msg.data;
      if (this.cfg.headers_only) {
        const extra: Array<[string, string]> = [["Nats-Msg-Size", String(msg.data.length)]];
        headers = appendHeaderLines(headers, extra);
        data = EMPTY;
      }
      // A request's max_bytes counts what the client sees of a message: subject, ack reply, headers, payload.
      const size = msg.subject.length + reply.length + (headers?.length ?? 0) + data.length;
      if (req && req.maxBytes > 0 && req.bytes + size > req.maxBytes) {
        // Give the message back and end this request, telling what it still had open.
        if (next.redelivery) this.book.redeliverQ.unshift(next.seq);
        else this.cursor = Math.min(this.cursor, next.seq);
        this.waiting.shift();
        this.host.bus.publish(req.reply, EMPTY, { headers: maxBytesExceeded(req) });
        continue;
      }
      const dc = acks.recordDelivery(this.book, next.seq, next.redelivery, this.cfg.ack_policy !== "none", now);
      if (dc !== dcNext) throw new Error(`consumer ${this.name}: delivery count ${dc}, announced ${dcNext}`);
      if (this.cfg.ack_policy !== "none") {
        ackDue = Math.min(ackDue, now + acks.ackWaitFor(dc, this.cfg.ack_wait, this.cfg.backoff));
      }
      if (!next.redelivery) pend = pendingLeft;
      const target = req ? req.reply : (this.cfg.deliver_subject ?? "");
      this.host.bus.publish(msg.subject, data, { reply, headers, deliverTo: target });
      this.lastDeliveryTime = now;
      this.lastActivity = now;
      if (req) {
        req.delivered++;
        req.bytes += size;
        req.lastSent = now;
        // Full (by count, or max_bytes used up exactly): the request ends without a status, as in nats-server.
        if (req.delivered >= req.batch || (req.maxBytes > 0 && req.bytes >= req.maxBytes)) this.waiting.shift();
      } else if (this.cfg.flow_control) {
        const ask = push.countDelivered(this.fc, size, this.stream.name, this.name);
        if (ask !== undefined) {
          const headers = push.flowControlRequest();
          this.host.bus.publish(this.cfg.deliver_subject ?? "", EMPTY, { reply: ask, headers });
        }
      }
      if (this.cfg.ack_policy === "none" && this.stream.cfg.retention !== "limits") {
        this.stream.checkInterest(next.seq, msg.subject);
      }
    }
    if (this.isPull) endNoWait(this.waiting, this.host.bus);
    if (ackDue !== Infinity) this.arm(ackDue);
    this.host.persist(this);
  }

  /** `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` */
  pullRequest(reply: string, body: Uint8Array): void {
    const now = this.host.now();
    this.lastActivity = now;
    if (!this.isPull) {
      this.host.bus.publish(reply, EMPTY, { headers: status(409, "Consumer is push based") });
      return;
    }
    // Full: first drop what is expired or has nobody waiting for it any more (nats-server does so too).
    if (this.waiting.length >= this.cfg.max_waiting) this.dropStaleRequests(now);
    const r = parsePullRequest(reply, body, this.cfg, this.waiting.length, now);
    if (r instanceof Uint8Array) {
      this.host.bus.publish(reply, EMPTY, { headers: r });
      return;
    }
    this.waiting.push(r);
    this.deliverLoop();
    if (this.waiting.includes(r)) {
      if (r.expiresAt > 0) this.arm(r.expiresAt);
      if (r.heartbeat > 0) this.arm(r.lastSent + r.heartbeat);
    }
  }

  private dropStaleRequests(now: number): void {
    expireRequests(this.waiting, now, this.host.bus, this.book);
    const interest = this.host.bus.hasInterest;
    if (!interest) return;
    for (let i = 0; i < this.waiting.length; i++) {
      if (!interest.call(this.host.bus, this.waiting[i].reply)) this.waiting.splice(i--, 1);
    }
  }

  // ---- time ----
  /** Makes sure the timer fires no later than `at` (ms since the epoch). */
  private arm(at: number): void {
    if (this.closed || at >= this.wakeAt) return;
    this.wakeTimer?.cancel();
    this.wakeAt = at;
    this.wakeTimer = this.host.clock.after(at - this.host.now(), () => this.wake());
  }

  private wake(): void {
    this.wakeTimer = undefined;
    this.wakeAt = Infinity;
    if (this.closed) return;
    const now = this.host.now();
    this.service(now);
    this.rearm(now);
  }

  /** Arms the timer for the earliest deadline there is now. */
  private rearm(now: number): void {
    if (this.closed) return;
    let at = acks.nextDeadline(this.book, this.cfg.ack_wait, this.cfg.backoff);
    if (this.isPull) {
      at = Math.min(at, earliestExpiry(this.waiting), nextHeartbeat(this.waiting));
    } else {
      if (this.cfg.idle_heartbeat) at = Math.min(at, this.lastDeliveryTime + this.cfg.idle_heartbeat / NS);
      // A push consumer with a backlog looks again now and then (a safety net: interest, acks and flow control
      // replies kick it directly).
      if (this.stream.nextMatching(this.cursor, this.filterList) !== undefined) at = Math.min(at, now + 1000);
    }
    if (!this.durable && (this.isPull || this.host.bus.hasInterest)) {
      at = Math.min(at, this.lastActivity + (this.cfg.inactive_threshold || DEFAULT_INACTIVE_THRESHOLD) / NS + 1);
    }
    if (at !== Infinity) this.arm(Math.max(at, now));
  }

  /** The work of a deadline: ack-wait expiry, request expiry, heartbeats, inactivity. */
  private service(now: number): void {
    if (acks.queueExpired(this.book, this.cfg.ack_wait, this.cfg.backoff, now)) this.kick();
    if (this.isPull) {
      if (this.waiting.length > 0) {
        expireRequests(this.waiting, now, this.host.bus, this.book);
        heartbeatRequests(this.waiting, now, this.host.bus, this.book);
        this.lastActivity = now;
      }
    } else {
      if (
        !push.stalled(this.fc) && this.pushActive() && this.stream.nextMatching(this.cursor, this.filterList) !== undefined
      ) this.kick();
      if (this.cfg.idle_heartbeat && now - this.lastDeliveryTime >= this.cfg.idle_heartbeat / NS) {
        this.lastDeliveryTime = now;
        // Only a consumer that runs here says it is alive (nats-server: its active leader). A paused one (created
        // here, its group not running it yet, perhaps never: its assignment lost with a leadership) stays silent,
        // so a subscriber that watches heartbeats (a mirror's feed, an ordered consumer) asks for a new one instead
        // of waiting for ever on a consumer that will not deliver.
        if (!this.paused) {
          this.host.bus.publish(this.cfg.deliver_subject ?? "", EMPTY, {
            headers: push.idleHeartbeat(this.book.dseq, this.book.lastDeliveredSseq, this.fc),
          });
        }
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
    const text = ackText(body);
    // nats-server 2.9's reading: +ACK, +OK, +WPI and +TERM exactly, -NAK and +NXT as prefixes; anything else is
    // no ack at all (the message comes back when its ack wait runs out).
    if (text === "+ACK" || text === "+OK") {
      this.ack(sseq);
    } else if (text.startsWith("-NAK")) {
      if (this.book.pending.has(sseq)) {
        const delay = acks.nakDelay(text.slice(4));
        const now = this.host.now();
        if (acks.nak(this.book, sseq, delay, this.cfg.ack_wait, now)) this.kick();
        else if (delay > 0) this.arm(now + delay);
      }
    } else if (text === "+WPI") {
      acks.inProgress(this.book, sseq, this.host.now());
    } else if (text === "+TERM") {
      const p = this.book.pending.get(sseq);
      const n = this.book.deliveries.get(sseq) ?? 1;
      if (p) this.host.advisories?.terminated(this.stream.name, this.name, sseq, p.dseq, n);
      this.ack(sseq);
    } else if (text.startsWith("+NXT")) {
      this.ack(sseq);
      if (reply && this.isPull) {
        this.pullRequest(reply, enc.encode(text.slice(4)));
        reply = undefined;
      }
    }
    if (reply && !this.host.holdAckReply?.(this, reply)) this.host.bus.publish(reply, EMPTY);
    this.host.persist(this);
  }

  private ack(sseq: number): void {
    if (sseq >= this.cursor && this.host.takesOverAcks?.()) this.takeOver(sseq);
    acks.ack(this.book, sseq, this.cfg.ack_policy === "all", this.released);
    this.kick();
  }

  /**
   * An ack for a message this leader has not delivered: the previous leader delivered it (and what came before
   * it) after its last replicated state. Those deliveries are booked here - the acked one to be acked now, the
   * others pending, due again after their ack wait - so an acknowledged message is not delivered again.
   */
  private takeOver(sseq: number): void {
    const now = this.host.now();
    const awaitAck = this.cfg.ack_policy !== "none";
    for (let q = this.stream.nextMatching(this.cursor, this.filterList); q !== undefined && q <= sseq; q = this.stream.nextMatching(q + 1, this.filterList)) {
      if (!this.book.pending.has(q)) acks.recordDelivery(this.book, q, false, awaitAck, now);
    }
    if (sseq >= this.cursor) this.cursor = sseq + 1;
    this.rearm(now);
  }

  // ---- info / state ----
  /** Every later change of the replicated state is told to `j` (a replicated consumer's leader logs them). */
  setJournal(j: acks.AckJournal | undefined): void {
    this.book.journal = j;
  }

  state(): ConsumerState {
    return consumerStateOf(this.book, this.cursor);
  }

  info(clusterName: string | undefined, serverName: string): Record<string, unknown> {
    const b = this.book;
    const info: Record<string, unknown> = {
      stream_name: this.stream.name,
      name: this.name,
      created: this.created,
      config: consumerConfigJson(this.cfg),
      delivered: { consumer_seq: b.dseq, stream_seq: b.lastDeliveredSseq },
      ack_floor: { ...b.ackFloor },
      num_ack_pending: b.pending.size,
      num_redelivered: acks.redeliveredPending(b),
      num_waiting: this.waiting.length,
      num_pending: this.pendingCount(),
      cluster: clusterName ? { name: clusterName, leader: serverName } : { leader: serverName },
      ts: new Date(this.host.now()).toISOString(),
    };
    if (!this.isPull && this.host.bus.hasInterest?.(this.cfg.deliver_subject ?? "")) info.push_bound = true;
    return info;
  }

  /** Hands over the pull requests still waiting (the consumer moves to another server). */
  takeWaiting(): PullRequest[] {
    return this.waiting.splice(0);
  }

  /** Tells waiting pull requests the consumer is gone. */
  close(deleted: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeTimer?.cancel();
    this.wakeTimer = undefined;
    this.wakeAt = Infinity;
    this.replayTimer?.cancel();
    this.replayTimer = undefined;
    if (deleted) consumerDeleted(this.waiting, this.host.bus);
    this.waiting.length = 0;
  }
}
