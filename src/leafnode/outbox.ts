/**
 * A leafnode connection's outgoing message frames: the route outbox (one frame per message, queue groups added to
 * it in place) writing LMSG frames, which name no account. A JetStream delivery (its reply a `$JS.ACK.` subject)
 * travels as nats-server sends it on leafnode links: `LMSG <deliver subject> <reply>@<stored subject>`, so the
 * peer routes it to the consumer's subscriber and shows the stored subject.
 */
import type { OutBuffer } from "../server/outbound.ts";
import type { RoutedMsg } from "../server/types.ts";
import { RouteOutbox } from "../cluster/outbox.ts";
import { writeLeafMsg } from "./protocol.ts";

const enc = new TextEncoder();
/** `$JS.ACK.` */
const JS_ACK = enc.encode("$JS.ACK.");
const AT = 64;

function isJsAck(reply: Uint8Array | null): reply is Uint8Array {
  if (reply === null || reply.length <= JS_ACK.length) return false;
  for (let i = 0; i < JS_ACK.length; i++) if (reply[i] !== JS_ACK[i]) return false;
  return true;
}

/** The shown subject and the reply of a JetStream delivery received as `<reply>@<subject>`, if it is one. */
export function jsDeliveryShown(
  reply: Uint8Array | null,
): { subject: Uint8Array; reply: Uint8Array; routed(deliver: string): Uint8Array } | undefined {
  if (!isJsAck(reply)) return undefined;
  const at = reply.lastIndexOf(AT);
  if (at < 0 || at === reply.length - 1) return undefined;
  const plain = reply.slice(0, at);
  return {
    subject: reply.slice(at + 1),
    reply: plain,
    // The form routes and gateways use: `<reply>@<deliver subject>`.
    routed: (deliver) => {
      const d = enc.encode(deliver);
      const out = new Uint8Array(plain.length + 1 + d.length);
      out.set(plain, 0);
      out[plain.length] = AT;
      out.set(d, plain.length + 1);
      return out;
    },
  };
}

export class LeafOutbox extends RouteOutbox {
  /** The last delivery rewritten (a message may be handed over again for a queue subscription). */
  #lastIn: RoutedMsg | undefined;
  #lastOut: RoutedMsg | undefined;

  constructor(out: OutBuffer) {
    super(out, writeLeafMsg);
  }

  override add(msg: RoutedMsg, queue: Uint8Array | undefined, account?: Uint8Array): boolean {
    if (!isJsAck(msg.reply)) return super.add(msg, queue, account);
    if (this.#lastIn !== msg) {
      const reply = new Uint8Array(msg.reply.length + 1 + msg.subjectBytes.length);
      reply.set(msg.reply, 0);
      reply[msg.reply.length] = AT;
      reply.set(msg.subjectBytes, msg.reply.length + 1);
      this.#lastIn = msg;
      this.#lastOut = { subject: msg.subject, subjectBytes: enc.encode(msg.subject), reply, hdrSize: msg.hdrSize, payload: msg.payload };
    }
    return super.add(this.#lastOut as RoutedMsg, queue, account);
  }
}
