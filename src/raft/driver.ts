/**
 * Runs a RaftHost on real time: the only place the library touches a timer. A light interval: on Deno a runtime
 * setInterval loads Node's timer layer for the life of the process (src/runtime/light_timers.ts); it does not keep
 * the process alive, the server that hosts the groups does.
 */
import type { RaftHost } from "./host.ts";
import { lightInterval } from "../runtime/light_timers.ts";

/** Tick `host` every `tickMs` milliseconds until the returned function is called. */
export function runHost(host: RaftHost, tickMs = 50): () => void {
  const timer = lightInterval(tickMs, () => host.tick());
  return () => timer.cancel();
}
