/** Runs a RaftHost on real time: the only place the library touches a timer. */
import type { RaftHost } from "./host.ts";

/** Tick `host` every `tickMs` milliseconds until the returned function is called. */
export function runHost(host: RaftHost, tickMs = 50): () => void {
  const timer = setInterval(() => host.tick(), tickMs);
  return () => clearInterval(timer);
}
