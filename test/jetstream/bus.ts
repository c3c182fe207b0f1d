import { subjectMatches } from "../../src/subjects/subject.ts";
import type { BusMsg, JsBus, PublishOpts } from "../../src/jetstream/types.ts";

/** An in-process subject-matching bus with asynchronous delivery, standing in for the server in unit tests. */
export class TestBus implements JsBus {
  private next = 1;
  private readonly subs = new Map<number, { subject: string; handler: (m: BusMsg) => void; queue?: string }>();
  /** Deliveries queued and not yet run. */
  private queued = 0;

  subscribe(subject: string, handler: (m: BusMsg) => void, opts?: { queue?: string }): number {
    const sid = this.next++;
    this.subs.set(sid, { subject, handler, queue: opts?.queue });
    return sid;
  }
  unsubscribe(sid: number): void {
    this.subs.delete(sid);
  }
  hasInterest(subject: string): boolean {
    for (const s of this.subs.values()) if (subjectMatches(subject, s.subject)) return true;
    return false;
  }
  publish(subject: string, payload: Uint8Array, opts?: PublishOpts): void {
    const msg: BusMsg = { subject, payload, reply: opts?.reply, headers: opts?.headers };
    const to = opts?.deliverTo ?? subject;
    const targets = [...this.subs.values()].filter((s) => subjectMatches(to, s.subject));
    const queues = new Set<string>();
    for (const t of targets) {
      if (t.queue) {
        if (queues.has(t.queue)) continue;
        queues.add(t.queue);
      }
      this.queued++;
      queueMicrotask(() => {
        this.queued--;
        t.handler(msg);
      });
    }
  }

  /** Resolves once every delivery queued so far has run, and every delivery those handlers queued in turn. */
  async settled(): Promise<void> {
    while (this.queued > 0) await new Promise<void>((r) => queueMicrotask(r));
  }

  /** Request/reply with a unique inbox; resolves with the first reply. */
  request(subject: string, payload: Uint8Array | string, headers?: Uint8Array, timeoutMs = 2000): Promise<BusMsg> {
    const inbox = `_INBOX.${this.next++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.unsubscribe(sid);
        reject(new Error(`request ${subject} timed out`));
      }, timeoutMs);
      const sid = this.subscribe(inbox, (m) => {
        clearTimeout(timer);
        this.unsubscribe(sid);
        resolve(m);
      });
      const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
      this.publish(subject, data, { reply: inbox, headers });
    });
  }

  /** Collects messages on `subject` until `count` arrived or `timeoutMs` passed. */
  collect(subject: string, count: number, timeoutMs = 1000): { done: Promise<BusMsg[]>; sid: number } {
    const got: BusMsg[] = [];
    let resolveFn: (v: BusMsg[]) => void = () => {};
    const done = new Promise<BusMsg[]>((r) => (resolveFn = r));
    const timer = setTimeout(() => {
      this.unsubscribe(sid);
      resolveFn(got);
    }, timeoutMs);
    const sid = this.subscribe(subject, (m) => {
      got.push(m);
      if (got.length >= count) {
        clearTimeout(timer);
        this.unsubscribe(sid);
        resolveFn(got);
      }
    });
    return { done, sid };
  }
}

export async function api(bus: TestBus, subject: string, body: unknown = ""): Promise<Record<string, unknown>> {
  const m = await bus.request(subject, typeof body === "string" ? body : JSON.stringify(body));
  return JSON.parse(new TextDecoder().decode(m.payload)) as Record<string, unknown>;
}
