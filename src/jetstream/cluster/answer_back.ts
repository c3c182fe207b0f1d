/**
 * Answers to a stream's API requests (api_pass_on.ts) and acknowledgements of publishes (forward.ts) that were
 * passed on ahead of the interest in their reply.
 *
 * Just after a step-down the old leader passes a request it got on to the new one, which may get that copy before
 * the requester's server's own, and so before the interest in the request's reply that travels just ahead of it
 * on that route (a fresh inbox: a client's first request). An answer published then went to nobody, and the
 * direct copy, when it came, was a repeat (RepeatFilter). nats-server meets the same order across gateways, where
 * a request may outrun its reply's interest: the reply is mapped (`_GR_.<cluster>.<server>.<reply>`) and the
 * answer goes back to the server the request came through, whatever interest has arrived anywhere. Here a passed-on
 * request carries its origin, the server that first passed it on (the interest in its reply reached that server
 * ahead of the request, from its own client or over the same route), and the leader answers through it:
 * - before the engine answers, the request's reply is mapped to a subject only this server hears
 *   (`$JSC.AB.<random>.<n>`, subscribed off the routes, for one answer);
 * - the answer published there goes to the reply as it is when someone here listens to it by then, else to the
 *   origin (`$JSC.FWDR.<origin>`, forward.ts's framing), which publishes it to the reply in the request's account.
 * No wait and no timer decides the answer: the direct copy is taken for a repeat whenever it comes.
 *
 * A publish is passed on the same way (by the old leader, by a leader handing over, by a replica whose client
 * published while no leader's interest was known): the server that first passed it on is its origin, and the new
 * leader acknowledges it (or answers its error) on the mapped reply. The repeat filter keys on the reply as it
 * came, before it is mapped, so the direct copy still matches.
 */
import type { JsBus } from "../types.ts";
import { randomToken } from "../../server/ids.ts";
import { decodeForward, encodeForward } from "./forward.ts";

export const ANSWER_BACK_PREFIX = "$JSC.FWDR.";
/** A mapped reply not answered in this long is given up (the requester timed out long before). */
export const ANSWER_BACK_MS = 60_000;
/** At most this many mapped replies at once (passed-on requests come only while a leadership moves). */
const MAX_MAPPED = 1_000;

export interface AnswerBackHost {
  /** The bus of `account`'s JetStream on this server. */
  busOf(account: string): JsBus | undefined;
  /** Sends `wire` to server `origin` on `ANSWER_BACK_PREFIX<origin>` (the system account). */
  sendTo(origin: string, wire: Uint8Array): void;
}

interface Mapped {
  readonly account: string;
  readonly reply: string;
  readonly origin: string;
  readonly bus: JsBus;
  readonly sid: number;
  readonly until: number;
}

export class AnswerBack {
  readonly #host: AnswerBackHost;
  /** Makes the mapped subjects unguessable: a client of the account cannot publish into someone's answer. */
  readonly #prefix = `$JSC.AB.${randomToken(12)}.`;
  #next = 0;
  readonly #mapped = new Map<string, Mapped>();

  constructor(host: AnswerBackHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#mapped.size;
  }

  /**
   * The subject to answer a passed-on request's (or publish's) `reply` on: `reply` itself when this server has
   * heard of it (answered by interest), else one mapped to reach the requester through `origin`.
   */
  replyFor(account: string, reply: string, origin: string, now: number): string {
    if (this.#host.busOf(account)?.hasInterest?.(reply) !== false) return reply;
    return this.map(account, reply, origin, now) ?? reply;
  }

  /**
   * The subject to answer `reply` on, so that the answer reaches the requester through `origin`; undefined when
   * the account has no bus here or too many are mapped (answered to `reply` as it is then).
   */
  map(account: string, reply: string, origin: string, now: number): string | undefined {
    const bus = this.#host.busOf(account);
    if (bus === undefined || this.#mapped.size >= MAX_MAPPED) return undefined;
    const subject = this.#prefix + String(this.#next++);
    const sid = bus.subscribe(subject, (m) => {
      const w = this.#mapped.get(subject);
      if (w === undefined) return;
      this.#forget(subject, w);
      // Heard here by now (its direct copy's interest came): answered as any answer; else through the origin.
      if (w.bus.hasInterest?.(w.reply) ?? true) w.bus.publish(w.reply, m.payload, { headers: m.headers });
      else this.#host.sendTo(w.origin, encodeForward(w.account, "", { subject: w.reply, payload: m.payload, headers: m.headers }));
    }, { local: true });
    this.#mapped.set(subject, { account, reply, origin, bus, sid, until: now + ANSWER_BACK_MS });
    return subject;
  }

  /** Gives up mapped replies not answered in time. */
  sweep(now: number): void {
    for (const [subject, w] of this.#mapped) if (now >= w.until) this.#forget(subject, w);
  }

  close(): void {
    for (const [subject, w] of this.#mapped) this.#forget(subject, w);
  }

  #forget(subject: string, w: Mapped): void {
    this.#mapped.delete(subject);
    w.bus.unsubscribe(w.sid);
  }
}

/** At the origin: an answer sent back here (`ANSWER_BACK_PREFIX<self>`) goes to its reply in its account. */
export function publishAnswerBack(wire: Uint8Array, busOf: (account: string) => JsBus | undefined): void {
  const f = decodeForward(wire);
  if (f === undefined) return;
  busOf(f.account)?.publish(f.msg.subject, f.msg.payload, { headers: f.msg.headers });
}
