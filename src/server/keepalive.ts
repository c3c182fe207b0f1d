/**
 * Server-initiated PINGs, shared by client and route connections: one PING per interval, and a connection
 * with `max` PINGs unanswered is stale. A PONG measures the round trip.
 */
import type { Clock, Timer } from "../runtime/clock.ts";
import { lightRuntimeClock } from "../runtime/light_timers.ts";

export class Keepalive {
  readonly #interval: number;
  readonly #max: number;
  readonly #sendPing: () => void;
  readonly #onStale: () => void;
  readonly #clock: Clock;
  #timer: Timer | undefined;
  #outstanding = 0;
  #sentAt = 0;
  rttMs = 0;

  /**
   * `clock`: times the interval and the round trip (tests inject a ManualClock). One PING timer per connection,
   * alive while the server idles: a light timer by default (see light_timers.ts).
   */
  constructor(interval: number, max: number, sendPing: () => void, onStale: () => void, clock: Clock = lightRuntimeClock) {
    this.#interval = interval;
    this.#max = max;
    this.#sendPing = sendPing;
    this.#onStale = onStale;
    this.#clock = clock;
  }

  start(): void {
    if (this.#interval > 0 && this.#timer === undefined) this.#arm();
  }

  #arm(): void {
    this.#timer = this.#clock.after(this.#interval, () => this.#tick());
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#outstanding + 1 > this.#max) {
      this.stop();
      this.#onStale();
      return;
    }
    this.#outstanding++;
    this.#sentAt = this.#clock.now();
    this.#arm();
    this.#sendPing();
  }

  /** One PING now, outside the interval, to measure the round trip at once (a new gateway link). */
  pingNow(): void {
    this.#outstanding++;
    this.#sentAt = this.#clock.now();
    this.#sendPing();
  }

  pong(): void {
    if (this.#sentAt > 0) this.rttMs = this.#clock.now() - this.#sentAt;
    this.#outstanding = 0;
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
