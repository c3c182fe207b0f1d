/**
 * A leafnode connection's outgoing message frames. The router calls the connection once per matching
 * subscription, but the peer must get each message once: the first match writes the frame, and each queue
 * group the router then picks this connection for is added to that frame (`LMSG subj | q1 q2 ...`),
 * rewritten in place. A few recent frames are remembered because a delivery may publish synchronously
 * (a service replying from its handler) before the router is done with the first message.
 */
import type { OutBuffer } from "../server/outbound.ts";
import type { RoutedMsg } from "../server/types.ts";
import { writeLeafMsg } from "./protocol.ts";

const RECENT_FRAMES = 4;

interface Frame {
  msg: RoutedMsg | undefined;
  start: number;
  end: number;
  queues: Uint8Array[];
}

export class LeafOutbox {
  readonly out: OutBuffer;
  readonly #frames: Frame[] = Array.from({ length: RECENT_FRAMES }, () => ({ msg: undefined, start: 0, end: 0, queues: [] }));
  #next = 0;

  constructor(out: OutBuffer) {
    this.out = out;
  }

  /** Queue `msg` because of a subscription in group `queue` (undefined: plain). true when a new frame was written. */
  add(msg: RoutedMsg, queue: Uint8Array | undefined): boolean {
    const seen = this.#frames.find((f) => f.msg === msg);
    if (seen !== undefined) {
      if (queue !== undefined && !seen.queues.some((q) => sameBytes(q, queue))) {
        seen.queues.push(queue);
        this.#rewrite(seen);
      }
      return false;
    }
    const f = this.#frames[this.#next];
    this.#next = (this.#next + 1) % RECENT_FRAMES;
    f.msg = msg;
    f.queues = queue === undefined ? [] : [queue];
    f.start = writeLeafMsg(this.out, msg.subjectBytes, msg.reply, f.queues, msg.hdrSize, msg.payload);
    f.end = this.out.len;
    return true;
  }

  /** The buffer was handed over (or dropped): message views are no longer valid. */
  forget(): void {
    for (const f of this.#frames) f.msg = undefined;
  }

  /** Bytes after the frame move up; the rewritten frame goes last (order across messages is free). */
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
    f.start = writeLeafMsg(out, msg.subjectBytes, msg.reply, f.queues, msg.hdrSize, msg.payload);
    f.end = out.len;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
