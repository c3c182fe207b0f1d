import { encodeHeaders } from "../protocol/headers.ts";
import type { ConsumerConfig } from "./config.ts";
import type { JsBus } from "./types.ts";
import { goDuration } from "../monitor/format.ts";

/** Pull requests (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`) and the status messages around them. */

const NS = 1_000_000;
const dec = new TextDecoder();

export interface PullRequest {
  reply: string;
  batch: number;
  maxBytes: number;
  noWait: boolean;
  /** ms since the epoch; 0 = no expiry. */
  expiresAt: number;
  /** Idle heartbeat interval in ms; 0 = none. */
  heartbeat: number;
  lastSent: number;
  bytes: number;
  delivered: number;
}

/** A status-only header block (`NATS/1.0 404 No Messages`), with optional extra headers. */
export function status(code: number, text: string, extra: Array<[string, string]> = []): Uint8Array {
  return encodeHeaders(extra, code, text);
}

/** Go's type names for the fields of a pull request, for nats-server's decode errors. */
const FIELD_TYPES: Record<string, "int" | "time.Duration" | "bool"> = {
  batch: "int",
  max_bytes: "int",
  expires: "time.Duration",
  idle_heartbeat: "time.Duration",
  no_wait: "bool",
};

/** The error Go's JSON decoder gives for `v` in field `f`, or undefined when `v` fits. */
function decodeError(f: string, v: unknown): string | undefined {
  const goType = FIELD_TYPES[f];
  if (goType === undefined || v === null || v === undefined) return undefined;
  let kind: string;
  if (goType === "bool") {
    if (typeof v === "boolean") return undefined;
    kind = typeof v === "number" ? "number" : typeof v === "string" ? "string" : Array.isArray(v) ? "array" : "object";
  } else {
    if (typeof v === "number" && Number.isInteger(v)) return undefined;
    kind = typeof v === "number" ? `number ${v}` : typeof v === "string" ? "string" : typeof v === "boolean" ? "bool"
      : Array.isArray(v) ? "array" : "object";
  }
  return `json: cannot unmarshal ${kind} into Go struct field JSApiConsumerGetNextRequest.${f} of type ${goType}`;
}

/**
 * Reads a pull request body as nats-server 2.9.10 does: empty (one message), a JSON object `{batch, expires,
 * no_wait, max_bytes, idle_heartbeat}`, or a number (batch); anything else asks for one message. Returns the
 * request, or the status block to answer with instead.
 */
export function parsePullRequest(
  reply: string,
  body: Uint8Array,
  cfg: ConsumerConfig,
  waiting: number,
  now: number,
): PullRequest | Uint8Array {
  let batch = 1;
  let expires = 0;
  let noWait = false;
  let maxBytes = 0;
  let heartbeat = 0;
  // Surrounding whitespace does not count (Go's bytes.TrimSpace in nats-server).
  const text = dec.decode(body).trim();
  if (text.startsWith("{")) {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return status(400, "Bad Request");
    }
    for (const [f, v] of Object.entries(j)) {
      const err = decodeError(f, v);
      if (err !== undefined) return status(400, `Bad Request - ${err}`);
    }
    batch = typeof j.batch === "number" ? j.batch : 1;
    expires = typeof j.expires === "number" ? j.expires : 0;
    noWait = j.no_wait === true;
    maxBytes = typeof j.max_bytes === "number" ? j.max_bytes : 0;
    heartbeat = typeof j.idle_heartbeat === "number" ? j.idle_heartbeat : 0;
    if (heartbeat > 0 && heartbeat > expires / 2) return status(400, "Bad Request - heartbeat value too large");
  } else if (/^[+-]?\d+$/.test(text)) {
    batch = Number(text);
  }
  if (batch <= 0) batch = 1;
  if (cfg.max_batch && batch > cfg.max_batch) return status(409, `Exceeded MaxRequestBatch of ${cfg.max_batch}`);
  if (cfg.max_expires && expires > cfg.max_expires) {
    return status(409, `Exceeded MaxRequestExpires of ${goDuration(cfg.max_expires / NS)}`);
  }
  if (cfg.max_bytes && maxBytes > cfg.max_bytes) return status(409, `Exceeded MaxRequestMaxBytes of ${cfg.max_bytes}`);
  if (waiting >= cfg.max_waiting) return status(409, "Exceeded MaxWaiting");
  if (noWait && expires > 0) noWait = false;
  return {
    reply,
    batch,
    maxBytes,
    noWait,
    expiresAt: expires > 0 ? now + expires / NS : 0,
    heartbeat: heartbeat / NS,
    lastSent: now,
    bytes: 0,
    delivered: 0,
  };
}

// ---- the waiting list: requests a pull consumer still owes messages or a final status ----

const EMPTY = new Uint8Array(0);

/** What a request still had open, as the status messages that end it tell the client. */
function pendingHeaders(r: PullRequest): Array<[string, string]> {
  return [
    ["Nats-Pending-Messages", String(r.batch - r.delivered)],
    ["Nats-Pending-Bytes", String(r.maxBytes > 0 ? r.maxBytes - r.bytes : 0)],
  ];
}

/** The 408 that ends a request before it is full, telling what it still had room for. */
export function requestTimeout(r: PullRequest): Uint8Array {
  return status(408, "Request Timeout", pendingHeaders(r));
}

/** The 409 that ends a request whose next message would not fit in what is left of its max_bytes. */
export function maxBytesExceeded(r: PullRequest): Uint8Array {
  return status(409, "Message Size Exceeds MaxBytes", pendingHeaders(r));
}

/** Where delivery stands, named by an idle heartbeat (a consumer's ack book is one). */
export interface LastDelivered {
  readonly dseq: number;
  readonly lastDeliveredSseq: number;
}

const idleHeartbeat = (last: LastDelivered): Uint8Array =>
  status(100, "Idle Heartbeat", [
    ["Nats-Last-Consumer", String(last.dseq)],
    ["Nats-Last-Stream", String(last.lastDeliveredSseq)],
  ]);

/**
 * Ends the requests whose expiry passed. A request that was owed a heartbeat before its expiry gets it first: when
 * the event loop was held past both deadlines (a loaded host), the requester still sees what an on-time server
 * sends, a heartbeat and then the 408, instead of an order that depends on how late the timer ran.
 */
export function expireRequests(waiting: PullRequest[], now: number, bus: JsBus, last: LastDelivered): void {
  for (let i = 0; i < waiting.length; i++) {
    const r = waiting[i];
    if (r.expiresAt > 0 && r.expiresAt <= now) {
      waiting.splice(i--, 1);
      if (r.heartbeat > 0 && r.lastSent + r.heartbeat < r.expiresAt) {
        r.lastSent = r.expiresAt;
        bus.publish(r.reply, EMPTY, { headers: idleHeartbeat(last) });
      }
      bus.publish(r.reply, EMPTY, { headers: requestTimeout(r) });
    }
  }
}

/** no_wait requests that found nothing more end now: 404 when they got nothing at all. */
export function endNoWait(waiting: PullRequest[], bus: JsBus): void {
  for (let i = 0; i < waiting.length; i++) {
    const r = waiting[i];
    if (!r.noWait) continue;
    waiting.splice(i--, 1);
    if (r.delivered === 0) bus.publish(r.reply, EMPTY, { headers: status(404, "No Messages") });
    else bus.publish(r.reply, EMPTY, { headers: requestTimeout(r) });
  }
}

/** The earliest expiry among the waiting requests; Infinity when none expires. */
export function earliestExpiry(waiting: PullRequest[]): number {
  let next = Infinity;
  for (const w of waiting) if (w.expiresAt > 0 && w.expiresAt < next) next = w.expiresAt;
  return next;
}

/** When the next idle heartbeat to a waiting request is due; Infinity when none asked for one. */
export function nextHeartbeat(waiting: PullRequest[]): number {
  let next = Infinity;
  for (const r of waiting) if (r.heartbeat > 0 && r.lastSent + r.heartbeat < next) next = r.lastSent + r.heartbeat;
  return next;
}

/**
 * Idle heartbeats to requests that got nothing for their heartbeat interval, naming the last consumer and stream
 * sequences delivered as nats-server's do.
 */
export function heartbeatRequests(
  waiting: PullRequest[],
  now: number,
  bus: JsBus,
  last: LastDelivered,
): void {
  let hb: Uint8Array | undefined;
  for (const r of waiting) {
    if (r.heartbeat > 0 && now - r.lastSent >= r.heartbeat) {
      r.lastSent = now;
      hb ??= idleHeartbeat(last);
      bus.publish(r.reply, EMPTY, { headers: hb });
    }
  }
}

/** The consumer went away: every waiting request hears so. */
export function consumerDeleted(waiting: PullRequest[], bus: JsBus): void {
  for (const r of waiting) bus.publish(r.reply, EMPTY, { headers: status(409, "Consumer Deleted") });
}
