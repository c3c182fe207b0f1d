/**
 * Next turns of the event loop on one MessageChannel (the Deno adapter's Clock.soon for light clocks; see
 * src/runtime/light_timers.ts useTurnPrimitive). Why: Deno's setImmediate is Node's timer layer, loaded for the life
 * of the process at its first call (+3.5-4 MB in a bare script); a shared channel costs +1.0-1.4 MB once and ~8 us a
 * turn, while a light timer's ~1-2 ms instead of a turn cost a Deno cluster-pubsub-1k a fifth of its rate (a route
 * reader replaying after a stall; bench/RESULTS.md `denotimers2`).
 *
 * A port with a listener keeps Deno's process alive until it is closed (there is no public unref), and a channel
 * per turn costs ~35 us and memory that is not returned: one channel serves every turn while turns come, and is
 * closed once a whole second passed without one (the next turn opens another). A process that stopped its servers
 * exits at most ~2 s later than it would have.
 */
import type { Timer } from "../../src/runtime/clock.ts";
import { lightTimeout, type TurnPrimitive } from "../../src/runtime/light_timers.ts";

interface Turn {
  fn: () => void;
  live: boolean;
}

/** How long a channel stays open without a turn. */
const IDLE_CLOSE_MS = 1000;

export function messageChannelTurns(): TurnPrimitive {
  let channel: MessageChannel | undefined;
  let queue: Turn[] = [];
  /** A turn was asked for since the last idle check. */
  let used = false;
  let idleCheck: Timer | undefined;

  const run = () => {
    const due = queue;
    queue = [];
    for (const t of due) {
      if (!t.live) continue;
      t.live = false;
      try {
        t.fn();
      } catch (err) {
        // As a runtime's setImmediate would: the error surfaces, the other turns still run.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  };

  const checkIdle = () => {
    idleCheck = undefined;
    if (used || queue.length > 0) {
      used = false;
      idleCheck = lightTimeout(IDLE_CLOSE_MS, checkIdle);
      return;
    }
    channel?.port1.close();
    channel?.port2.close();
    channel = undefined;
  };

  return (fn) => {
    const t: Turn = { fn, live: true };
    queue.push(t);
    used = true;
    if (queue.length === 1) {
      if (channel === undefined) {
        channel = new MessageChannel();
        channel.port1.onmessage = run;
      }
      channel.port2.postMessage(null);
    }
    idleCheck ??= lightTimeout(IDLE_CLOSE_MS, checkIdle);
    return { cancel: () => void (t.live = false) };
  };
}
