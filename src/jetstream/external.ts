/**
 * The feed of a mirror or source through a JetStream API: the origin's own account in a cluster (`$JS.API`,
 * the origin's leader may be another server), or another API (`external: { api, deliver }`): another account
 * reached through a service import of its `$JS.API` under a prefix, or another domain (`$JS.<domain>.API`
 * across a leafnode link). As nats-server does it, the feed asks the origin's API for an ephemeral push
 * consumer (no acks, flow control, idle heartbeats) delivering on `<deliver>.<M|S>.<random>`; deliveries carry
 * the origin and consumer sequences in their ack reply. The feed is ordered: a consumer sequence that skips
 * (deliveries lost while a link was down), or a heartbeat saying more was delivered than arrived, makes it ask
 * for a new consumer from the last origin sequence it stored, as does silence for three heartbeats or a
 * refused create. Deliveries at or below that sequence are dropped, so nothing is stored twice.
 */
import { appendHeaderLines, findHeader } from "../protocol/headers.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import type { StoredMsg } from "./store/types.ts";
import type { BusMsg, JsBus } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const HEARTBEAT_NS = 1_000_000_000;
const HEARTBEAT_MS = HEARTBEAT_NS / 1_000_000;

/** The origin as a stream config's `mirror` / `sources[]` entry names it. */
export interface ExternalOrigin {
  name: string;
  filter_subject?: string;
  opt_start_seq?: number;
  opt_start_time?: string;
  external?: { api?: string; deliver?: string };
}

/** What the feed needs from the engine and the target stream. */
export interface FeedTarget {
  readonly bus: JsBus;
  /** The engine's clock: the silence check is scheduled on it. */
  readonly clock: Clock;
  /**
   * Mirror: the target's last sequence (the origin's, one for one). Source: the last origin sequence taken,
   * found by the `Nats-Stream-Source` header that starts with `iname` (`<origin>:<hash of the api>`).
   */
  resumeAfter(iname: string): number;
  /** Stores one origin message (origin sequence `seq`). */
  store(m: StoredMsg): void;
}

/** The API a feed asks when the origin is not external: the target's own account. */
export const LOCAL_API = "$JS.API";

/** The origin and consumer sequences and the pending count from a JetStream ack reply (`$JS.ACK.<stream>.<consumer>...`). */
export function ackInfo(reply: string | undefined): { seq: number; dseq: number; pending: number } | undefined {
  if (!reply || !reply.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>, or with <domain>.<account hash> first.
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return undefined;
  const seq = Number(t[base + 3]);
  const dseq = Number(t[base + 4]);
  const pending = Number(t[base + 6]);
  if (!Number.isSafeInteger(seq) || seq <= 0) return undefined;
  return { seq, dseq: Number.isSafeInteger(dseq) ? dseq : 0, pending: Number.isSafeInteger(pending) ? pending : 0 };
}

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** nats-server's short hash of a name: SHA-256, the first 8 bytes mapped onto base-62 digits. */
export async function apiHash(api: string): Promise<string> {
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(api)));
  let out = "";
  for (let i = 0; i < 8; i++) out += DIGITS[sum[i] % DIGITS.length];
  return out;
}

function token(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[x % 62];
  return s;
}

/** What the origin's API answered to the last consumer create, when it refused (shown as `error` in stream info). */
export interface FeedError {
  code: number;
  err_code?: number;
  description?: string;
}

export class ExternalFeed {
  private deliverSid: number | undefined;
  private replySid: number | undefined;
  private timer: Timer | undefined;
  private lastHeard: number;
  private closed = false;
  /** The last origin sequence stored (or handed to the target): later deliveries at or below it are dropped. */
  private position = 0;
  /** The consumer sequence of the last delivery of the current consumer (0: none yet). */
  private dseq = 0;
  /** The origin's name of the current consumer (from its create response), deleted when the feed moves on. */
  private consumer: string | undefined;
  /** Messages the origin still had for us at the last delivery (the `lag` of stream info). */
  lag = 0;
  /** When the last delivery or heartbeat arrived (ms), for `active` in stream info. */
  lastActive = 0;
  /** The origin API's refusal of the last consumer create (e.g. stream not found), cleared by a delivery. */
  error: FeedError | undefined;
  /** The origin refused the last consumer create. */
  private refused = false;

  constructor(private readonly target: FeedTarget, readonly origin: ExternalOrigin, private readonly mirror: boolean) {
    this.lastHeard = target.clock.now();
  }

  /** `<origin>:<hash of the api>` for an external origin (nats-server's name in `Nats-Stream-Source`), else the origin's name. */
  private iname = "";

  get api(): string {
    return this.origin.external?.api || LOCAL_API;
  }

  start(): void {
    // An origin without a name (nats-server accepts the config) has nothing to feed.
    if (this.origin.name === "") return;
    const ext = this.origin.external?.api;
    const named = ext ? apiHash(ext).then((h) => `${this.origin.name}:${h}`) : Promise.resolve(this.origin.name);
    void named.then((iname) => {
      if (this.closed) return;
      this.iname = iname;
      this.subscribe();
      this.check();
    });
  }

  /** Every heartbeat interval: three silent ones and the consumer is asked for again. */
  private check(): void {
    this.timer = this.target.clock.after(HEARTBEAT_MS, () => {
      if (this.closed) return;
      if (this.refused || this.target.clock.now() - this.lastHeard > 3 * HEARTBEAT_MS) this.subscribe();
      this.check();
    });
  }

  /** (Re)creates the origin's consumer from where the target stands. */
  private subscribe(): void {
    this.unsubscribe();
    this.refused = false;
    this.lastHeard = this.target.clock.now();
    const ext = this.origin.external;
    const bus = this.target.bus;
    const deliver = `${ext?.deliver || "_INBOX"}.${this.mirror ? "M" : "S"}.${token()}`;
    // Not local: the origin may be behind a route or a leafnode link.
    this.deliverSid = bus.subscribe(deliver, (m) => this.onDelivery(m), { local: false, interest: true });
    this.position = Math.max(this.position, this.target.resumeAfter(this.iname));
    this.dseq = 0;
    const start = Math.max(this.position + 1, this.origin.opt_start_seq ?? 1);
    const config: Record<string, unknown> = {
      deliver_policy: start > 1 ? "by_start_sequence" : "all",
      ack_policy: "none",
      ack_wait: 22 * 3600 * 1_000_000_000,
      max_deliver: 1,
      replay_policy: "instant",
      idle_heartbeat: HEARTBEAT_NS,
      flow_control: true,
      deliver_subject: deliver,
      direct: true,
    };
    if (start > 1) config.opt_start_seq = start;
    else if (this.origin.opt_start_time) {
      // Nothing taken yet: from the configured time on.
      config.deliver_policy = "by_start_time";
      config.opt_start_time = this.origin.opt_start_time;
    }
    if (this.origin.filter_subject) config.filter_subject = this.origin.filter_subject;
    this.currentDeliver = deliver;
    const reply = `_INBOX.${token()}`;
    const sid = bus.subscribe(reply, (m) => {
      bus.unsubscribe(sid);
      if (this.replySid === sid) this.replySid = undefined;
      this.onCreated(m, deliver);
    }, { local: false });
    this.replySid = sid;
    const req = { stream_name: this.origin.name, config };
    bus.publish(`${this.api}.CONSUMER.CREATE.${this.origin.name}`, enc.encode(JSON.stringify(req)), { reply });
  }

  /** The deliver subject of the consumer asked for last. */
  private currentDeliver = "";

  /** The create response: a refusal is remembered for stream info (and asked again at the next check). */
  private onCreated(m: BusMsg, deliver: string): void {
    let r: { error?: FeedError; name?: string; config?: { deliver_subject?: string } };
    try {
      r = JSON.parse(dec.decode(m.payload)) as typeof r;
    } catch {
      return;
    }
    if (this.closed) return;
    if (r.error) {
      // Asked again at the next check (a second), not after three silent heartbeats: nothing will come.
      this.error = r.error;
      if (deliver === this.currentDeliver) this.refused = true;
      return;
    }
    this.error = undefined;
    if (typeof r.name === "string") {
      // A late answer for a consumer the feed already gave up on: that one goes.
      if (deliver === this.currentDeliver) this.consumer = r.name;
      else this.deleteConsumer(r.name);
    }
  }

  private onDelivery(m: BusMsg): void {
    if (this.closed) return;
    const now = this.target.clock.now();
    this.lastHeard = now;
    this.lastActive = now;
    if (m.headers && m.headers.length > 0 && isStatus(m.headers)) {
      // Flow control asks for an answer; heartbeats keep the feed alive and say how far delivery went.
      if (m.reply) this.target.bus.publish(m.reply, new Uint8Array(0));
      const last = findHeader(m.headers, "Nats-Last-Consumer");
      if (last !== undefined && Number(last) > this.dseq) {
        this.subscribe();
        return;
      }
      // The consumer waits for the answer to a flow control request that never came (lost on the way here, or
      // its answer was): answered now, as nats-server's mirror does, or it would heartbeat and never deliver again.
      const stalled = findHeader(m.headers, "Nats-Consumer-Stalled");
      if (stalled) this.target.bus.publish(stalled, new Uint8Array(0));
      return;
    }
    const info = ackInfo(m.reply);
    if (!info) return;
    if (info.dseq > this.dseq + 1) {
      // Deliveries were lost (a link was down): start over from what is stored.
      this.subscribe();
      return;
    }
    if (info.dseq <= this.dseq) return;
    this.dseq = info.dseq;
    this.lag = info.pending;
    this.error = undefined;
    if (info.seq <= this.position) return;
    this.position = info.seq;
    const headers = m.headers && m.headers.length > 0 ? m.headers : undefined;
    if (this.mirror) {
      this.target.store({ seq: info.seq, subject: m.subject, headers, data: m.payload, time: now });
      return;
    }
    // nats-server 2.9's form: `<origin> <seq>` (the origin's name carries the api's hash when external).
    const hdr = appendHeaderLines(headers, [["Nats-Stream-Source", `${this.iname} ${info.seq}`]]);
    this.target.store({ seq: info.seq, subject: m.subject, headers: hdr, data: m.payload, time: now });
  }

  /** Asks the origin to drop a consumer this feed no longer reads (it would go away when idle anyway). */
  private deleteConsumer(name: string): void {
    this.target.bus.publish(`${this.api}.CONSUMER.DELETE.${this.origin.name}.${name}`, new Uint8Array(0));
  }

  private unsubscribe(): void {
    const bus = this.target.bus;
    if (this.deliverSid !== undefined) bus.unsubscribe(this.deliverSid);
    if (this.replySid !== undefined) bus.unsubscribe(this.replySid);
    if (this.consumer !== undefined) this.deleteConsumer(this.consumer);
    this.consumer = undefined;
    this.deliverSid = undefined;
    this.replySid = undefined;
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.unsubscribe();
  }
}

/** A `NATS/1.0 <code>` header block with a status code (heartbeat, flow control). */
function isStatus(h: Uint8Array): boolean {
  const line = dec.decode(h.subarray(0, Math.min(h.length, 16)));
  return /^NATS\/1\.0 \d{3}/.test(line);
}
