/**
 * How a JetStream delivery crosses a route, a gateway or a leafnode link: nats-server's form. A delivery is routed by its
 * delivery subject (a push consumer's deliver subject, a pull request's inbox) but shown to the subscriber with the
 * stored message's subject. nats-server 2.9.10 sends it as `RMSG <acc> <deliver> <ack reply>@<stored subject>`
 * (LMSG on leafnodes, without the account) and, reading one whose reply starts with `$JS.ACK.`, routes it by the
 * frame's subject and shows the part after the last `@` (observed on routes and on gateways, where the subject is the
 * `_GR_.`-mapped reply of a pull request from another cluster). Speaking that form on every link lets plain
 * nats-server nodes of a Petrel JetStream cluster, leaf servers and nats-server clusters behind a gateway deliver to
 * their clients.
 */
import type { RoutedMsg } from "../server/types.ts";

const enc = new TextEncoder();
/** `$JS.ACK.` */
const JS_ACK = enc.encode("$JS.ACK.");
const AT = 64;

/** A consumer's ack reply: the one kind of reply nats-server reads `@` in. */
export function isJsAck(reply: Uint8Array | null): reply is Uint8Array {
  if (reply === null || reply.length <= JS_ACK.length || reply[0] !== 36) return false;
  for (let i = 1; i < JS_ACK.length; i++) if (reply[i] !== JS_ACK[i]) return false;
  return true;
}

/** A JetStream delivery (or anything else answered with a consumer's ack): its reply is an ack subject. */
export function isJsDelivery(msg: RoutedMsg): boolean {
  return isJsAck(msg.reply);
}

/** `a@b` as bytes. */
function joinAt(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + 1 + b.length);
  out.set(a, 0);
  out[a.length] = AT;
  out.set(b, a.length + 1);
  return out;
}

/** The shown subject and the plain reply of a delivery received as `<ack reply>@<subject>` (views), if it is one. */
export function jsDeliveryShown(reply: Uint8Array | null): { subject: Uint8Array; reply: Uint8Array } | undefined {
  if (!isJsAck(reply)) return undefined;
  const at = reply.lastIndexOf(AT);
  if (at < 0 || at === reply.length - 1) return undefined;
  return { subject: reply.subarray(at + 1), reply: reply.subarray(0, at) };
}

/**
 * Reads a delivery frame of nats-server's form into `msg` (routed by `msg.subject`, the frame's subject): the
 * shown subject and plain reply are set. False when the frame is not a delivery.
 */
export function readJsDelivery(msg: RoutedMsg): boolean {
  const shown = jsDeliveryShown(msg.reply);
  if (shown === undefined) return false;
  msg.subjectBytes = shown.subject;
  msg.reply = shown.reply;
  return true;
}

/**
 * Writes deliveries in nats-server's form for one link: `add` hands the outbox the message to frame. The last
 * one rewritten is kept, so a message handed over again (one more queue group of the peer) is the same frame.
 */
export class NatsDeliveryForm {
  #lastIn: RoutedMsg | undefined;
  #lastSerial = 0;
  #lastOut: RoutedMsg | undefined;
  /** The last delivery subject and its bytes (a pull batch goes to one inbox; the bytes are only read). */
  #lastTo = "";
  #lastToBytes = new Uint8Array(0);

  /** `msg` itself unless it is a JetStream delivery; then the frame `<deliver> <ack reply>@<stored subject>`. */
  wire(msg: RoutedMsg): RoutedMsg {
    if (!isJsAck(msg.reply)) return msg;
    const serial = msg.serial ?? 0;
    if (this.#lastIn !== msg || this.#lastSerial !== serial || this.#lastOut === undefined) {
      this.#lastIn = msg;
      this.#lastSerial = serial;
      if (msg.subject !== this.#lastTo) {
        this.#lastTo = msg.subject;
        this.#lastToBytes = enc.encode(msg.subject);
      }
      this.#lastOut = {
        subject: msg.subject,
        subjectBytes: this.#lastToBytes,
        reply: joinAt(msg.reply, msg.subjectBytes),
        hdrSize: msg.hdrSize,
        payload: msg.payload,
      };
    }
    return this.#lastOut;
  }

  /** The buffer was handed on: the message views kept are no longer valid. */
  forget(): void {
    this.#lastIn = undefined;
    this.#lastOut = undefined;
  }
}
