/**
 * The message a client publishes to subscribers that are all clients of this server: one object per publishing
 * connection, filled in again for each message, with the payload as a range of the input instead of a view.
 *
 * Why: a message object and a payload view per publish were ~200 bytes of garbage per message on the fan-out and
 * pub/sub paths (V8's sampling profiler, fanout-16 on Deno: 208 bytes per published message, 60 % the view, 37 %
 * the object; a pub-only load 1 byte): at millions of messages a second that grew the runtimes' young generations
 * (Deno's V8 pages 49 idle -> 74 under fanout-16) and kept their collectors busy. A client's delivery writes the
 * bytes out during the call and keeps nothing, so one reused object serves; anything else (links, internal and
 * JetStream subscribers, imports) may keep the message or compare it by identity, and gets a fresh object as before
 * (ClientConn decides per interest, see #publish).
 */
import type { RoutedMsg } from "./types.ts";

export class LocalMsg implements RoutedMsg {
  subject = "";
  subjectBytes: Uint8Array = EMPTY;
  reply: Uint8Array | null = null;
  hdrSize = -1;
  /** The input the payload is in, and where (valid only during the delivery, as every byte view of a RoutedMsg). */
  buf: Uint8Array = EMPTY;
  start = 0;
  end = 0;
  /** One more for each message (see RoutedMsg.serial). */
  serial = 0;
  #view: Uint8Array | undefined;

  /** Made on first use only: a client's delivery copies from `buf` directly. */
  get payload(): Uint8Array {
    // All of an input of its own (an internal publish's body) is the payload itself.
    return (this.#view ??= this.start === 0 && this.end === this.buf.length ? this.buf : this.buf.subarray(this.start, this.end));
  }

  set(subject: string, subjectBytes: Uint8Array, reply: Uint8Array | null, hdrSize: number, buf: Uint8Array, start: number, end: number): this {
    this.subject = subject;
    this.subjectBytes = subjectBytes;
    this.reply = reply;
    this.hdrSize = hdrSize;
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.#view = undefined;
    this.serial++;
    return this;
  }

  /** Drops the references to the input once the delivery is over (the input may be recycled). */
  clear(): void {
    this.buf = EMPTY;
    this.reply = null;
    this.#view = undefined;
  }
}

const EMPTY = new Uint8Array(0);

/** The payload's length without making a view of a LocalMsg's range. */
export function payloadSize(m: RoutedMsg): number {
  return m instanceof LocalMsg ? m.end - m.start : m.payload.length;
}
