/**
 * A route's outgoing message frames. The router calls a route once per matching subscription, but the peer
 * must get each message once: a plain match sends the frame, and each queue group the router then picks
 * this route for is added to that same frame (`RMSG <acc> subj | q1 q2 ...`), rewritten in place. The last few
 * frames since the flush are remembered, not just the last one, because a delivery may publish
 * synchronously (a service replying from its handler) before the router is done with the first message.
 * JetStream deliveries are written in nats-server's form (js_delivery.ts).
 */
import type { OutBuffer } from "../server/outbound.ts";
import type { RoutedMsg } from "../server/types.ts";
import { type FrameWriter, GLOBAL_ACCOUNT_BYTES, writeRoutedMsg } from "./protocol.ts";
import { NatsDeliveryForm } from "./js_delivery.ts";
import { LocalMsg } from "../server/local_msg.ts";

const RECENT_FRAMES = 4;
const NO_QUEUES: readonly Uint8Array[] = [];

interface Frame {
  msg: RoutedMsg | undefined;
  /** `msg.serial` when the frame was written: a reused message object carries another message since. */
  serial: number;
  account: Uint8Array;
  start: number;
  end: number;
  queues: Uint8Array[];
}

/**
 * Is `queue` in `list`? A loop, not `list.some(q => ...)`: a closure over `add`'s parameter made JavaScriptCore
 * allocate `add`'s scope on every call, i.e. per routed message (bench/alloc_per_msg.ts rr).
 */
function hasQueue(list: readonly Uint8Array[], queue: Uint8Array): boolean {
  for (let i = 0; i < list.length; i++) if (sameBytes(list[i], queue)) return true;
  return false;
}

/** Used by routes and gateways (RMSG) and, with the LMSG writer, by leafnodes. */
export class RouteOutbox {
  readonly out: OutBuffer;
  readonly #write: FrameWriter;
  /** JetStream deliveries are framed as nats-server does (see js_delivery.ts). */
  readonly #form = new NatsDeliveryForm();
  readonly #frames: Frame[] = Array.from({ length: RECENT_FRAMES }, () => ({ msg: undefined, serial: 0, account: GLOBAL_ACCOUNT_BYTES, start: 0, end: 0, queues: [] }));
  #count = 0;
  #next = 0;

  constructor(out: OutBuffer, write: FrameWriter = writeRoutedMsg) {
    this.out = out;
    this.#write = write;
  }

  /**
   * Queue `msg` of `account` for the peer because of a subscription in queue group `queue` (undefined: a
   * plain one). Returns true when a new frame was written, false when the message was already in the buffer.
   */
  add(m: RoutedMsg, queue: Uint8Array | undefined, account: Uint8Array = GLOBAL_ACCOUNT_BYTES): boolean {
    const msg = this.#form.wire(m);
    const serial = m.serial ?? 0;
    const seen = this.#frameOf(msg, serial);
    if (seen !== undefined) {
      if (queue !== undefined) this.#addQueue(seen, queue);
      return false;
    }
    const f = this.#frames[this.#next];
    this.#next = (this.#next + 1) % RECENT_FRAMES;
    if (this.#count < RECENT_FRAMES) this.#count++;
    f.msg = msg;
    f.serial = serial;
    f.account = account;
    // The frame's own list, reused (an array per routed message otherwise).
    const qs = f.queues;
    if (qs.length > 0) qs.length = 0;
    if (queue !== undefined) qs.push(queue);
    f.start = this.#frame(this.out, msg, queue === undefined ? NO_QUEUES : qs, account);
    f.end = this.out.len;
    return true;
  }

  /**
   * The message is in the buffer already (another subscription of the peer's): a queue group it does not name yet
   * is added to its frame; a plain subscription adds nothing (the peer delivers to all its plain subscribers
   * anyway). Apart from add, which runs per routed message: the optimizing compilers compile all of a function's
   * code (bench/RESULTS.md `hotcode`).
   */
  #addQueue(seen: Frame, queue: Uint8Array): void {
    if (hasQueue(seen.queues, queue)) return;
    seen.queues.push(queue);
    this.#rewrite(seen);
  }

  /** Writes `msg`'s frame; a client's reused message gives its payload as a range of the input (no view made). */
  #frame(out: OutBuffer, msg: RoutedMsg, queues: readonly Uint8Array[], account: Uint8Array): number {
    const reply = msg.deliverReply ?? msg.reply;
    if (msg instanceof LocalMsg) return this.#write(out, msg.subjectBytes, reply, queues, msg.hdrSize, msg.buf, account, msg.start, msg.end);
    return this.#write(out, msg.subjectBytes, reply, queues, msg.hdrSize, msg.payload, account);
  }

  /** The buffer was handed to the transport (or dropped): message views are no longer valid. */
  forget(): void {
    // Indexed: V8 made an array iterator per flush for a for-of here.
    const frames = this.#frames;
    for (let i = 0; i < frames.length; i++) frames[i].msg = undefined;
    this.#count = 0;
    this.#form.forget();
  }

  #frameOf(msg: RoutedMsg, serial: number): Frame | undefined {
    const frames = this.#frames;
    let i = this.#next;
    for (let k = 0; k < this.#count; k++) {
      i = i === 0 ? RECENT_FRAMES - 1 : i - 1;
      if (frames[i].msg === msg && frames[i].serial === serial) return frames[i];
    }
    return undefined;
  }

  /** The bytes written after the frame move up; the rewritten frame goes last (order across messages is free). */
  #rewrite(f: Frame): void {
    const out = this.out;
    const len = f.end - f.start;
    if (f.end !== out.len) {
      const tail = out.buf.slice(f.end, out.len);
      out.len = f.start;
      out.bytes(tail);
      for (const g of this.#frames) {
        if (g !== f && g.msg !== undefined && g.start > f.start) {
          g.start -= len;
          g.end -= len;
        }
      }
    } else {
      out.len = f.start;
    }
    const msg = f.msg as RoutedMsg;
    f.start = this.#frame(out, msg, f.queues, f.account);
    f.end = out.len;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
