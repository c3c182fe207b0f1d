/**
 * A publish that reached a stream's old leader. Only a stream's leader announces its subjects, so a server sends
 * a publish there by the interest it last heard of: one sent just before the old leader's RS- arrived, and
 * before the new leader's RS+ did, reaches a server that no longer leads and was dropped (its client timed out).
 * The old leader now passes such a publish (one brought by a route, with a reply to answer) to the leader it
 * knows, on a subject of the system account only that server hears (`$JSC.FWD.<peer>`), not on the stream's
 * subject (other subscribers of it already had their copy).
 *
 * The sender may have heard the new leader's RS+ before the old one's RS- and sent the same publish to both:
 * the new leader then gets it twice, directly and forwarded. For a while after it starts leading it remembers
 * what came each way (subject, reply, size and a hash of the content; a reply is a request's own inbox) and
 * takes one of the two copies only.
 *
 * The server that passes a publish on may know an old leader too (a client's server that had no interest to send
 * it by, and had not heard of the new leader yet): the server it reaches passes it on again to the leader it
 * knows, at most MAX_HOPS times in all, so that two stale views cannot bounce it for ever.
 */
import type { BusMsg, ResendMark } from "../types.ts";

export const FORWARD_PREFIX = "$JSC.FWD.";
/** How long a new leader matches forwarded publishes with direct ones (from its start, and from each forwarded one). */
export const REPEAT_WINDOW_MS = 5_000;
/** A forwarded publish is passed on at most this many times (each server's view of the leader is at most one step behind). */
export const MAX_HOPS = 3;
/** At most this many publishes remembered each way (the window is short; a flood is not worth more). */
const REPEAT_MAX = 20_000;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * `[u32 json length][json {a, s, subject, reply, h, n, o, r}][headers][payload]`; `n`: times passed on, this one
 * included; `o`: the server that first passed it on (`from`, the sender, unless it came passed on already); `r`: a
 * re-sent publish's place (ResendMark); `e`: a hand-off's end mark (BusMsg.handoffEnd).
 */
export function encodeForward(account: string, stream: string, m: BusMsg, from?: string): Uint8Array {
  const h = m.headers?.length ?? 0;
  const o = m.origin ?? from;
  const r = m.resend;
  const e = m.handoffEnd === true ? 1 : undefined;
  const head = enc.encode(JSON.stringify({ a: account, s: stream, subject: m.subject, reply: m.reply ?? "", h, n: (m.hops ?? 0) + 1, o, r, e }));
  const out = new Uint8Array(4 + head.length + h + m.payload.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  if (m.headers && h > 0) out.set(m.headers, 4 + head.length);
  out.set(m.payload, 4 + head.length + h);
  return out;
}

export interface Forwarded {
  account: string;
  stream: string;
  msg: BusMsg;
}

export function decodeForward(b: Uint8Array): Forwarded | undefined {
  if (b.length < 4) return undefined;
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  if (4 + n > b.length) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(dec.decode(b.subarray(4, 4 + n)));
  } catch {
    return undefined;
  }
  if (typeof head !== "object" || head === null) return undefined;
  const { a, s, subject, reply, h, n: hops = 1, o, r, e } = head as Record<string, unknown>;
  if (typeof a !== "string" || typeof s !== "string" || typeof subject !== "string" || typeof reply !== "string") return undefined;
  if (typeof h !== "number" || !Number.isInteger(h) || h < 0 || 4 + n + h > b.length) return undefined;
  if (typeof hops !== "number" || !Number.isInteger(hops) || hops < 1) return undefined;
  const start = 4 + n;
  return {
    account: a,
    stream: s,
    msg: {
      subject,
      reply: reply === "" ? undefined : reply,
      headers: h > 0 ? b.slice(start, start + h) : undefined,
      payload: b.slice(start + h),
      forwarded: true,
      hops,
      origin: typeof o === "string" ? o : undefined,
      resend: resendMark(r),
      ...(e === 1 ? { handoffEnd: true as const } : {}),
    },
  };
}

function resendMark(r: unknown): ResendMark | undefined {
  if (typeof r !== "object" || r === null) return undefined;
  const { chain, k, after } = r as Record<string, unknown>;
  if (typeof chain !== "string" || !Number.isInteger(k) || !Number.isInteger(after)) return undefined;
  return { chain, k: k as number, after: after as number };
}

function fnv(h: number, b: Uint8Array | undefined): number {
  if (!b) return h;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619);
  return h >>> 0;
}

function keyOf(m: BusMsg): string {
  const size = (m.headers?.length ?? 0) + m.payload.length;
  return `${m.subject} ${m.reply} ${size} ${fnv(fnv(2166136261, m.headers), m.payload)}`;
}

/** A new leader's memory of the publishes it took directly and forwarded, for REPEAT_WINDOW_MS. */
export class RepeatFilter {
  #until = 0;
  readonly #direct = new Set<string>();
  readonly #forwarded = new Set<string>();

  /** This server starts leading at `now`. */
  start(now: number): void {
    this.#until = now + REPEAT_WINDOW_MS;
    this.#direct.clear();
    this.#forwarded.clear();
  }

  /** Is `m` the second copy of a publish this leader already took (one came directly, one forwarded)? */
  repeat(m: BusMsg, now: number): boolean {
    if (this.#until === 0 || !m.reply) return false;
    if (now > this.#until) {
      this.#until = 0;
      this.#direct.clear();
      this.#forwarded.clear();
      return false;
    }
    const k = keyOf(m);
    const mine = m.forwarded === true ? this.#forwarded : this.#direct;
    const other = m.forwarded === true ? this.#direct : this.#forwarded;
    // Matched once: a later identical publish (same inbox, same content) is a new one.
    if (other.delete(k)) return true;
    if (mine.size < REPEAT_MAX) mine.add(k);
    // A forwarded copy waits for its direct one a whole window from when it came, however long this server has
    // led (the direct copy is as late as the route from the client's server is slow).
    if (m.forwarded === true) this.#until = Math.max(this.#until, now + REPEAT_WINDOW_MS);
    return false;
  }
}
