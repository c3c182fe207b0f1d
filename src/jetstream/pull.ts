import { encodeHeaders } from "../protocol/headers.ts";
import type { ConsumerConfig } from "./config.ts";
import type { JsBus } from "./types.ts";

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

/**
 * Reads a pull request body: empty (one message), a number (batch) or JSON `{batch, expires, no_wait,
 * max_bytes, idle_heartbeat}`. Returns the request, or the status block to answer with instead.
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
  const text = dec.decode(body).trim();
  if (text.length > 0) {
    if (/^\d+$/.test(text)) batch = Number(text);
    else {
      try {
        const j = JSON.parse(text) as Record<string, unknown>;
        batch = typeof j.batch === "number" ? j.batch : 1;
        expires = typeof j.expires === "number" ? j.expires : 0;
        noWait = j.no_wait === true;
        maxBytes = typeof j.max_bytes === "number" ? j.max_bytes : 0;
        heartbeat = typeof j.idle_heartbeat === "number" ? j.idle_heartbeat : 0;
      } catch {
        return status(400, "Bad Request");
      }
    }
  }
  if (batch <= 0) batch = 1;
  if (cfg.max_batch && batch > cfg.max_batch) return status(409, `Exceeded MaxRequestBatch of ${cfg.max_batch}`);
  if (cfg.max_expires && expires > cfg.max_expires) {
    return status(409, `Exceeded MaxRequestExpires of ${cfg.max_expires / NS}ms`);
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

/** Ends the requests whose expiry passed. */
export function expireRequests(waiting: PullRequest[], now: number, bus: JsBus): void {
  for (let i = 0; i < waiting.length; i++) {
    const r = waiting[i];
    if (r.expiresAt > 0 && r.expiresAt <= now) {
      waiting.splice(i--, 1);
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

/** Idle heartbeats to requests that got nothing for their heartbeat interval. */
export function heartbeatRequests(waiting: PullRequest[], now: number, bus: JsBus): void {
  for (const r of waiting) {
    if (r.heartbeat > 0 && now - r.lastSent >= r.heartbeat) {
      r.lastSent = now;
      bus.publish(r.reply, EMPTY, { headers: status(100, "Idle Heartbeat") });
    }
  }
}

/** The consumer went away: every waiting request hears so. */
export function consumerDeleted(waiting: PullRequest[], bus: JsBus): void {
  for (const r of waiting) bus.publish(r.reply, EMPTY, { headers: status(409, "Consumer Deleted") });
}
