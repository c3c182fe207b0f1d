/**
 * "Every peer has read what I sent it": a barrier over this server's routes. A subscription made here reaches
 * the cluster's other servers as RS+, and each of them passes it on to the gateways it accepted (other
 * clusters learn this cluster's interest from whichever server they dialed). A message this server then sends
 * straight to another cluster (a JetStream delivery to a `_GR_.` reply, an API answer) can overtake that
 * RS+, which crosses two links, and the answer to it (an ack) then finds no interest over there. Waiting for
 * this barrier first keeps the order: each peer's PONG comes after it read the RS+ and queued it on.
 */

import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

/** A link whose peer answers every PING in order (see WireConn.afterPeerRead). */
export interface ReadableLink {
  afterPeerRead(done: () => void): void;
}

/**
 * Calls `done` once (asynchronously) when every link's peer has read what was queued for it before this call,
 * or after `capMs` whatever is still unanswered (a peer that stopped answering is found stale by its PINGs;
 * the caller then goes on without the guarantee rather than stall).
 */
export function afterAllRead(links: Iterable<ReadableLink>, capMs: number, done: () => void): void {
  let left = 1;
  // A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (light_timers.ts).
  let timer: Timer | undefined;
  const one = () => {
    if (left <= 0 || --left > 0) return;
    timer?.cancel();
    done();
  };
  for (const l of links) {
    left++;
    l.afterPeerRead(one);
  }
  if (left > 1) timer = lightTimeout(capMs, () => {
    left = 1;
    one();
  });
  queueMicrotask(one);
}
