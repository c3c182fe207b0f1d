/**
 * Superclusters: which cluster a stream create came from. nats-server places a stream without
 * `placement.cluster` in the cluster of the server its client is connected to. Every JetStream server hears
 * every API request (over routes and gateways), but only the client's own server hears it from a local
 * connection: that server notes its cluster on `$JSC.ORIGIN` (keyed by the request's reply subject), and the
 * meta leader, when the request reached it over a route or gateway, waits (bounded) for the note. A request
 * whose server runs no JetStream never gets a note: the wait ends and the caller picks a default.
 */

export const ORIGIN_SUBJECT = "$JSC.ORIGIN";
/** How long the meta leader waits for the note of a request that crossed a route or gateway. */
export const ORIGIN_WAIT_MS = 500;
/** Notes nobody asked for are dropped after this long (requests the meta leader never saw, or answered). */
const KEEP_MS = 5_000;

export interface OriginNote {
  readonly reply: string;
  readonly cluster: string;
}

export function encodeOrigin(n: OriginNote): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(n));
}

export function decodeOrigin(b: Uint8Array): OriginNote | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(b)) as Partial<OriginNote>;
    if (typeof v?.reply !== "string" || typeof v.cluster !== "string" || v.reply === "") return undefined;
    return { reply: v.reply, cluster: v.cluster };
  } catch {
    return undefined;
  }
}

/** Notes heard and requests waiting for theirs; driven by the caller's clock (`sweep` on its tick). */
export class OriginNotes {
  readonly #notes = new Map<string, { cluster: string; at: number }>();
  readonly #waiting = new Map<string, { deadline: number; done: (cluster: string | undefined) => void }>();

  note(n: OriginNote, now: number): void {
    const w = this.#waiting.get(n.reply);
    if (w) {
      this.#waiting.delete(n.reply);
      w.done(n.cluster);
      return;
    }
    this.#notes.set(n.reply, { cluster: n.cluster, at: now });
  }

  /** Calls `done` with the origin cluster of the request answered on `reply` once known, or undefined at the deadline. */
  wait(reply: string, now: number, done: (cluster: string | undefined) => void): void {
    const n = this.#notes.get(reply);
    if (n) {
      this.#notes.delete(reply);
      done(n.cluster);
      return;
    }
    this.#waiting.get(reply)?.done(undefined);
    this.#waiting.set(reply, { deadline: now + ORIGIN_WAIT_MS, done });
  }

  sweep(now: number): void {
    for (const [reply, w] of this.#waiting) {
      if (now < w.deadline) continue;
      this.#waiting.delete(reply);
      w.done(undefined);
    }
    for (const [reply, n] of this.#notes) if (now - n.at > KEEP_MS) this.#notes.delete(reply);
  }
}
