/**
 * A mirror or source whose origin stream lives behind another JetStream API (`external: { api, deliver }`):
 * another account reached through a service import of its `$JS.API` under a prefix, or another domain. As
 * nats-server does it, the feed asks the origin's API for an ephemeral push consumer (no acks, flow control,
 * idle heartbeats) delivering on `<deliver>.<M|S>.<random>`, a subject the origin's account exports as a
 * stream; deliveries carry the origin sequence in their ack reply. A feed that hears nothing for three
 * heartbeats (or whose consumer could not be made) asks again from where it is.
 */
import { appendHeaderLines } from "../protocol/headers.ts";
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
  external?: { api: string; deliver?: string };
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

/** The origin sequence and the pending count from a JetStream ack reply (`$JS.ACK.<stream>.<consumer>...`). */
export function ackInfo(reply: string | undefined): { seq: number; pending: number } | undefined {
  if (!reply || !reply.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>, or with <domain>.<account hash> first.
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return undefined;
  const seq = Number(t[base + 3]);
  const pending = Number(t[base + 6]);
  if (!Number.isSafeInteger(seq) || seq <= 0) return undefined;
  return { seq, pending: Number.isSafeInteger(pending) ? pending : 0 };
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

export class ExternalFeed {
  private deliverSid: number | undefined;
  private replySid: number | undefined;
  private timer: Timer | undefined;
  private lastHeard: number;
  private closed = false;
  /** Messages the origin still had for us at the last delivery (the `lag` of stream info). */
  lag = 0;
  /** When the last delivery or heartbeat arrived (ms), for `active` in stream info. */
  lastActive = 0;

  constructor(private readonly target: FeedTarget, readonly origin: ExternalOrigin, private readonly mirror: boolean) {
    this.lastHeard = target.clock.now();
  }

  /** `<origin>:<hash of the api>`, nats-server's name for an external origin in `Nats-Stream-Source`. */
  private iname = "";

  start(): void {
    void apiHash(this.origin.external?.api ?? "").then((h) => {
      if (this.closed) return;
      this.iname = `${this.origin.name}:${h}`;
      this.subscribe();
      this.check();
    });
  }

  /** Every heartbeat interval: three silent ones and the consumer is asked for again. */
  private check(): void {
    this.timer = this.target.clock.after(HEARTBEAT_MS, () => {
      if (this.closed) return;
      if (this.target.clock.now() - this.lastHeard > 3 * HEARTBEAT_MS) this.subscribe();
      this.check();
    });
  }

  /** (Re)creates the origin's consumer from where the target stands. */
  private subscribe(): void {
    this.unsubscribe();
    this.lastHeard = this.target.clock.now();
    const ext = this.origin.external;
    if (!ext) throw new Error(`invariant: external feed for ${this.origin.name} without external`);
    const bus = this.target.bus;
    const deliver = `${ext.deliver || "_INBOX"}.${this.mirror ? "M" : "S"}.${token()}`;
    this.deliverSid = bus.subscribe(deliver, (m) => this.onDelivery(m));
    const after = this.target.resumeAfter(this.iname);
    const start = Math.max(after + 1, this.origin.opt_start_seq ?? 1);
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
    if (this.origin.filter_subject) config.filter_subject = this.origin.filter_subject;
    const reply = `_INBOX.${token()}`;
    this.replySid = bus.subscribe(reply, (m) => {
      if (this.replySid !== undefined) bus.unsubscribe(this.replySid);
      this.replySid = undefined;
      // A refusal leaves the feed silent: the heartbeat check asks again.
      void m;
    });
    const req = { stream_name: this.origin.name, config };
    bus.publish(`${ext.api}.CONSUMER.CREATE.${this.origin.name}`, enc.encode(JSON.stringify(req)), { reply });
  }

  private onDelivery(m: BusMsg): void {
    if (this.closed) return;
    const now = this.target.clock.now();
    this.lastHeard = now;
    this.lastActive = now;
    if (m.headers && m.headers.length > 0 && isStatus(m.headers)) {
      // Flow control asks for an answer; heartbeats only keep the feed alive.
      if (m.reply) this.target.bus.publish(m.reply, new Uint8Array(0));
      return;
    }
    const info = ackInfo(m.reply);
    if (!info) return;
    this.lag = info.pending;
    const headers = m.headers && m.headers.length > 0 ? m.headers : undefined;
    if (this.mirror) {
      this.target.store({ seq: info.seq, subject: m.subject, headers, data: m.payload, time: now });
      return;
    }
    const hdr = appendHeaderLines(headers, [["Nats-Stream-Source", `${this.iname} ${info.seq}`]]);
    this.target.store({ seq: info.seq, subject: m.subject, headers: hdr, data: m.payload, time: now });
  }

  private unsubscribe(): void {
    const bus = this.target.bus;
    if (this.deliverSid !== undefined) bus.unsubscribe(this.deliverSid);
    if (this.replySid !== undefined) bus.unsubscribe(this.replySid);
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
