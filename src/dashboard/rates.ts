/**
 * Rates over time: the hub samples /varz's counters once a tick and keeps a bounded history of per-second
 * rates. Pure functions over an explicit state, so the arithmetic is tested without clocks.
 */
import type { RatePoint } from "./types.ts";

export interface Counters {
  t: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  connections: number;
  slow_consumers: number;
}

export interface RateState {
  readonly capacity: number;
  last: Counters | undefined;
  history: RatePoint[];
}

export function newRateState(capacity = 300): RateState {
  if (!(capacity > 0)) throw new Error(`rate history capacity must be positive, got ${capacity}`);
  return { capacity, last: undefined, history: [] };
}

/** Adds a sample; returns the new rate point (none for the first sample, or when time did not advance). */
export function addSample(st: RateState, c: Counters): RatePoint | undefined {
  const prev = st.last;
  st.last = c;
  if (prev === undefined || c.t <= prev.t) return undefined;
  const secs = (c.t - prev.t) / 1000;
  // Counters restart from zero only if the server did; a negative delta is shown as zero, never as a dip.
  const per = (a: number, b: number) => Math.max(0, a - b) / secs;
  const p: RatePoint = {
    t: c.t,
    in_msgs: per(c.in_msgs, prev.in_msgs),
    out_msgs: per(c.out_msgs, prev.out_msgs),
    in_bytes: per(c.in_bytes, prev.in_bytes),
    out_bytes: per(c.out_bytes, prev.out_bytes),
    connections: c.connections,
    slow_consumers: c.slow_consumers,
  };
  st.history.push(p);
  if (st.history.length > st.capacity) st.history.splice(0, st.history.length - st.capacity);
  return p;
}

/** Starts measuring afresh from `c` when the last sample is older than `maxAgeMs` (nobody watched meanwhile). */
export function rebaseIfStale(st: RateState, c: Counters, maxAgeMs: number): void {
  if (st.last === undefined || c.t - st.last.t > maxAgeMs) st.last = c;
}
