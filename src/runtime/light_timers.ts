/**
 * Timers for what runs while a server idles (housekeeping, the system heartbeats, keepalive PINGs, a closing
 * socket's linger), driven by `AbortSignal.timeout`, a web API both runtimes implement on their own timers.
 *
 * Why: on Deno 2.9 the global setTimeout/setInterval are Node's timers, and the first one loads Node's timer
 * layer: +3.3 MB RSS for the life of the process (an idle plain server 48 -> 45 MB). `AbortSignal.timeout` costs
 * nothing of the kind, but cannot be cancelled, so every timer here lives in one deadline heap and only the
 * earliest deadline has a signal armed: cancelling takes the entry out of the heap at once (a connection that
 * closes leaves nothing pending behind it but, at most, a signal that fires and finds nothing due).
 *
 * For low-rate timers (a few per connection's life), not per message: each add/cancel is O(log n) here, and a
 * new earliest deadline arms another signal. A signal does not keep the process alive (it is unref'd): a
 * server's listener does. A runtime whose own one-shot timer is cheaper offers it with `useTimerPrimitive` (Bun:
 * its native setTimeout; AbortSignal's event plumbing there is +0.5 MB idle).
 */
import { type Clock, runtimeClock, type Timer } from "./clock.ts";

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  /** Position in the heap; -1 once run or cancelled. */
  index: number;
}

/** Calls `fn` once, `ms` from now, without keeping the process alive; cannot be cancelled. */
export type TimerPrimitive = (ms: number, fn: () => void) => void;

let primitive: TimerPrimitive = (ms, fn) => AbortSignal.timeout(ms).addEventListener("abort", fn);

/** The runtime adapter's cheaper one-shot timer (it must not keep the process alive). */
export function useTimerPrimitive(p: TimerPrimitive): void {
  primitive = p;
}

/** A diagnostic's wrapper of each timer's function (adapters/runtime/stall_recorder.ts times them); none by default. */
let wrapFn: ((fn: () => void) => () => void) | undefined;

export function wrapLightTimers(wrap: ((fn: () => void) => () => void) | undefined): void {
  wrapFn = wrap;
}

const heap: Entry[] = [];
let seq = 0;
/** The deadline the armed signal fires at (Infinity: none armed). */
let armedAt = Infinity;

// Entries are compared and placed inline (earlier `at`, then lower `seq`; `heap[i] = e; e.index = i`), with no
// helper, and a timer set while timers fire is armed once after them: this runs on every timer of an idle server,
// and a function called ~34 times gets compiled by Bun's baseline JIT, code that then stays resident (+1 MB).

function up(i: number): void {
  const e = heap[i];
  while (i > 0) {
    const p = (i - 1) >> 1;
    const q = heap[p];
    if (!(e.at < q.at || (e.at === q.at && e.seq < q.seq))) break;
    heap[i] = q;
    q.index = i;
    i = p;
  }
  heap[i] = e;
  e.index = i;
}

function down(i: number): void {
  const e = heap[i];
  const n = heap.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const hl = heap[l];
    const hr = r < n ? heap[r] : undefined;
    const c = hr !== undefined && (hr.at < hl.at || (hr.at === hl.at && hr.seq < hl.seq)) ? r : l;
    const q = heap[c];
    if (!(q.at < e.at || (q.at === e.at && q.seq < e.seq))) break;
    heap[i] = q;
    q.index = i;
    i = c;
  }
  heap[i] = e;
  e.index = i;
}

function remove(e: Entry): void {
  const i = e.index;
  if (i < 0) return;
  e.index = -1;
  const last = heap.pop() as Entry;
  if (last === e) return;
  heap[i] = last;
  last.index = i;
  // Only one of the two moves it: up when it is earlier than its new parent, else down.
  const p = i > 0 ? heap[(i - 1) >> 1] : undefined;
  if (p !== undefined && (last.at < p.at || (last.at === p.at && last.seq < p.seq))) up(i);
  else down(i);
}

function arm(): void {
  if (heap.length === 0) return;
  const at = heap[0].at;
  if (at >= armedAt) return;
  armedAt = at;
  primitive(Math.max(1, at - performance.now()), () => fire(at));
}

/** Timers are firing: one set meanwhile is armed by fire() once they are done. */
let firing = false;

function fire(at: number): void {
  if (at === armedAt) armedAt = Infinity;
  const now = performance.now();
  firing = true;
  while (heap.length > 0 && heap[0].at <= now) {
    const e = heap[0];
    remove(e);
    try {
      e.fn();
    } catch (err) {
      // As a runtime timer would: the error surfaces, the other timers still run.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
  firing = false;
  arm();
}

/** Calls `fn` once, `ms` from now (at least 1 ms). */
export function lightTimeout(ms: number, fn: () => void): Timer {
  const e: Entry = { at: performance.now() + Math.max(1, ms), seq: seq++, fn: wrapFn === undefined ? fn : wrapFn(fn), index: -1 };
  heap.push(e);
  up(heap.length - 1);
  if (!firing) arm();
  return { cancel: () => remove(e) };
}

/** Calls `fn` every `ms` until cancelled (each run scheduled from the end of the one before). */
export function lightInterval(ms: number, fn: () => void): Timer {
  let current: Timer | undefined;
  let live = true;
  const tick = () => {
    if (!live) return;
    current = lightTimeout(ms, tick);
    fn();
  };
  current = lightTimeout(ms, tick);
  return {
    cancel: () => {
      live = false;
      current?.cancel();
    },
  };
}

/** How many timers are scheduled (tests). */
export function lightTimersPending(): number {
  return heap.length;
}

/** Calls `fn` once on a later turn of the event loop (Clock.soon), without keeping the process alive. */
export type TurnPrimitive = (fn: () => void) => Timer;

let turn: TurnPrimitive | undefined;

/**
 * The runtime adapter's next turn where the runtime's own costs more than a timer's minimum delay is worth (Deno:
 * its setImmediate is Node's timer layer; adapters/runtime/deno.ts). Undefined: the runtime clock's `soon`.
 */
export function useTurnPrimitive(p: TurnPrimitive | undefined): void {
  turn = p;
}

/** Clock.soon on the adapter's turn primitive (see useTurnPrimitive). */
export function lightSoon(fn: () => void): Timer {
  return turn !== undefined ? turn(fn) : runtimeClock.soon(fn);
}

/**
 * A Clock whose timers are light ones and whose `soon` is lightSoon; time read from `base`. For what runs while a
 * server idles or only after something held back (keepalives, handshake deadlines, the input gate's stalls).
 */
export function lightClock(base: Clock): Clock {
  return { now: () => base.now(), after: lightTimeout, soon: lightSoon };
}

/** The runtime's time with light timers (lightClock of runtimeClock). */
export const lightRuntimeClock: Clock = lightClock(runtimeClock);
