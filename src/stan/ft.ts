/**
 * NATS Streaming's fault-tolerance mode (`ft_group`): several servers share one store and one group name;
 * exactly one is active (it holds the store's lock), the others stand by without serving STAN. The active
 * server publishes a heartbeat on the FT subject every `interval`; a standby that hears none for `missedAfter`
 * tries to take the store lock, and the one that gets it activates (loads the store and starts serving). The
 * lock, the bus and the activation are injected: the lock is a file (adapters/storage/store_lock.ts).
 */
import type { Clock, Timer } from "../runtime/clock.ts";

/** nats-streaming-server's prefix; the subject carries the cluster ID and the group name. */
export const FT_SUBJECT_PREFIX = "_STAN.ft";
export const FT_HB_INTERVAL = 1_000;

export function ftSubject(clusterId: string, group: string): string {
  return `${FT_SUBJECT_PREFIX}.${clusterId}.${group}`;
}

export interface FtDeps {
  subject: string;
  /** This server's identity in heartbeats (its own heartbeats are not evidence of another active). */
  id: string;
  clock: Clock;
  /** ms between the active's heartbeats; a standby waits `missedAfter` ms of silence before trying the lock. */
  interval: number;
  missedAfter: number;
  subscribe(subject: string, handler: (payload: Uint8Array) => void): () => void;
  publish(subject: string, payload: Uint8Array): void;
  /** Takes the store lock; false while another server holds it. */
  tryLock(): boolean;
  /** Keeps the held lock fresh; false if it was lost. */
  refreshLock(): boolean;
  releaseLock(): void;
  /** Loads the store and starts serving; a rejection releases the lock and returns to standby. */
  activate(): Promise<void>;
  /** Stops serving after the lock was lost. */
  deactivate(): Promise<void>;
  log(msg: string): void;
}

export type FtState = "standby" | "activating" | "active" | "stopped";

export interface FtCoordinator {
  readonly state: FtState;
  stop(): void;
}

export function startFaultTolerance(d: FtDeps): FtCoordinator {
  let state: FtState = "standby";
  let lastHeard = d.clock.now();
  let timer: Timer | undefined;
  const me = new TextEncoder().encode(d.id);
  const decoder = new TextDecoder();
  const unsubscribe = d.subscribe(d.subject, (payload) => {
    if (decoder.decode(payload) !== d.id) lastHeard = d.clock.now();
  });

  const schedule = () => {
    if (state !== "stopped") timer = d.clock.after(state === "active" ? d.interval : Math.min(d.interval, d.missedAfter) / 2, tick);
  };
  const tick = () => {
    if (state === "active") {
      if (!d.refreshLock()) {
        d.log(`STAN: fault tolerance: the store lock was lost, standing by`);
        state = "standby";
        lastHeard = d.clock.now();
        void d.deactivate();
      } else {
        d.publish(d.subject, me);
      }
    } else if (state === "standby" && d.clock.now() - lastHeard >= d.missedAfter && d.tryLock()) {
      state = "activating";
      d.log(`STAN: fault tolerance: got the store lock, activating`);
      d.activate().then(() => {
        if (state !== "activating") return;
        state = "active";
        d.publish(d.subject, me);
      }, (err) => {
        d.log(`STAN: fault tolerance: activation failed: ${err instanceof Error ? err.message : String(err)}`);
        d.releaseLock();
        if (state === "activating") {
          state = "standby";
          lastHeard = d.clock.now();
        }
      });
    }
    schedule();
  };
  d.log(`STAN: fault tolerance: standing by in group "${d.subject}"`);
  schedule();
  return {
    get state() {
      return state;
    },
    stop() {
      if (state === "stopped") return;
      state = "stopped";
      timer?.cancel();
      unsubscribe();
    },
  };
}
