/**
 * Server-initiated PINGs, shared by client and route connections: one PING per interval, and a connection
 * with `max` PINGs unanswered is stale. A PONG measures the round trip.
 */
export class Keepalive {
  readonly #interval: number;
  readonly #max: number;
  readonly #sendPing: () => void;
  readonly #onStale: () => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #outstanding = 0;
  #sentAt = 0;
  rttMs = 0;

  constructor(interval: number, max: number, sendPing: () => void, onStale: () => void) {
    this.#interval = interval;
    this.#max = max;
    this.#sendPing = sendPing;
    this.#onStale = onStale;
  }

  start(): void {
    if (this.#interval > 0 && this.#timer === undefined) this.#timer = setInterval(() => this.#tick(), this.#interval);
  }

  #tick(): void {
    if (this.#outstanding + 1 > this.#max) {
      this.stop();
      this.#onStale();
      return;
    }
    this.#outstanding++;
    this.#sentAt = Date.now();
    this.#sendPing();
  }

  /** One PING now, outside the interval, to measure the round trip at once (a new gateway link). */
  pingNow(): void {
    this.#outstanding++;
    this.#sentAt = Date.now();
    this.#sendPing();
  }

  pong(): void {
    if (this.#sentAt > 0) this.rttMs = Date.now() - this.#sentAt;
    this.#outstanding = 0;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
