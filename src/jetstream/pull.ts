import { encodeHeaders } from "../protocol/headers.ts";
import type { ConsumerConfig } from "./config.ts";

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
